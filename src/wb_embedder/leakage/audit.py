"""The leakage audit: how much of each dev / test benchmark training has already seen.

Three checks, each against a limit in ``params.yaml`` (``leakage:``):

- near-copies: per benchmark and split, the share of its evaluation texts (retrieval queries and
  corpus documents, classification test texts) with a near-copy among the training texts (every
  anchor, positive and negative of ``data/triplets``), by the rule the clean stage splits by
  (``clean.near_duplicates``). WBBrandSyns' corpus is the catalogue's brand list, a vocabulary
  that training ranks too by design: only its queries (the spellings) are audited;
- brands: the share of WBBrandSyns dev / test brands mentioned, by name or by any of their
  variants, in a training text (gen_triplets withholds such rows, so this should be 0);
- families: the share of product families (near-copy products) with members both in training and
  in an evaluation split (the clean stage splits by family, so this should be 0);
- real text: per real-text benchmark and half, the share of its texts with a near-copy among the
  training texts or the corpus (every text of the clean tables, all splits): the real-text suite
  measures text the project did not write, so this should be 0.

The audit writes everything it measured to ``data/stats/leakage.json`` first, then fails with one
line naming the benchmark (or check) and its share when a limit is passed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from wb_embedder.brand_mentions import BrandMatcher, eval_brand_spellings
from wb_embedder.clean import product_families, product_text
from wb_embedder.config import CleanConfig
from wb_embedder.errors import WbEmbedderError
from wb_embedder.evaluation.benchmarks import Benchmark
from wb_embedder.leakage.schema import LeakageConfig
from wb_embedder.near_duplicates import NearCopyIndex, NearDuplicateConfig
from wb_embedder.splits import EVAL_SPLITS, TRAIN

logger = logging.getLogger(__name__)

DIGITS = 6
BRAND_VOCABULARY = "WBBrandSyns"
# Real texts and the corpus texts they match, shown per benchmark in the stats.
_EXAMPLES = 3


class LeakageError(WbEmbedderError, ValueError):
    """An evaluation set shares more with training than params allow."""


def training_texts(triplets_dir: Path | str) -> list[str]:
    """Every text gen_triplets put in training: anchors, positives and negatives of every task."""
    texts: set[str] = set()
    for path in sorted(Path(triplets_dir).glob("*.parquet")):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            if column == "anchor" or column == "positive" or column.startswith("negative_"):
                texts.update(str(t) for t in frame[column].dropna() if str(t))
    return sorted(texts)


def corpus_texts(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Every text of the clean tables, whatever its split: what the generator (or a dump) wrote."""
    texts: set[str] = set()
    columns = {"products": ["title", "description"], "search_log": ["query"], "reviews": ["text"],
               "product_qa": ["question", "answer"], "support": ["fact", "question"]}
    for table, names in columns.items():
        frame = tables[table]
        for name in names:
            texts.update(str(t) for t in frame[name].dropna() if str(t))
    texts.update(t for t in product_text(tables["products"]) if t)
    return sorted(texts)


def evaluation_texts(bench: Benchmark) -> list[str]:
    texts: set[str] = set()
    if bench.crossfit is not None:
        texts.update(bench.crossfit.items["text"])
    for data in bench.retrieval.values():
        texts.update(data.queries["text"])
        if bench.spec.name != BRAND_VOCABULARY:
            texts.update(data.corpus["text"])
    if bench.classification is not None:
        texts.update(bench.classification.test["text"])
    return sorted(texts)


def near_duplicate_shares(
    by_split: Mapping[str, Mapping[str, Benchmark]], train_texts: list[str], cfg: NearDuplicateConfig
) -> dict[str, dict[str, dict[str, Any]]]:
    index = NearCopyIndex(train_texts, cfg)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for split, benchmarks in by_split.items():
        out[split] = {}
        for name, bench in benchmarks.items():
            texts = evaluation_texts(bench)
            hits = sum(match is not None for match in index.matches(texts))
            out[split][name] = {"texts": len(texts), "with_near_copy_in_training": hits,
                                "share": round(hits / max(len(texts), 1), DIGITS)}
    return out


