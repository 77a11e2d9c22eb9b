"""Semi-automated annotation: confidence per triplet, the review queue, and people's verdicts.

A verdict names a triplet by a content hash of (task, anchor, positive, negative), so it survives
re-runs for as long as that triplet can still be produced; verdicts naming triplets that no
longer exist are counted as stale, never silently lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

VERDICTS = ("accept", "reject", "swap")
QUEUE_COLUMNS = [
    "triplet_id", "task", "anchor", "positive", "negative",
    "positive_score", "negative_score", "overlap", "confidence", "verdict", "note",
]


class AnnotationError(ValueError):
    """The verdict file is malformed; the message names file, row and column."""


def triplet_id(task: str, anchor: str, positive: str, negative: str) -> str:
    return hashlib.sha256("\x1f".join([task, anchor, positive, negative]).encode()).hexdigest()[:16]


def _trigrams(text: str) -> set[str]:
    padded = f"  {text.lower()} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def overlap(a: str, b: str) -> float:
    """Jaccard similarity of character trigrams: near 1 for near-duplicate texts."""
    ta, tb = _trigrams(a), _trigrams(b)
    return len(ta & tb) / max(len(ta | tb), 1)


def confidence(positive_score: float, negative_score: float, lexical_overlap: float, overlap_weight: float) -> float:
    return float(positive_score - negative_score - overlap_weight * lexical_overlap)


@dataclass(frozen=True)
class Verdicts:
    by_id: dict[str, str]

    @property
    def accepted(self) -> set[str]:
        return {k for k, v in self.by_id.items() if v == "accept"}

    @property
    def rejected(self) -> set[str]:
        return {k for k, v in self.by_id.items() if v == "reject"}

    @property
    def swapped(self) -> set[str]:
        return {k for k, v in self.by_id.items() if v == "swap"}


def read_verdicts(directory: Path) -> Verdicts:
    """Read every ``*.csv`` in ``directory`` (columns triplet_id, verdict; others ignored).

    Rows with an empty verdict are ignored, so a filled-in copy of the queue works as is.
    """
    by_id: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in ("triplet_id", "verdict"):
            if column not in frame.columns:
                raise AnnotationError(f"{path}: missing column {column!r} (needs triplet_id and verdict)")
        for i, (tid, verdict) in enumerate(zip(frame["triplet_id"], frame["verdict"], strict=True)):
            verdict = verdict.strip().lower()
            if not verdict:
                continue
            if verdict not in VERDICTS:
                raise AnnotationError(f"{path}: row {i + 1}, column 'verdict': {verdict!r} is not one of {VERDICTS}")
            if not tid.strip():
                raise AnnotationError(f"{path}: row {i + 1}, column 'triplet_id': empty")
            previous = by_id.get(tid.strip())
            if previous is not None and previous != verdict:
                raise AnnotationError(
                    f"{path}: row {i + 1}, column 'verdict': {verdict!r} contradicts an earlier {previous!r} "
                    f"for triplet {tid.strip()}"
                )
            by_id[tid.strip()] = verdict
    return Verdicts(by_id)


def cosine_scores(anchors: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Row-wise cosine of normalised embeddings."""
    return np.einsum("ij,ij->i", anchors, documents)
