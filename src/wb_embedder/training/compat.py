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
    from sentence_transformers.base.model_card import BaseModelCardCallback as ModelCardCallback
    from sentence_transformers.base.sampler import (
        BatchSamplers,
        DefaultBatchSampler,
        MultiDatasetBatchSamplers,
        MultiDatasetDefaultBatchSampler,
        NoDuplicatesBatchSampler,
        ProportionalBatchSampler,
        RoundRobinBatchSampler,
    )
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
        TripletDistanceMetric,
        TripletLoss,
    )
    from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
except ImportError:  # sentence-transformers 5.x
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
        TripletDistanceMetric,
        TripletLoss,
    )
    # 5.x's ModelCardCallback is a deprecated subclass; the trainer adds the class below.
    from sentence_transformers.model_card import SentenceTransformerModelCardCallback as ModelCardCallback
    from sentence_transformers.model_card import SentenceTransformerModelCardData
    from sentence_transformers.models import Dense, Normalize, Pooling, Transformer
    from sentence_transformers.sampler import (
        DefaultBatchSampler,
        MultiDatasetDefaultBatchSampler,
        NoDuplicatesBatchSampler,
        ProportionalBatchSampler,
        RoundRobinBatchSampler,
    )
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers
# The same path on both majors; imported here so that callers have one place to look.
from sentence_transformers.util import all_gather, all_gather_with_grad

__all__ = [
    "BatchSamplers",
    "CachedMultipleNegativesRankingLoss",
    "DefaultBatchSampler",
    "Dense",
    "MatryoshkaLoss",
    "ModelCardCallback",
    "MultiDatasetBatchSamplers",
    "MultiDatasetDefaultBatchSampler",
    "MultipleNegativesRankingLoss",
    "NoDuplicatesBatchSampler",
    "Normalize",
    "Pooling",
    "ProportionalBatchSampler",
    "RoundRobinBatchSampler",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "Transformer",
    "TripletDistanceMetric",
    "TripletLoss",
    "all_gather",
    "all_gather_with_grad",
    "backbone",
    "checkpointing_kwargs",
    "distributed_initialized",
    "embedding_dimension",
    "get_rank",
    "mine_hard_negatives_scored",
    "token_embedding_dimension",
    "transformer_module",
    "unimplemented_attention",
    "warmup_kwargs",
]


def backbone(model: Any) -> Any:
    """The transformers model inside a SentenceTransformer (``transformers_model`` on 6.x)."""
    found = getattr(model, "transformers_model", None)
    return found if found is not None else getattr(model[0], "auto_model", None)


def embedding_dimension(model: Any) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def transformer_module(path: str, max_seq_length: int, model_kwargs: dict[str, Any] | None = None) -> Any:
    """A sentence-transformers Transformer module; ``model_kwargs`` go to ``from_pretrained``
    (named ``model_args`` on 5.x)."""
    import inspect

    name = "model_kwargs" if "model_kwargs" in inspect.signature(Transformer.__init__).parameters else "model_args"
    return Transformer(path, max_seq_length=max_seq_length, **{name: dict(model_kwargs or {})})


def token_embedding_dimension(transformer: Any) -> int:
    """A Transformer module's token-embedding size (``get_word_embedding_dimension`` on 5.x)."""
    getter = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    return getter()


def distributed_initialized() -> bool:
    """Whether this process belongs to an initialised torch.distributed process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank in the default process group, 0 outside one (sentence-transformers 5.x
    has no ``util.get_rank``)."""
    import torch.distributed as dist

    return dist.get_rank() if distributed_initialized() else 0