def real_text_copies(
    real_by_split: Mapping[str, Mapping[str, Benchmark]], project_texts: list[str], cfg: NearDuplicateConfig
) -> dict[str, Any]:
    """How many distinct real texts have a near-copy among the texts the project wrote or trains
    on (with a few (real, project) pairs to look at), and the share per benchmark and half."""
    index = NearCopyIndex(project_texts, cfg)
    texts = sorted({t for benchmarks in real_by_split.values() for b in benchmarks.values() for t in evaluation_texts(b)})
    copied = {text: project_texts[match] for text, match in zip(texts, index.matches(texts), strict=True)
              if match is not None}
    by_benchmark: dict[str, dict[str, dict[str, Any]]] = {}
    for split, benchmarks in real_by_split.items():
        by_benchmark[split] = {}
        for name, bench in benchmarks.items():
            own = evaluation_texts(bench)
            hits = sum(text in copied for text in own)
            by_benchmark[split][name] = {"texts": len(own), "with_near_copy_in_project": hits,
                                         "share": round(hits / max(len(own), 1), DIGITS)}
    return {"texts": len(texts), "with_near_copy_in_project": len(copied),
            "share": round(len(copied) / max(len(texts), 1), DIGITS),
            "examples": [{"real": real, "project": copied[real]} for real in sorted(copied)[:_EXAMPLES]],
            "by_benchmark": by_benchmark}


def brand_leaks(synonyms: pd.DataFrame, train_texts: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for split in EVAL_SPLITS:
        spellings = eval_brand_spellings(synonyms, [split])
        matcher = BrandMatcher(spellings)
        leaked: set[str] = set()
        for text in train_texts:
            leaked |= matcher.brands_in(text)
        out[split] = {"brands": len(spellings), "mentioned_in_training": sorted(leaked),
                      "share": round(len(leaked) / max(len(spellings), 1), DIGITS)}
    return out


def family_splits(products: pd.DataFrame, clean_cfg: CleanConfig) -> dict[str, Any]:
    family = product_families(products, clean_cfg)
    sides = pd.DataFrame({"family": family, "train": products["split"].reset_index(drop=True) == TRAIN})
    per_family = sides.groupby("family")["train"].agg(["any", "all"])
    straddling = int((per_family["any"] & ~per_family["all"]).sum())
    return {"families": len(per_family), "split_across_train_and_eval": straddling,
            "share": round(straddling / max(len(per_family), 1), DIGITS)}


def audit(
    by_split: Mapping[str, Mapping[str, Benchmark]],
    train_texts: list[str],
    synonyms: pd.DataFrame,
    products: pd.DataFrame,
    clean_cfg: CleanConfig,
    limits: LeakageConfig,
    real_by_split: Mapping[str, Mapping[str, Benchmark]] | None = None,
    corpus: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The audit's figures and the list of limits passed (one line each, empty when clean).
    ``real_by_split``: the real-text benchmarks, checked against the training texts and
    ``corpus`` (:func:`corpus_texts`)."""
    stats: dict[str, Any] = {
        "training_texts": len(train_texts),
        "near_copies": near_duplicate_shares(by_split, train_texts, clean_cfg.near_duplicates),
        "brands": brand_leaks(synonyms, train_texts),
        "families": family_splits(products, clean_cfg),
        "limits": limits.model_dump(),
    }
    if real_by_split is not None:
        project = sorted(set(train_texts) | set(corpus or []))
        stats["corpus_texts"] = len(corpus or [])
        stats["real_text"] = real_text_copies(real_by_split, project, clean_cfg.near_duplicates)
    failures: list[str] = []
    for split, per_bench in stats["near_copies"].items():
        for name, entry in per_bench.items():
            if entry["share"] > limits.max_near_duplicate_share:
                failures.append(
                    f"{name} ({split}): {entry['share']:.1%} of its texts have a near-copy in training "
                    f"({entry['with_near_copy_in_training']} of {entry['texts']}; limit "
                    f"leakage.max_near_duplicate_share = {limits.max_near_duplicate_share})"
                )
    for split, entry in stats["brands"].items():
        if entry["share"] > limits.max_brand_leak_share:
            failures.append(
                f"WBBrandSyns ({split}): {entry['share']:.1%} of its brands are mentioned in training texts "
                f"({', '.join(entry['mentioned_in_training'][:5])}; limit leakage.max_brand_leak_share = "
                f"{limits.max_brand_leak_share})"
            )
    real = stats.get("real_text")
    if real is not None and real["share"] > limits.max_real_near_duplicate_share:
        example = real["examples"][0]
        failures.append(
            f"real text: {real['with_near_copy_in_project']} of {real['texts']} real texts have a near-copy in the "
            f"training or corpus texts, e.g. {example['real']!r} ~ {example['project']!r} "
            f"(limit leakage.max_real_near_duplicate_share = {limits.max_real_near_duplicate_share})"
        )
    families = stats["families"]
    if families["share"] > limits.max_split_family_share:
        failures.append(
            f"products: {families['share']:.1%} of product families are split across train and dev/test "
            f"({families['split_across_train_and_eval']} of {families['families']}; limit "
            f"leakage.max_split_family_share = {limits.max_split_family_share})"
        )
    stats["passed"] = not failures
    return stats, failures
