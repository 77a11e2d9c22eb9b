"""Semi-automated annotation: confidence per triplet, the review queue, and people's verdicts.

A verdict names a triplet by a content hash of (task, anchor, positive, negative), so it survives
re-runs for as long as that triplet can still be produced; verdicts naming triplets that no
longer exist are counted as stale, never silently lost.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from wb_embedder.errors import WbEmbedderError
from wb_embedder.io import atomic_path, read_delimited

VERDICTS = ("accept", "reject", "swap")
QUEUE_COLUMNS = [
    "triplet_id", "task", "anchor", "positive", "negative",
    "positive_score", "negative_score", "overlap", "confidence", "verdict", "note",
]


class AnnotationError(WbEmbedderError, ValueError):
    """The verdict file is malformed; the message names file, row and column."""


# The queue is opened in spreadsheets, which run a cell starting with one of these as a formula
# (review text "=HYPERLINK(...)" would be a live link). OWASP's CSV-injection advice: prefix such a
# cell with a quote. A cell that already starts with the quote gets one too, so that reading back
# strips exactly one and every text comes back as it was.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def neutralise_cell(text: str) -> str:
    """A text a spreadsheet shows as text, never runs as a formula (undone by :func:`restore_cell`)."""
    return _QUOTE + text if text.startswith((*_FORMULA_START, _QUOTE)) else text


def restore_cell(text: str) -> str:
    """The text :func:`neutralise_cell` was given."""
    return text[1:] if text.startswith(_QUOTE) and text[1:].startswith((*_FORMULA_START, _QUOTE)) else text


def write_queue(queue: pd.DataFrame, path: Path | str) -> None:
    """Write the annotation queue as CSV (atomically), every text cell neutralised."""
    safe = queue.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column].dtype):
            safe[column] = [neutralise_cell(v) if isinstance(v, str) else v for v in safe[column]]
    with atomic_path(path) as tmp:
        # Every text quoted (OWASP's other half): a CR inside a text is not a line break to pandas'
        # minimal quoting, so an unquoted "\r..." cell would split its row in two.
        safe.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC)


def read_annotation_table(path: Path | str) -> pd.DataFrame:
    """A queue or verdict CSV as strings, cells restored; malformed files stop with file and row."""
    path = Path(path)
    try:
        header, rows = read_delimited(path)
    except (OSError, csv.Error) as exc:
        raise AnnotationError(f"{path}: cannot read: {exc}") from None
    if not header:
        raise AnnotationError(f"{path}: empty file (a verdict file needs a header with triplet_id and verdict)")
    if "\ufffd" in "".join(header):
        raise AnnotationError(f"{path}: header: not UTF-8 (e.g. saved as CP1251); save the file as UTF-8")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise AnnotationError(
                f"{path}: row {i + 1}: {len(row)} fields, the header has {len(header)} ({', '.join(header)})"
            )
        for name, value in zip(header, row, strict=True):
            if "\ufffd" in value:  # read_delimited's mark for bytes that are not UTF-8
                raise AnnotationError(
                    f"{path}: row {i + 1}, column {name!r}: not UTF-8 (e.g. saved as CP1251); save the file as UTF-8"
                )
    return pd.DataFrame([[restore_cell(v) for v in row] for row in rows], columns=header, dtype=object)


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
        frame = read_annotation_table(path)
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

