"""Batch sampling per task.

Unlabelled tasks (retrieval, pairwise) take batches without duplicate texts: a repeated positive
would be scored as a negative of its own anchor. Labelled tasks take plain random batches: a
repeated text carries the same label, which the label-aware loss already masks, while duplicate
avoidance would starve them (a category name shared by many rows allows only a few batches).
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import RandomSampler

from wb_embedder.training.data import LABEL


def _random_batches(
    dataset: Any,
    batch_size: int,
    drop_last: bool,
    valid_label_columns: list[str] | None = None,
    generator: Any = None,
    seed: int = 0,
) -> Any:
    from wb_embedder.training.compat import DefaultBatchSampler

    return DefaultBatchSampler(
        RandomSampler(dataset, generator=generator),
        batch_size=batch_size,
        drop_last=drop_last,
        valid_label_columns=valid_label_columns,
        generator=generator,
        seed=seed,
    )


def no_duplicates_unless_labelled(
    dataset: Any,
    batch_size: int,
    drop_last: bool,
    valid_label_columns: list[str] | None = None,
    generator: Any = None,
    seed: int = 0,
) -> Any:
    """The trainer calls this once per task dataset (``batch_sampler`` accepts a callable)."""
    if LABEL in dataset.column_names:
        return _random_batches(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
    from wb_embedder.training.compat import NoDuplicatesBatchSampler

    return NoDuplicatesBatchSampler(
        dataset,
        batch_size=batch_size,
        drop_last=drop_last,
        valid_label_columns=valid_label_columns,
        generator=generator,
        seed=seed,
    )


def random_batches(
    dataset: Any,
    batch_size: int,
    drop_last: bool,
    valid_label_columns: list[str] | None = None,
    generator: Any = None,
    seed: int = 0,
) -> Any:
    return _random_batches(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
