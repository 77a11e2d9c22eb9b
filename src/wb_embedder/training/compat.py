"""Import locations and names across sentence-transformers / transformers majors.

The offline pipeline runs on sentence-transformers 6.x with transformers 5 (requirements.txt;
losses under ``sentence_transformers.sentence_transformer.losses``, samplers under
``...base.sampler``). The GPU stack for Giga-Embeddings-instruct (requirements-gpu.txt) has the
model's own pins, sentence-transformers 5.1 with transformers 4.51, whose modules sit at the older
top-level paths; those paths still work on 6.x but warn, so the new ones are tried first. CI runs
the training, evaluation and mining tests under both stacks. Nothing else in the project imports a
version-specific path: add it here.
"""

from __future__ import annotations

from typing import Any

try:  # sentence-transformers >= 6
    from sentence_transformers.base.sampler import (
        BatchSamplers,
        DefaultBatchSampler,
        MultiDatasetBatchSamplers,
        NoDuplicatesBatchSampler,
    )
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
except ImportError:  # sentence-transformers 5.x
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from sentence_transformers.sampler import DefaultBatchSampler, NoDuplicatesBatchSampler
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers
# The same path on both majors; imported here so that callers have one place to look.
from sentence_transformers.util import all_gather, all_gather_with_grad

__all__ = [
    "BatchSamplers",
    "CachedMultipleNegativesRankingLoss",
    "DefaultBatchSampler",
    "MatryoshkaLoss",
    "MultiDatasetBatchSamplers",
    "MultipleNegativesRankingLoss",
    "NoDuplicatesBatchSampler",
    "Normalize",
    "Pooling",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "Transformer",
    "all_gather",
    "all_gather_with_grad",
    "backbone",
    "embedding_dimension",
    "get_rank",
    "token_embedding_dimension",
    "warmup_kwargs",
]


def backbone(model: Any) -> Any:
    """The transformers model inside a SentenceTransformer (``transformers_model`` on 6.x)."""
    found = getattr(model, "transformers_model", None)
    return found if found is not None else getattr(model[0], "auto_model", None)


def embedding_dimension(model: Any) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def token_embedding_dimension(transformer: Any) -> int:
    """A Transformer module's token-embedding size (``get_word_embedding_dimension`` on 5.x)."""
    getter = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    return getter()


def get_rank() -> int:
    """This process's rank in the default process group, 0 outside one (sentence-transformers 5.x
    has no ``util.get_rank``)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def warmup_kwargs(ratio: float) -> dict[str, float]:
    """transformers 5 takes a float ``warmup_steps`` as a ratio and deprecates ``warmup_ratio``."""
    import transformers

    major = int(transformers.__version__.split(".", 1)[0])
    return {"warmup_steps": ratio} if major >= 5 else {"warmup_ratio": ratio}
