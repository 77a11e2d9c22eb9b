"""The 11 benchmarks: what they are, how they are built from the clean tables, how they are stored.

Every benchmark is built twice, from the ``dev`` and from the ``test`` split: every query, corpus
document and classification test example comes from that split; classification training
examples come from the ``train`` split only. Dev is for choosing (params, sweeps, checkpoints),
test for reporting once. One exception, a vocabulary rather than examples: WBBrandSyns ranks among
every brand name of the catalogue (its queries are that split of the synonyms table, which is
split by brand). On disk: ``<root>/<split>/<Benchmark>/...``.

Retrieval benchmarks are stored as MTEB stores them: ``queries`` (query_id, text), ``corpus``
(doc_id, text) and ``qrels`` (query_id, doc_id, score; graded, 0 = judged not relevant), plus
``excluded`` (query_id, doc_id): documents left out of that query's ranking (the anchor itself
in WBSimGoods-triplets). Documents and queries are deduplicated by text: two corpus entries with
the same text would tie, and the order of a tie would decide the metric.
Classification benchmarks are ``train`` and ``test`` (text, label).

The real-text benchmarks (:mod:`.real`, stage ``real_benchmarks``) are a second suite beside the
11, never averaged with them: classification without a separate training set, stored as
``items`` (text, label, fold) and scored by cross-fitting inside their split (kind ``crossfit``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from wb_embedder.clean import CLEAN_TABLES, SPLIT_RULES, product_text
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.schema import BenchmarksConfig
from wb_embedder.io import atomic_dir, write_json
from wb_embedder.labels import review_polarity, search_grades
from wb_embedder.requirements import (
    BENCHMARK_NEEDS,
    FIELDS,
    SIMILAR_GOODS,
    TASK_NEEDS,
    VIEW_NEEDS,
    Need,
    benchmark_needs,
    field_counts,
    missing_reason,
)
from wb_embedder.splits import EVAL_SPLITS, TRAIN

logger = logging.getLogger(__name__)

STATS_FILE = "stats.json"
RETRIEVAL_FILES = ("queries", "corpus", "qrels", "excluded")
CLASSIFICATION_FILES = ("train", "test")
CROSSFIT_FILE = "items"

Kind = Literal["retrieval", "classification", "crossfit"]


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark's identity: the prompt task it uses and its headline metric."""

    name: str
    task: str  # key of params model.prompts
    kind: Kind
    main_metric: Literal["ndcg", "accuracy", "f1"]
    # Retrieval benchmarks with several corpus views (WBQAGoods) store one subset per view
    # and report each view plus their mean.
    views: tuple[str, ...] = ()


SPECS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec("WBQAGoods", "product_qa", "retrieval", "ndcg", ("all", "answer", "description")),
        BenchmarkSpec("WBSimGoods-triplets", "similar_goods", "retrieval", "ndcg"),
        BenchmarkSpec("WBSearchQueryNmRelevance", "search_query", "retrieval", "ndcg"),
        BenchmarkSpec("WBQASupportFacts", "support_facts", "retrieval", "ndcg"),
        BenchmarkSpec("WBReviewsClassification", "review_rating", "classification", "accuracy"),
        BenchmarkSpec("WBReviewsPolarityClassification", "review_polarity", "classification", "accuracy"),
        BenchmarkSpec("WBReviewsSummarizationClassification", "review_reason", "classification", "f1"),
        BenchmarkSpec("WBGoodsCategoriesClassification", "goods_category", "classification", "accuracy"),
        BenchmarkSpec("WBGenderClassification", "goods_gender", "classification", "accuracy"),
        BenchmarkSpec("WBQASupportShort", "support_intent", "classification", "f1"),
        BenchmarkSpec("WBBrandSyns", "brand_synonyms", "retrieval", "ndcg"),
    ]
}
BENCHMARK_NAMES: tuple[str, ...] = tuple(SPECS)

# The real-text suite (:mod:`.real`): real Ozon titles and Wildberries reviews, evaluation only.
# Macro-F1 for the reviews: three in four real reviews have five stars, so accuracy would mostly
# count the majority class.
REAL_SPECS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec("RealOzonTitleLeaf", "goods_category", "crossfit", "accuracy"),
        BenchmarkSpec("RealOzonTitleRoot", "goods_category", "crossfit", "accuracy"),
        BenchmarkSpec("RealWBReviewsPolarity", "review_polarity", "crossfit", "f1"),
        BenchmarkSpec("RealWBReviewsStars", "review_rating", "crossfit", "f1"),
    ]
}
REAL_NAMES: tuple[str, ...] = tuple(REAL_SPECS)


