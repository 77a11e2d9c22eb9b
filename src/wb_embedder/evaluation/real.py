"""The real-text benchmarks: real marketplace text the project did not write, for evaluation only.

``data/real/`` holds, with their provenance (``data/real/SOURCES.md``), 2,400 real Ozon product
titles with their catalog category (40 leaves under 12 roots) and 500 real Wildberries reviews
with their stars. Every other benchmark comes from the same seeded generator as the training
data; these tell whether fine-tuning carries over to text nobody here wrote. Nothing in the
project is trained on them or written from them; their dev half may be used to choose, their
test half is reported.

Four classification benchmarks (kind ``crossfit``): title -> leaf category, title -> root,
review polarity (the benchmarks' rule, ``benchmarks.review_polarity``: 1-2 stars against 4-5, 3
left out) and review stars (5 classes). Reviews are deduplicated by text first (the marketplace
shows one review on sibling cards). Texts go through the clean stage's normaliser, as a real
dump's would.

Splitting: near-copy texts (``clean.near_duplicates``) form a family; a salted hash of the
family's key puts it in the test or the dev half (``real.test_fraction``) and, inside the half,
in one of ``real.folds`` folds. There is no training split to fit a classifier on, so each fold is
scored by mteb's classifier fitted on the half's other folds (cross-fitting): every text gets a
prediction from a probe that never saw it or a near-copy of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wb_embedder.clean import TextNormalizer
from wb_embedder.config import CleanConfig
from wb_embedder.evaluation.benchmarks import REAL_SPECS, Benchmark, CrossFitSet
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.schema import RealTextConfig, ReviewPolarityConfig
from wb_embedder.io import read_delimited
from wb_embedder.labels import review_polarity
from wb_embedder.near_duplicates import NearDuplicateConfig, near_duplicate_groups
from wb_embedder.splits import DEV, EVAL_SPLITS, TEST, stable_fraction

logger = logging.getLogger(__name__)

TITLE_COLUMNS = ("title", "category", "root")
REVIEW_COLUMNS = ("text", "stars", "product")
STARS = range(1, 6)
_FOLD_SALT = "fold"


class RealTextError(EvaluationError):
    """A real-text file breaks its format; the message names file, row and column."""


def read_real_table(path: Path | str, columns: Sequence[str]) -> pd.DataFrame:
    """A real-text TSV as strings, every row checked: exactly ``columns``, no empty field."""
    path = Path(path)
    if not path.is_file():
        raise RealTextError(f"{path}: file not found (the real-text data lives in data/real/, in git)")
    header, rows = read_delimited(path, sep="\t")
    if header != list(columns):
        raise RealTextError(f"{path}: header {header!r}, expected the columns {list(columns)!r}")
    for i, row in enumerate(rows):
        # Rows are numbered as an editor shows them: the header is line 1.
        if len(row) != len(columns):
            raise RealTextError(f"{path}: row {i + 2}: {len(row)} fields, expected {len(columns)} ({list(columns)})")
        for column, value in zip(columns, row, strict=True):
            if not value.strip():
                raise RealTextError(f"{path}: row {i + 2}, column {column!r}: empty")
            if "\ufffd" in value:
                raise RealTextError(f"{path}: row {i + 2}, column {column!r}: bytes that are not UTF-8")
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return frame


def _stars(frame: pd.DataFrame, path: Path | str) -> pd.Series:
    values = []
    for line, value in frame["stars"].items():
        if value.strip() not in {str(s) for s in STARS}:
            raise RealTextError(f"{path}: row {line}, column 'stars': {value!r} is not a star rating 1-5")
        values.append(int(value))
    return pd.Series(values, index=frame.index, dtype="int64")


def _normalised(series: pd.Series, norm: TextNormalizer) -> pd.Series:
    return series.map(norm).astype(object)


def family_keys(texts: Sequence[str], cfg: NearDuplicateConfig) -> list[str]:
    """Each text's family key: the smallest casefolded text of its near-copy cluster, so that
    the key, like the split it hashes to, does not depend on the order of the rows."""
    groups = near_duplicate_groups(list(texts), cfg)
    keys: dict[int, str] = {}
    for group, text in zip(groups, texts, strict=True):
        folded = text.casefold()
        keys[group] = min(keys.get(group, folded), folded)
    return [keys[group] for group in groups]


def assign_halves_and_folds(keys: Sequence[str], cfg: RealTextConfig) -> tuple[np.ndarray, np.ndarray]:
    """(split, fold) per family key: test below ``test_fraction`` of the hash, dev above; the
    fold from a second hash of the same key, so a family never straddles two folds either."""
    fraction = stable_fraction(keys, cfg.split_salt)
    split = np.where(fraction < cfg.test_fraction, TEST, DEV)
    fold = np.minimum((stable_fraction(keys, f"{cfg.split_salt}\x1f{_FOLD_SALT}") * cfg.folds).astype(np.int64),
                      cfg.folds - 1)
    return split, fold


def _check(name: str, split: str, items: pd.DataFrame, folds: int) -> None:
    """Every fold must have texts to score and a probe with at least two labels to fit."""
    for fold in range(folds):
        scored = items[items["fold"] == fold]
        fitted = items[items["fold"] != fold]
        if scored.empty or fitted["label"].nunique() < 2:
            raise EvaluationError(
                f"{name} ({split}): fold {fold} has {len(scored)} texts to score and {fitted['label'].nunique()} "
                f"label(s) to fit a probe on; lower real.folds (now {folds}) or give the benchmark more text"
            )


def _crossfit(name: str, frame: pd.DataFrame, label: pd.Series, folds: int) -> dict[str, Benchmark]:
    out = {}
    for split in EVAL_SPLITS:
        keep = (frame["split"] == split) & (label != "")
        items = pd.DataFrame({"text": frame.loc[keep, "text"].to_numpy(), "label": label[keep].astype(str).to_numpy(),
                              "fold": frame.loc[keep, "fold"].to_numpy(dtype=np.int64)})
        items = items.sort_values(["fold", "text"], kind="stable", ignore_index=True)
        _check(name, split, items, folds)
        out[split] = Benchmark(REAL_SPECS[name], crossfit=CrossFitSet(items))
    return out


def build_real_benchmarks(
    titles: pd.DataFrame,
    reviews: pd.DataFrame,
    cfg: RealTextConfig,
    clean_cfg: CleanConfig,
    polarity: ReviewPolarityConfig,
    paths: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict[str, Benchmark]], dict[str, Any]]:
    """The four real-text benchmarks per split, and what was read, merged and left out.

    ``titles`` and ``reviews`` are the files as :func:`read_real_table` reads them.
    """
    paths = dict(paths or {})
    norm = TextNormalizer(clean_cfg)
    stats: dict[str, Any] = {"titles": {"file": paths.get("titles", ""), "rows_in": len(titles), "dropped": {}},
                             "reviews": {"file": paths.get("reviews", ""), "rows_in": len(reviews), "dropped": {}}}

    titles = pd.DataFrame({"text": _normalised(titles["title"], norm), "category": _normalised(titles["category"], norm),
                           "root": _normalised(titles["root"], norm)})
    titles = _drop_empty(titles, stats["titles"])
    # The source kept one title per category case-insensitively; normalising (ё, spaces) may
    # make two the same, and one text cannot be two items.
    before = len(titles)
    titles = titles.drop_duplicates("text", keep="first")
    _count(stats["titles"], "duplicate_text", before - len(titles))

    stars = _stars(reviews, paths.get("reviews", "reviews"))
    reviews = pd.DataFrame({"text": _normalised(reviews["text"], norm), "stars": stars})
    reviews = _drop_empty(reviews, stats["reviews"])
    # The marketplace shows one review on every sibling card: one text is one review. A repeat
    # with other stars keeps the first reading and is counted apart.
    first_stars = reviews.groupby("text", sort=False)["stars"].transform("first")
    repeated = reviews["text"].duplicated(keep="first")
    _count(stats["reviews"], "duplicate_text", int((repeated & (reviews["stars"] == first_stars)).sum()))
    _count(stats["reviews"], "duplicate_text_other_stars", int((repeated & (reviews["stars"] != first_stars)).sum()))
    reviews = reviews[~repeated]

    titles = _place(titles, cfg, clean_cfg.near_duplicates, stats["titles"])
    reviews = _place(reviews, cfg, clean_cfg.near_duplicates, stats["reviews"])

    by_split: dict[str, dict[str, Benchmark]] = {split: {} for split in EVAL_SPLITS}
    polarity_labels = review_polarity(reviews["stars"], polarity)
    stats["reviews"]["neutral_left_out_of_polarity"] = int((polarity_labels == "").sum())
    for name, frame, label in (
        ("RealOzonTitleLeaf", titles, titles["category"]),
        ("RealOzonTitleRoot", titles, titles["root"]),
        ("RealWBReviewsPolarity", reviews, polarity_labels),
        ("RealWBReviewsStars", reviews, reviews["stars"].astype(str)),
    ):
        for split, bench in _crossfit(name, frame, label, cfg.folds).items():
            by_split[split][name] = bench
    for table in ("titles", "reviews"):
        stats[table]["dropped"] = dict(sorted(stats[table]["dropped"].items()))
    logger.info("real text: %d titles, %d reviews (%s)", len(titles), len(reviews),
                ", ".join(f"{t}: {sum(stats[t]['dropped'].values())} left out" for t in ("titles", "reviews")))
    return by_split, stats


def _place(frame: pd.DataFrame, cfg: RealTextConfig, near: NearDuplicateConfig, stats: dict[str, Any]) -> pd.DataFrame:
    """The frame with each text's ``split`` and ``fold`` (by its near-copy family)."""
    frame = frame.reset_index(drop=True)
    keys = family_keys(frame["text"].tolist(), near)
    split, fold = assign_halves_and_folds(keys, cfg)
    stats.update({"rows_out": len(frame), "families": len(set(keys)),
                  "by_split": {s: int((split == s).sum()) for s in EVAL_SPLITS}})
    return frame.assign(split=split, fold=fold)


def _count(stats: dict[str, Any], rule: str, count: int) -> None:
    if count:
        stats["dropped"][rule] = stats["dropped"].get(rule, 0) + int(count)


def _drop_empty(frame: pd.DataFrame, stats: dict[str, Any]) -> pd.DataFrame:
    """A text that is only markup or spaces is empty once normalised: nothing to classify."""
    empty = frame["text"] == ""
    _count(stats, "empty_after_normalising", int(empty.sum()))
    return frame[~empty].reset_index(drop=True)


def read_real_benchmarks(
    cfg: RealTextConfig, clean_cfg: CleanConfig, polarity: ReviewPolarityConfig
) -> tuple[dict[str, dict[str, Benchmark]], dict[str, Any]]:
    """Read both files named in ``real`` and build the benchmarks (the stage's whole job)."""
    titles = read_real_table(cfg.titles, TITLE_COLUMNS)
    reviews = read_real_table(cfg.reviews, REVIEW_COLUMNS)
    return build_real_benchmarks(titles, reviews, cfg, clean_cfg, polarity,
                                 {"titles": cfg.titles, "reviews": cfg.reviews})
