"""Percentile bootstrap of a benchmark's headline metric, one system alone or two paired.

The unit resampled is the item the metric averages over: the query (retrieval; each view of a
multi-view benchmark resampled on its own, the headline being the mean of the views) or the test
example (classification; its predictions in every experiment travel with it, so accuracy and
macro-F1 are recomputed per resample exactly as the metric itself is). Paired comparisons draw the
*same* items for both systems, so per-item difficulty cancels and the interval of the difference
is much tighter than the two intervals side by side; "significant" means that interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wb_embedder.evaluation.errors import EvaluationError

# Maps one index matrix per stratum, shape (draws, stratum size), to the metric of each draw.
Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (meaningful for a difference)."""
        return self.low > 0 or self.high < 0


def retrieval_statistic(items: pd.DataFrame, metric: str, view_column: str = "view") -> tuple[Statistic, list[int]]:
    """Mean over views of the mean per-query ``metric``; returns the statistic and stratum sizes."""
    views = sorted(items[view_column].unique())
    values = [items.loc[items[view_column] == v, metric].to_numpy(dtype=np.float64) for v in views]

    def statistic(indices: Sequence[np.ndarray]) -> np.ndarray:
        return np.mean([vals[idx].mean(axis=1) for vals, idx in zip(values, indices, strict=True)], axis=0)

    return statistic, [len(v) for v in values]


def _codes(items: pd.DataFrame, label: str, predictions: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    classes = sorted(set(items[label]).union(*[set(items[p]) for p in predictions]))
    lookup = {c: i for i, c in enumerate(classes)}
    truth = items[label].map(lookup).to_numpy(dtype=np.int64)
    preds = np.stack([items[p].map(lookup).to_numpy(dtype=np.int64) for p in predictions])
    return truth, preds, len(classes)


def accuracy_statistic(items: pd.DataFrame, label: str, predictions: Sequence[str]) -> tuple[Statistic, list[int]]:
    """Accuracy averaged over experiments = the mean over examples of their share of correct experiments."""
    truth, preds, _ = _codes(items, label, predictions)
    correct = (preds == truth[None, :]).mean(axis=0)
    return (lambda indices: correct[indices[0]].mean(axis=1)), [len(truth)]


def macro_f1_statistic(items: pd.DataFrame, label: str, predictions: Sequence[str]) -> tuple[Statistic, list[int]]:
    """Macro-F1 (over the labels present in truth or prediction, as scikit-learn's), averaged
    over experiments; confusion counts per draw by one bincount."""
    truth, preds, n_classes = _codes(items, label, predictions)

    def statistic(indices: Sequence[np.ndarray]) -> np.ndarray:
        idx = indices[0]
        draws = idx.shape[0]
        t = truth[idx]
        offsets = (np.arange(draws) * n_classes)[:, None]
        true_count = np.bincount((t + offsets).ravel(), minlength=draws * n_classes).reshape(draws, n_classes)
        scores = []
        for pred in preds:
            p = pred[idx]
            pred_count = np.bincount((p + offsets).ravel(), minlength=draws * n_classes).reshape(draws, n_classes)
            hits = np.where(t == p, t, n_classes) + (np.arange(draws) * (n_classes + 1))[:, None]
            tp = np.bincount(hits.ravel(), minlength=draws * (n_classes + 1)).reshape(draws, n_classes + 1)[:, :n_classes]
            denominator = true_count + pred_count
            present = denominator > 0
            f1 = np.where(present, 2 * tp / np.where(present, denominator, 1), 0.0)
            scores.append(f1.sum(axis=1) / present.sum(axis=1))
        return np.mean(scores, axis=0)

    return statistic, [len(truth)]


def draw_indices(sizes: Sequence[int], samples: int, rng: np.random.Generator) -> list[np.ndarray]:
    if any(n < 1 for n in sizes):
        raise EvaluationError("cannot bootstrap an empty benchmark")
    return [rng.integers(0, n, size=(samples, n)) for n in sizes]


def identity(sizes: Sequence[int]) -> list[np.ndarray]:
    return [np.arange(n)[None, :] for n in sizes]


def percentile_interval(value: float, draws: np.ndarray, confidence: float) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high))