def spec_of(name: str) -> BenchmarkSpec:
    """The spec of a benchmark of either suite."""
    spec = SPECS.get(name) or REAL_SPECS.get(name)
    if spec is None:
        raise EvaluationError(f"unknown benchmark {name!r}; known: {[*SPECS, *REAL_SPECS]}")
    return spec


def headline_metric(name: str, main_k: int) -> str:
    """The metric a benchmark is summarised by (its ``main_score``): NDCG@main_k for retrieval."""
    spec = spec_of(name)
    return f"ndcg@{main_k}" if spec.main_metric == "ndcg" else spec.main_metric


@dataclass(frozen=True)
class RetrievalSet:
    queries: pd.DataFrame  # query_id, text
    corpus: pd.DataFrame  # doc_id, text
    qrels: pd.DataFrame  # query_id, doc_id, score
    excluded: pd.DataFrame  # query_id, doc_id


@dataclass(frozen=True)
class ClassificationSet:
    train: pd.DataFrame  # text, label
    test: pd.DataFrame  # text, label


@dataclass(frozen=True)
class CrossFitSet:
    """Labelled texts of one split, each in a fold: fold f is scored by a probe trained on the
    split's other folds."""

    items: pd.DataFrame  # text, label, fold (int, 0-based)

    @property
    def folds(self) -> list[int]:
        return sorted(int(f) for f in self.items["fold"].unique())


