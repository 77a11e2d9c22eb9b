"""Import locations across sentence-transformers majors.

The offline pipeline runs on sentence-transformers 6.x (losses under
``sentence_transformers.sentence_transformer.losses``, samplers under ``...base.sampler``). The
GPU profile for Giga-Embeddings-instruct needs the model's own pins (transformers 4.51,
sentence-transformers 5.1), whose modules sit at the older top-level paths; those paths still
work on 6.x but warn, so the new ones are tried first.
"""

from __future__ import annotations

from typing import Any

try:  # sentence-transformers >= 6
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
except ImportError:  # sentence-transformers 5.x
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers

__all__ = [
    "BatchSamplers",
    "CachedMultipleNegativesRankingLoss",
    "MatryoshkaLoss",
    "MultiDatasetBatchSamplers",
    "MultipleNegativesRankingLoss",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "backbone",
    "embedding_dimension",
    "warmup_kwargs",
]


def backbone(model: Any) -> Any:
    """The transformers model inside a SentenceTransformer (``transformers_model`` on 6.x)."""
    found = getattr(model, "transformers_model", None)
    return found if found is not None else getattr(model[0], "auto_model", None)


def embedding_dimension(model: Any) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def warmup_kwargs(ratio: float) -> dict[str, float]:
    """transformers 5 takes a float ``warmup_steps`` as a ratio and deprecates ``warmup_ratio``."""
    import transformers

    major = int(transformers.__version__.split(".", 1)[0])
    return {"warmup_steps": ratio} if major >= 5 else {"warmup_ratio": ratio}