def mine_hard_negatives_scored(dataset: Any, model: Any, **kwargs: Any) -> Any:
    """``util.mine_hard_negatives`` with ``output_format="labeled-list"`` and a ``scores`` column
    (the anchor's similarity to each listed text, positive first), as a pandas frame.
    sentence-transformers 6 scores in the miner (``output_scores``); 5.x has no such option, so the
    listed texts are scored here the way its miner scores them (normalised embeddings, the
    model's similarity, the same prompts)."""
    import inspect

    from sentence_transformers.util import mine_hard_negatives

    kwargs = {**kwargs, "output_format": "labeled-list"}
    if "output_scores" in inspect.signature(mine_hard_negatives).parameters:
        return mine_hard_negatives(dataset, model, output_scores=True, **kwargs).to_pandas()
    # 5.x asks torch.topk for range_max + (positives per anchor) candidates and fails when the
    # (de-duplicated) corpus is smaller; 6.x caps the window at the corpus.
    anchors_column, positives_column = dataset.column_names[:2]
    per_anchor = dataset.to_pandas().groupby(anchors_column)[positives_column].count().max()
    corpus_size = len(dict.fromkeys(list(kwargs.get("corpus") or []) + list(dataset[positives_column])))
    if kwargs.get("range_max") is not None:
        kwargs["range_max"] = min(kwargs["range_max"], corpus_size - int(per_anchor))
        room = kwargs["range_max"] - kwargs.get("range_min", 0)
        kwargs["num_negatives"] = max(1, min(kwargs.get("num_negatives", 3), room))
    frame = mine_hard_negatives(dataset, model, **kwargs).to_pandas()
    if frame.empty:
        frame["scores"] = []
        return frame
    encode = {"batch_size": kwargs.get("batch_size", 32), "normalize_embeddings": True, "convert_to_tensor": True,
              "show_progress_bar": False}
    anchors = model.encode(frame["anchor"].tolist(), prompt=kwargs.get("query_prompt"), **encode)
    texts = sorted({t for listed in frame["positive"] for t in listed})
    where = {t: i for i, t in enumerate(texts)}
    documents = model.encode(texts, prompt=kwargs.get("corpus_prompt"), **encode)
    frame["scores"] = [
        model.similarity(anchors[i : i + 1], documents[[where[t] for t in listed]])[0].tolist()
        for i, listed in enumerate(frame["positive"])
    ]
    return frame


def checkpointing_kwargs(enabled: bool) -> dict[str, bool]:
    """transformers 5 renamed ``gradient_checkpointing`` to ``activation_checkpointing`` (the old
    name still works but warns with a FutureWarning); 4.x knows only the old name."""
    from dataclasses import fields

    names = {f.name for f in fields(SentenceTransformerTrainingArguments)}
    name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {name: enabled}


def warmup_kwargs(ratio: float) -> dict[str, float]:
    """transformers 5 takes a float ``warmup_steps`` as a ratio and deprecates ``warmup_ratio``."""
    import transformers

    major = int(transformers.__version__.split(".", 1)[0])
    return {"warmup_steps": ratio} if major >= 5 else {"warmup_ratio": ratio}


def unimplemented_attention(model: Any) -> str | None:
    """Why the installed transformers would run this model other than its config says, or None.

    EmbeddingGemma's config asks for bidirectional attention (``use_bidirectional_attention``), a
    switch transformers' Gemma 3 learnt in 4.56: the GPU stack's 4.51 keeps the unknown key as a
    plain attribute and runs the model causal, every embedding silently wrong. Only transformers'
    own config classes are judged (a model's remote code implements what its config says)."""
    import inspect

    import transformers

    found = backbone(model)
    config = getattr(found, "config", None)
    config = getattr(config, "text_config", None) or config
    if not getattr(config, "use_bidirectional_attention", False) or not type(config).__module__.startswith("transformers."):
        return None
    if "use_bidirectional_attention" in inspect.signature(type(config).__init__).parameters:
        return None
    return (
        f"its {type(config).__name__} asks for bidirectional attention (use_bidirectional_attention), which "
        f"transformers {transformers.__version__} does not implement: it would embed with causal attention, silently "
        "wrong; use the main stack (pip install -r requirements.txt)"
    )