@dataclass(frozen=True)
class Benchmark:
    spec: BenchmarkSpec
    # Retrieval: one RetrievalSet per view ("" for a single-view benchmark).
    retrieval: dict[str, RetrievalSet] = field(default_factory=dict)
    classification: ClassificationSet | None = None
    crossfit: CrossFitSet | None = None
    # Written next to the data for inspection only (e.g. the derived triplets); never read back.
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Rows of the clean tables left out for lack of an optional value (a review without a reason
    # tag in WBReviewsSummarizationClassification), counted in data/stats/benchmarks.json.
    left_out: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- retrieval builders


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def retrieval_set(
    name: str,
    pairs: pd.DataFrame,
    corpus_texts: Iterable[str],
    excluded: pd.DataFrame | None = None,
    why_none: str = "the split has no rows?",
) -> RetrievalSet:
    """Build a retrieval set from judged (query, doc, grade) text pairs.

    The corpus is ``corpus_texts`` plus every judged document; identical texts are one document
    (a judged pair keeps its highest grade), identical queries one query. Queries without a
    positive grade have nothing to find and are left out. Ids follow the sorted texts, so they do
    not depend on row order.
    """
    pairs = pairs[["query", "doc", "grade"]]
    # Unmapped ids arrive as NaN and empty texts as "": neither is something to rank or find.
    usable = pairs["query"].map(_is_text) & pairs["doc"].map(_is_text)
    pairs = pairs[usable].astype({"query": object, "doc": object})
    pairs = pairs.groupby(["query", "doc"], as_index=False, sort=True)["grade"].max()
    best = pairs.groupby("query")["grade"].max()
    kept_queries = sorted(best.index[best > 0])
    if not kept_queries:
        raise EvaluationError(f"{name}: no query has a relevant document ({why_none})")
    pairs = pairs[pairs["query"].isin(set(kept_queries))]
    docs = sorted({t for t in corpus_texts if _is_text(t)} | set(pairs["doc"]))
    query_id = {text: i for i, text in enumerate(kept_queries)}
    doc_id = {text: i for i, text in enumerate(docs)}
    qrels = pd.DataFrame(
        {
            "query_id": pairs["query"].map(query_id).astype("int64").to_numpy(),
            "doc_id": pairs["doc"].map(doc_id).astype("int64").to_numpy(),
            "score": pairs["grade"].astype("int64").to_numpy(),
        }
    ).sort_values(["query_id", "doc_id"], ignore_index=True)
    skip = pd.DataFrame({"query_id": pd.Series(dtype="int64"), "doc_id": pd.Series(dtype="int64")})
    if excluded is not None and len(excluded):
        excluded = excluded[excluded["query"].isin(query_id) & excluded["doc"].isin(doc_id)]
        skip = pd.DataFrame(
            {
                "query_id": excluded["query"].map(query_id).astype("int64").to_numpy(),
                "doc_id": excluded["doc"].map(doc_id).astype("int64").to_numpy(),
            }
        ).drop_duplicates()
        # A judged document is never hidden from its query: relevance wins over exclusion.
        judged = set(zip(qrels["query_id"], qrels["doc_id"], strict=True))
        keep = [pair not in judged for pair in zip(skip["query_id"], skip["doc_id"], strict=True)]
        skip = skip[keep].sort_values(["query_id", "doc_id"], ignore_index=True)
    return RetrievalSet(
        queries=pd.DataFrame({"query_id": np.arange(len(kept_queries), dtype="int64"), "text": kept_queries}),
        corpus=pd.DataFrame({"doc_id": np.arange(len(docs), dtype="int64"), "text": docs}),
        qrels=qrels,
        excluded=skip,
    )


def _pairs(query: Iterable[str], doc: Iterable[str], grade: Iterable[int] | int = 1) -> pd.DataFrame:
    frame = pd.DataFrame({"query": list(query), "doc": list(doc)})
    frame["grade"] = grade
    return frame


def build_qa_goods(products: pd.DataFrame, qa: pd.DataFrame, views: Iterable[str] | None = None) -> Benchmark:
    """Product question -> the product, seen through three views of it.

    ``all``: the full product text; ``description``: the description alone (products without one
    are not in that corpus, and questions about them are left out of that view); ``answer``: the
    answers of the test questions, the relevant one being the answer to the question (product
    questions are answered per product, so the answer is the product's own account of the asked
    property; unanswered questions are left out of that view). ``views``: the views to build
    (default all; one the dump cannot give is skipped, wb_embedder.requirements.VIEW_NEEDS).
    """
    spec = SPECS["WBQAGoods"]
    views = list(spec.views if views is None else views)
    full = dict(zip(products["nmid"], product_text(products), strict=True))
    description = dict(zip(products["nmid"], products["description"], strict=True))
    builders = {
        "all": lambda: retrieval_set(
            f"{spec.name}/all", _pairs(qa["question"], qa["nmid"].map(full)), full.values()
        ),
        "answer": lambda: retrieval_set(f"{spec.name}/answer", _pairs(qa["question"], qa["answer"]), qa["answer"],
                                        why_none="no question of the split has an answer"),
        "description": lambda: retrieval_set(
            f"{spec.name}/description",
            _pairs(qa["question"], qa["nmid"].map(description).fillna("")),
            description.values(),
            why_none="no question of the split is about a product with a description",
        ),
    }
    left_out = {
        "answer": ("questions_without_an_answer", int((qa["answer"].fillna("") == "").sum())),
        "description": ("questions_without_a_description", int((qa["nmid"].map(description).fillna("") == "").sum())),
    }
    return Benchmark(spec, retrieval={view: builders[view]() for view in views},
                     left_out=dict(left_out[view] for view in views if view in left_out))


def build_search(products: pd.DataFrame, log: pd.DataFrame, cfg: BenchmarksConfig) -> Benchmark:
    """Search query -> products, graded by the funnel (cart > view > show); the corpus is every
    test product, so products never shown for a query are unjudged distractors."""
    spec = SPECS["WBSearchQueryNmRelevance"]
    full = dict(zip(products["nmid"], product_text(products), strict=True))
    known = log[log["nmid"].isin(full)]
    pairs = _pairs(known["query"], known["nmid"].map(full), search_grades(known, cfg.search_grades))
    why = (f"no query of the split has a product with carts >= {cfg.search_grades.min_carts} or views >= "
           f"{cfg.search_grades.min_views}: shown only, nothing to find")
    return Benchmark(spec, retrieval={"": retrieval_set(spec.name, pairs, full.values(), why_none=why)})


def similar_goods_triplets(products: pd.DataFrame, log: pd.DataFrame, cfg: BenchmarksConfig) -> pd.DataFrame:
    """(previous, anchor, next) nmid triplets from pseudo-sessions (see SimilarGoodsConfig).
    With ``same_subject``, a product without a subject is in no pseudo-session."""
    rules = cfg.similar_goods
    eligible = products[products["subjectname"] != ""] if rules.same_subject else products
    engaged = log[(log["views"] >= rules.min_views) & log["nmid"].isin(set(eligible["nmid"]))]
    subject = dict(zip(products["nmid"], products["subjectname"], strict=True))
    engaged = engaged.assign(subject=engaged["nmid"].map(subject) if rules.same_subject else "")
    engaged = engaged.sort_values(
        ["query", "subject", "carts", "views", "shows", "nmid"],
        ascending=[True, True, False, False, False, True],
        kind="stable",
    )
    rows: list[tuple[int, int, int]] = []
    for _, session in engaged.groupby(["query", "subject"], sort=True):
        items = session["nmid"].to_numpy()[: rules.max_session_length]
        rows += [(int(items[i - 1]), int(items[i]), int(items[i + 1])) for i in range(1, len(items) - 1)]
    triplets = pd.DataFrame(rows, columns=["previous", "anchor", "next"], dtype="int64")
    return triplets.drop_duplicates().sort_values(["anchor", "previous", "next"], ignore_index=True)


def build_similar_goods(products: pd.DataFrame, log: pd.DataFrame, cfg: BenchmarksConfig) -> Benchmark:
    """Product -> similar products: an anchor's previous and next items are relevant (grade 1).

    No browsing sessions exist, so a session is approximated by the products engaged with for
    one query (within one subject): shoppers open and cart substitutes for the same need. The
    anchor itself is excluded from its own ranking (it is in the corpus, with the same prompt).
    """
    spec = SPECS["WBSimGoods-triplets"]
    triplets = similar_goods_triplets(products, log, cfg)
    full = dict(zip(products["nmid"], product_text(products), strict=True))
    anchors = pd.concat([triplets["anchor"], triplets["anchor"]], ignore_index=True).map(full)
    neighbours = pd.concat([triplets["previous"], triplets["next"]], ignore_index=True).map(full)
    pairs = _pairs(anchors, neighbours)
    excluded = pd.DataFrame({"query": anchors, "doc": anchors}).drop_duplicates()
    rules = cfg.similar_goods
    why = (f"no query{' and subject' if rules.same_subject else ''} of the split has 3 products with views >= "
           f"{rules.min_views} (benchmarks.similar_goods.min_views) to make a pseudo-session of")
    data = retrieval_set(spec.name, pairs, full.values(), excluded, why_none=why)
    left_out = {"products_without_a_subject": int((products["subjectname"] == "").sum())} if rules.same_subject else {}
    return Benchmark(spec, retrieval={"": data}, extras={"triplets": triplets}, left_out=left_out)


def build_support_facts(support: pd.DataFrame) -> Benchmark:
    """Support question -> the fact that answers it; the corpus is every test fact."""
    spec = SPECS["WBQASupportFacts"]
    pairs = _pairs(support["question"], support["fact"])
    return Benchmark(spec, retrieval={"": retrieval_set(spec.name, pairs, support["fact"])})


def build_brand_synonyms(
    products_all: pd.DataFrame, synonyms: pd.DataFrame, cfg: BenchmarksConfig, split: str
) -> Benchmark:
    """Brand variant ("найк") -> its brand, ranked among every brand of the catalogue.

    A variant spelled exactly like its brand (case aside) tests nothing and is left out; a
    variant listed for two brands has both as relevant.
    """
    spec = SPECS["WBBrandSyns"]
    ignored = set(cfg.ignored_brands)
    held = synonyms[synonyms["split"] == split]
    held = held[~held["brand"].isin(ignored) & (held["variant"].str.casefold() != held["brand"].str.casefold())]
    brands = {b for b in products_all["brandname"] if b and b not in ignored}
    pairs = _pairs(held["variant"], held["brand"])
    why = (f"no brand of the {split} split has a variant spelled unlike it; brands are split by a salted hash of "
           "the name (synonyms.dev_fraction, synonyms.test_fraction), so a catalogue of few brands may have none there")
    return Benchmark(spec, retrieval={"": retrieval_set(spec.name, pairs, sorted(brands), why_none=why)})


# --------------------------------------------------------------------------- classification builders


def classification_set(
    name: str,
    train: tuple[pd.Series, pd.Series],
    test: tuple[pd.Series, pd.Series],
    cfg: BenchmarksConfig,
) -> ClassificationSet:
    """Train / test (text, label) frames; labels too rare in training leave both splits."""

    def frame(texts: pd.Series, labels: pd.Series) -> pd.DataFrame:
        out = pd.DataFrame({"text": texts.astype(str).to_numpy(), "label": labels.astype(str).to_numpy()})
        return out[(out["text"] != "") & (out["label"] != "")].reset_index(drop=True)

    train_frame, test_frame = frame(*train), frame(*test)
    counts = train_frame["label"].value_counts()
    kept = set(counts.index[counts >= cfg.min_train_examples_per_label])
    dropped = sorted(set(train_frame["label"]) - kept)
    if dropped:
        logger.info("%s: labels with < %d training examples left out: %s", name,
                    cfg.min_train_examples_per_label, dropped)
    train_frame = train_frame[train_frame["label"].isin(kept)].reset_index(drop=True)
    test_frame = test_frame[test_frame["label"].isin(kept)].reset_index(drop=True)
    if train_frame["label"].nunique() < 2:
        raise EvaluationError(
            f"{name}: the train split has {train_frame['label'].nunique()} label(s) with >= "
            f"{cfg.min_train_examples_per_label} examples; classification needs at least 2"
        )
    if test_frame.empty:
        raise EvaluationError(f"{name}: no test examples (the test split has no rows with a kept label)")
    return ClassificationSet(train=train_frame, test=test_frame)


def short_questions(support: pd.DataFrame, cfg: BenchmarksConfig) -> pd.DataFrame:
    return support[support["question"].str.split().str.len() <= cfg.support_short_max_words]


def _classification(
    name: str,
    texts: tuple[pd.Series, pd.Series],
    labels: tuple[pd.Series, pd.Series],
    cfg: BenchmarksConfig,
) -> Benchmark:
    data = classification_set(name, (texts[0], labels[0]), (texts[1], labels[1]), cfg)
    # A row without a label (a review without a reason tag, a card without a gender) serves the
    # benchmarks that need no label of that kind, and is left out here only.
    left_out = {f"{part}_without_label": int((label.astype(str) == "").sum())
                for part, label in (("train", labels[0]), ("test", labels[1]))}
    return Benchmark(SPECS[name], classification=data, left_out=left_out)


# --------------------------------------------------------------------------- all benchmarks


def _split(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    return frame[frame["split"] == split].reset_index(drop=True)


def build_benchmarks(
    tables: Mapping[str, pd.DataFrame], synonyms: pd.DataFrame, cfg: BenchmarksConfig, split: str,
    names: Iterable[str] = BENCHMARK_NAMES, views: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Benchmark]:
    """The benchmarks ``names`` (default all 11) of one evaluation split ("dev" or "test") from the
    clean tables and the brand synonyms; ``views``: the views to build of a multi-view benchmark
    (default all). A benchmark that cannot be built raises :class:`EvaluationError`
    (:func:`build_all` skips it instead)."""
    if split not in EVAL_SPLITS:
        raise EvaluationError(f"benchmarks are built for {EVAL_SPLITS}, not {split!r}")
    missing = [t for t in CLEAN_TABLES if t not in tables]
    if missing:
        raise EvaluationError(f"clean tables missing: {missing}")
    test = {name: _split(tables[name], split) for name in CLEAN_TABLES}
    train = {name: _split(tables[name], TRAIN) for name in CLEAN_TABLES}
    reviews = (train["reviews"], test["reviews"])
    products = (train["products"], test["products"])
    support_short = (short_questions(train["support"], cfg), short_questions(test["support"], cfg))

    def pair(frames: tuple[pd.DataFrame, pd.DataFrame], column: str) -> tuple[pd.Series, pd.Series]:
        return frames[0][column], frames[1][column]

    builders = {
        "WBQAGoods": lambda: build_qa_goods(test["products"], test["product_qa"], (views or {}).get("WBQAGoods")),
        "WBSimGoods-triplets": lambda: build_similar_goods(test["products"], test["search_log"], cfg),
        "WBSearchQueryNmRelevance": lambda: build_search(test["products"], test["search_log"], cfg),
        "WBQASupportFacts": lambda: build_support_facts(test["support"]),
        "WBReviewsClassification": lambda: _classification(
            "WBReviewsClassification", pair(reviews, "text"), pair(reviews, "rating"), cfg),
        "WBReviewsPolarityClassification": lambda: _classification(
            "WBReviewsPolarityClassification",
            pair(reviews, "text"),
            (review_polarity(reviews[0]["rating"], cfg.review_polarity),
             review_polarity(reviews[1]["rating"], cfg.review_polarity)),
            cfg,
        ),
        "WBReviewsSummarizationClassification": lambda: _classification(
            "WBReviewsSummarizationClassification", pair(reviews, "text"), pair(reviews, "reason"), cfg),
        # Titles, not the full text: characteristics carry "Пол: ..." and would hand over the label.
        "WBGoodsCategoriesClassification": lambda: _classification(
            "WBGoodsCategoriesClassification", pair(products, "title"), pair(products, "parentname"), cfg),
        "WBGenderClassification": lambda: _classification(
            "WBGenderClassification", pair(products, "title"), pair(products, "gender"), cfg),
        "WBQASupportShort": lambda: _classification(
            "WBQASupportShort", pair(support_short, "question"), pair(support_short, "intent"), cfg),
        "WBBrandSyns": lambda: build_brand_synonyms(tables["products"], synonyms, cfg, split),
    }
    return {name: builders[name]() for name in names}


@dataclass(frozen=True)
class BuiltBenchmarks:
    """What :func:`build_all` built, per evaluation split, and what it skipped, with the reason."""

    by_split: dict[str, dict[str, Benchmark]]
    skipped: dict[str, str]  # benchmark (or "benchmark/view") -> why

    def stats(self) -> dict[str, Any]:
        """data/stats/benchmarks.json: built, skipped with reasons, and the rows each left out."""
        built = [name for name in BENCHMARK_NAMES if name not in self.skipped]
        return {
            "built": built,
            "skipped": dict(self.skipped),
            "left_out": {split: {name: dict(bench.left_out) for name, bench in benchmarks.items() if bench.left_out}
                         for split, benchmarks in self.by_split.items()},
        }


def _split_reason(tables: Mapping[str, pd.DataFrame], needs: Iterable[Need], splits: Iterable[str]) -> str | None:
    """Why a benchmark's tables have no row in a split it is built from (the split rule), or None."""
    sources = sorted({FIELDS[f].table for need in needs for f in (need if isinstance(need, tuple) else (need,))})
    for table in sources:
        for split in splits:
            if not (tables[table]["split"] == split).any():
                return f"{table} has no row in the {split} split ({SPLIT_RULES[table]})"
    return None


def build_all(tables: Mapping[str, pd.DataFrame], synonyms: pd.DataFrame, cfg: BenchmarksConfig) -> BuiltBenchmarks:
    """Every benchmark the data can build, on both evaluation splits; the others skipped with one
    log line each and their reason: switched off (``benchmarks.skip``), a need the dump does not
    meet (:mod:`wb_embedder.requirements`: names the table or column), no row in a split it is
    built from (names the split rule), or what its builder found missing. A benchmark is built on
    both splits or on neither, so dev and test always hold the same benchmarks."""
    counts = field_counts(tables)
    skipped: dict[str, str] = {}
    views: dict[str, list[str]] = {}
    plan: list[str] = []
    for name in BENCHMARK_NAMES:
        spec = SPECS[name]
        needs = benchmark_needs(name, cfg.similar_goods.same_subject)
        splits = (TRAIN, *EVAL_SPLITS) if spec.kind == "classification" else EVAL_SPLITS
        if name in cfg.skip:
            skipped[name] = "switched off (benchmarks.skip)"
        elif reason := missing_reason(needs, counts) or _split_reason(tables, needs, splits):
            skipped[name] = reason
        else:
            plan.append(name)
        if name in VIEW_NEEDS and name in plan:
            views[name] = []
            for view, view_needs in VIEW_NEEDS[name].items():
                if reason := missing_reason(view_needs, counts):
                    skipped[f"{name}/{view}"] = reason
                else:
                    views[name].append(view)
    by_split: dict[str, dict[str, Benchmark]] = {split: {} for split in EVAL_SPLITS}
    for name in plan:
        built: dict[str, Benchmark] = {}
        for split in EVAL_SPLITS:
            try:
                built[split] = build_benchmarks(tables, synonyms, cfg, split, [name], views)[name]
            except EvaluationError as exc:
                skipped[name] = f"cannot be built on the {split} split: {exc}"
                for view in [key for key in skipped if key.startswith(f"{name}/")]:
                    del skipped[view]
                break
        else:
            for split, bench in built.items():
                by_split[split][name] = bench
    for name, reason in skipped.items():
        logger.warning("%s skipped: %s", name, reason)
    if not any(by_split.values()):
        raise EvaluationError("no benchmark can be built from this data: " +
                              "; ".join(f"{name}: {reason}" for name, reason in skipped.items()))
    ordered = {key: skipped[key] for key in sorted(skipped, key=_skip_order)}
    return BuiltBenchmarks(by_split, ordered)


def _skip_order(key: str) -> tuple[int, str]:
    name, _, view = key.partition("/")
    return BENCHMARK_NAMES.index(name), view


def needs_markdown() -> str:
    """docs/data.md's table (block ``needs``): each benchmark, its training task, and what each needs."""

    def cells(needs: Iterable[Need]) -> str:
        return ", ".join(" or ".join(f"`{f}`" for f in (n if isinstance(n, tuple) else (n,))) for n in needs)

    lines = ["| benchmark | needs | training task | needs |", "|---|---|---|---|"]
    for name, spec in SPECS.items():
        bench = cells(BENCHMARK_NEEDS[name])
        extra = [f"view `{view}` also {cells(n)}" for view, n in VIEW_NEEDS.get(name, {}).items() if n]
        if name == SIMILAR_GOODS:
            extra.append("`cards.subjectname` only with `benchmarks.similar_goods.same_subject: true`")
        if extra:
            bench += " (" + "; ".join(extra) + ")"
        lines.append(f"| {name} | {bench} | `{spec.task}` | {cells(TASK_NEEDS[spec.task])} |")
    return "\n".join(lines) + "\n"


def benchmark_stats(benchmarks: Mapping[str, Benchmark]) -> dict[str, Any]:
    """Sizes of every benchmark, for data/benchmarks/stats.json."""
    stats: dict[str, Any] = {}
    for name, bench in benchmarks.items():
        entry: dict[str, Any] = {"task": bench.spec.task, "kind": bench.spec.kind}
        for view, data in bench.retrieval.items():
            sizes = {
                "queries": len(data.queries),
                "corpus": len(data.corpus),
                "qrels": len(data.qrels),
                "relevant": int((data.qrels["score"] > 0).sum()),
                "excluded": len(data.excluded),
            }
            if view:
                entry[view] = sizes
            else:
                entry.update(sizes)
        if bench.classification is not None:
            data = bench.classification
            entry.update(
                {
                    "train": len(data.train),
                    "test": len(data.test),
                    "labels": int(data.train["label"].nunique()),
                    "test_label_counts": {str(k): int(v) for k, v in data.test["label"].value_counts().sort_index().items()},
                }
            )
        if bench.crossfit is not None:
            items = bench.crossfit.items
            entry.update(
                {
                    "items": len(items),
                    "labels": int(items["label"].nunique()),
                    "label_counts": {str(k): int(v) for k, v in items["label"].value_counts().sort_index().items()},
                    "fold_sizes": {str(k): int(v) for k, v in items["fold"].value_counts().sort_index().items()},
                }
            )
        for extra, frame in bench.extras.items():
            entry[extra] = len(frame)
        stats[name] = entry
    return stats


# --------------------------------------------------------------------------- storage


def load_synonyms(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path}: not found (run the synonyms stage first)")
    frame = pd.read_parquet(path)
    missing = {"brand", "variant", "split"} - set(frame.columns)
    if missing:
        raise EvaluationError(f"{path}: missing columns {sorted(missing)}")
    return frame


def _subset_dir(root: Path, name: str, view: str) -> Path:
    return root / name / view if view else root / name


def write_benchmarks(
    by_split: Mapping[str, Mapping[str, Benchmark]], out_dir: Path | str, extra_stats: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write every split's benchmarks (``<out_dir>/<split>/<Benchmark>``) and stats.json (their
    sizes, plus ``extra_stats``) into ``out_dir``, atomically; return the stats."""
    stats = {**(extra_stats or {}), **{split: benchmark_stats(benchmarks) for split, benchmarks in by_split.items()}}
    with atomic_dir(out_dir) as root:
        for split, benchmarks in by_split.items():
            _write_split(benchmarks, root / split)
        write_json(stats, root / STATS_FILE)
    return stats


def _write_split(benchmarks: Mapping[str, Benchmark], tmp: Path) -> None:
    for name, bench in benchmarks.items():
        for view, data in bench.retrieval.items():
            target = _subset_dir(tmp, name, view)
            target.mkdir(parents=True, exist_ok=True)
            for part in RETRIEVAL_FILES:
                getattr(data, part).to_parquet(target / f"{part}.parquet", index=False)
        if bench.classification is not None:
            target = tmp / name
            target.mkdir(parents=True, exist_ok=True)
            for part in CLASSIFICATION_FILES:
                getattr(bench.classification, part).to_parquet(target / f"{part}.parquet", index=False)
        if bench.crossfit is not None:
            (tmp / name).mkdir(parents=True, exist_ok=True)
            bench.crossfit.items.to_parquet(tmp / name / f"{CROSSFIT_FILE}.parquet", index=False)
        for extra, frame in bench.extras.items():
            frame.to_parquet(tmp / name / f"{extra}.parquet", index=False)


def _read(path: Path, stage: str = "benchmarks") -> pd.DataFrame:
    if not path.exists():
        raise EvaluationError(f"{path}: not found (run the {stage} stage first)")
    return pd.read_parquet(path)


SKIPPED = "skipped"


def read_skipped(root: Path | str) -> dict[str, str]:
    """The benchmarks (and views, "WBQAGoods/description") the benchmarks stage skipped, with the
    reason: ``skipped`` of ``<root>/stats.json``, present only when it skipped some."""
    path = Path(root) / STATS_FILE
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")).get(SKIPPED, {}))


def load_benchmark(root: Path | str, name: str, split: str, views: Iterable[str] | None = None) -> Benchmark:
    """One benchmark of one split, as :func:`write_benchmarks` stored it under ``root``
    (``views``: those of a multi-view benchmark that were built; default all)."""
    if split not in EVAL_SPLITS:
        raise EvaluationError(f"benchmarks exist for {EVAL_SPLITS}, not {split!r}")
    root = Path(root) / split
    spec = spec_of(name)
    if spec.kind == "crossfit":
        items = _read(root / name / f"{CROSSFIT_FILE}.parquet", "real_benchmarks")
        if items.empty:
            raise EvaluationError(f"{root / name / CROSSFIT_FILE}.parquet: no rows")
        return Benchmark(spec, crossfit=CrossFitSet(items))
    if spec.kind == "classification":
        parts = {p: _read(root / name / f"{p}.parquet") for p in CLASSIFICATION_FILES}
        for part, frame in parts.items():
            if frame.empty:
                raise EvaluationError(f"{root / name / part}.parquet: no rows")
        return Benchmark(spec, classification=ClassificationSet(**parts))
    views_read = {}
    for view in (spec.views if views is None else tuple(views)) or ("",):
        target = _subset_dir(root, name, view)
        data = RetrievalSet(**{p: _read(target / f"{p}.parquet") for p in RETRIEVAL_FILES})
        for part in ("queries", "corpus", "qrels"):
            if getattr(data, part).empty:
                raise EvaluationError(f"{target / part}.parquet: no rows")
        views_read[view] = data
    return Benchmark(spec, retrieval=views_read)


def built_names(root: Path | str) -> tuple[str, ...]:
    """The benchmarks of the 11 that the benchmarks stage built into ``root``, in order."""
    skipped = read_skipped(root)
    return tuple(name for name in BENCHMARK_NAMES if name not in skipped)


def load_benchmarks(
    root: Path | str, split: str, names: Iterable[str] | None = None
) -> dict[str, Benchmark]:
    """The benchmarks ``names`` of one split (default: every one of the 11 the stage built)."""
    skipped = read_skipped(root)
    names = built_names(root) if names is None else tuple(names)

    def views(name: str) -> list[str] | None:
        spec = spec_of(name)
        return [v for v in spec.views if f"{name}/{v}" not in skipped] if spec.views else None

    return {name: load_benchmark(root, name, split, views(name)) for name in names}
