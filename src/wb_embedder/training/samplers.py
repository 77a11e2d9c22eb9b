"""Batch sampling per task.

Unlabelled tasks (retrieval, pairwise) take batches without duplicate texts: a repeated positive
would be scored as a negative of its own anchor. Labelled tasks take plain random batches: a
repeated text carries the same label, which the label-aware loss already masks, while duplicate
avoidance would starve them (a category name shared by many rows allows only a few batches).

Across tasks, the library's multi-dataset samplers pick each batch's task; with SimCSE on,
:class:`SimcseSchedule` puts SimCSE's batches among theirs, or before them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import ConcatDataset, RandomSampler

from wb_embedder.training.compat import DefaultBatchSampler, MultiDatasetDefaultBatchSampler, NoDuplicatesBatchSampler
from wb_embedder.training.data import LABEL
from wb_embedder.training.errors import FinetuneError


def _random_batches(
    dataset: Any,
    batch_size: int,
    drop_last: bool,
    valid_label_columns: list[str] | None = None,
    generator: Any = None,
    seed: int = 0,
) -> Any:
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


class SimcseSchedule(MultiDatasetDefaultBatchSampler):
    """The run's batches with SimCSE's put in (finetune.simcse): the supervised datasets' batches
    as their own multi-dataset sampler draws them (round-robin or proportional), ``supervised``
    of them, and ``simcse`` batches of the last dataset (SimCSE's), either all first
    (``first_phase``) or spread evenly among the others (``mixed``). Exactly ``supervised +
    simcse`` batches, one per optimizer step, whatever the dataset sizes: a source that runs out
    starts again, reshuffled (the library's samplers reshuffle per epoch). The trainer builds it
    through ``multi_dataset_batch_sampler`` (this class bound with functools.partial, which pickles
    with the training arguments); a resumed run rebuilds it with the same seed and skips the
    batches already trained, as it does for any sampler."""

    def __init__(
        self,
        dataset: Any,
        batch_samplers: list[Any],
        generator: Any = None,
        seed: int = 0,
        *,
        supervised_sampler: Any,
        supervised: int,
        simcse: int,
        first_phase: bool,
    ) -> None:
        super().__init__(dataset, batch_samplers, generator, seed)
        *datasets, _ = dataset.datasets
        # The supervised datasets come first in the ConcatDataset: their indices need no shift.
        self._supervised = supervised_sampler(ConcatDataset(datasets), batch_samplers[:-1], generator, seed)
        self._simcse = batch_samplers[-1]
        self._simcse_offset = sum(len(d) for d in datasets)
        self._total = supervised + simcse
        if first_phase:
            self.simcse_steps = frozenset(range(simcse))
        else:
            # Evenly spaced: the i-th SimCSE batch at step floor((i + 1/2) * total / simcse).
            self.simcse_steps = frozenset((2 * i + 1) * self._total // (2 * simcse) for i in range(simcse))

    def __len__(self) -> int:
        return self._total

    @staticmethod
    def _endless(sampler: Any, first_epoch: int, offset: int, what: str) -> Iterator[list[int]]:
        epoch = first_epoch
        while True:
            sampler.set_epoch(epoch)
            empty = True
            for batch in sampler:
                empty = False
                yield [index + offset for index in batch]
            if empty:
                raise FinetuneError(f"{what} yields no batch of finetune.batch_size (lower it, or set drop_last: false)")
            epoch += 1

    def __iter__(self) -> Iterator[list[int]]:
        # Each source's epochs count on from the run's: a source's second pass is reshuffled.
        supervised = self._endless(self._supervised, self.epoch, 0, "the supervised data")
        simcse = self._endless(self._simcse, self.epoch, self._simcse_offset, "the unsupervised data")
        for step in range(self._total):
            yield next(simcse if step in self.simcse_steps else supervised)
