"""Params sections of the benchmarks and evaluate stages (``benchmarks:`` and ``evaluate:``).

Kept free of project imports but the shared params base (pydantic only): ``wb_embedder.config``
embeds these models in ``Params``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from wb_embedder.schema import StrictSection as _Strict

# MTEB task names are identifiers such as RuReviewsClassification or MIRACLRetrieval.v2.
_MTEB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


class SearchGradesConfig(_Strict):
    """Graded relevance of a (query, product) pair of the search log, from its counters.

    A pair is graded by its strongest signal: ``cart`` when carts >= ``min_carts``, else
    ``view`` when views >= ``min_views``, else ``show`` (shown, not opened: an implicit skip).
    Queries whose pairs all grade 0 have nothing to find and are left out.
    """

    cart: int = Field(ge=0)
    view: int = Field(ge=0)
    show: int = Field(ge=0)
    min_carts: int = Field(ge=1)
    min_views: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> SearchGradesConfig:
        if not self.cart >= self.view >= self.show:
            raise ValueError("grades must satisfy cart >= view >= show")
        if self.cart == 0:
            raise ValueError("cart grade must be positive, or no query has a relevant product")
        return self


class SimilarGoodsConfig(_Strict):
    """How (previous, anchor, next) triplets are derived without browsing sessions.

    For every test query (and, with ``same_subject``, every subject within it), the products a
    shopper engaged with (views >= ``min_views``) are ordered by engagement (carts, then views,
    then shows, descending) into a pseudo-session of at most ``max_session_length`` products;
    every three consecutive products form a triplet whose previous and next items are relevant
    to its anchor.
    """

    min_views: int = Field(ge=1)
    max_session_length: int = Field(ge=3)
    # Products of another subject shown for the same query are the search engine's confusions,
    # not substitutes: with true, a pseudo-session never crosses subjects.
    same_subject: bool


class ReviewPolarityConfig(_Strict):
    """Ratings >= ``positive_min_rating`` are positive, <= ``negative_max_rating`` negative, the
    rest left out."""

    positive_min_rating: int = Field(ge=1, le=5)
    negative_max_rating: int = Field(ge=1, le=5)

    @model_validator(mode="after")
    def _disjoint(self) -> ReviewPolarityConfig:
        if self.negative_max_rating >= self.positive_min_rating:
            raise ValueError("negative_max_rating must be below positive_min_rating")
        return self


# The 11 benchmarks, by name (evaluation.benchmarks.SPECS, whose keys a test holds to these): a
# closed set, so a misspelt name under benchmarks.skip is an error, not a benchmark built anyway.
BenchmarkName = Literal[
    "WBQAGoods", "WBSimGoods-triplets", "WBSearchQueryNmRelevance", "WBQASupportFacts", "WBReviewsClassification",
    "WBReviewsPolarityClassification", "WBReviewsSummarizationClassification", "WBGoodsCategoriesClassification",
    "WBGenderClassification", "WBQASupportShort", "WBBrandSyns",
]


class BenchmarksConfig(_Strict):
    """Knobs of benchmark construction (stage ``benchmarks``)."""

    search_grades: SearchGradesConfig
    similar_goods: SimilarGoodsConfig
    review_polarity: ReviewPolarityConfig
    # WBQASupportShort keeps the support questions of at most this many words.
    support_short_max_words: int = Field(ge=1)
    # Placeholder brand values ("Нет бренда") that are not brands a variant could point to.
    ignored_brands: list[str]
    # A classification label with fewer training examples is left out of both splits: a label
    # logistic regression barely sees measures the split, not the embeddings.
    min_train_examples_per_label: int = Field(ge=1)
    # Benchmarks switched off: not built, listed under `skipped` (data/stats/benchmarks.json,
    # metrics/summary.json) as the ones the data cannot build are.
    skip: list[BenchmarkName]


class RealTextConfig(_Strict):
    """The real-text benchmarks (stage ``real_benchmarks``): real marketplace text, kept in git
    beside its provenance and used for evaluation only (never trained on, never tuned on beyond
    choosing on its dev half).

    Each text's near-copy family (``clean.near_duplicates``) is hashed once: the lower
    ``test_fraction`` of the hash goes to the test half, the rest to dev. Inside a half, a
    classifier probe is cross-fitted over ``folds`` folds of the same families (a second salted
    hash), so every text is scored by a probe that never saw it or its near-copy.
    """

    # Tab-separated, with a header: title / category / root, and text / stars / product.
    titles: str = Field(min_length=1)
    reviews: str = Field(min_length=1)
    test_fraction: float = Field(gt=0, lt=1)
    split_salt: str = Field(min_length=1)
    folds: int = Field(ge=2)


class ClassificationConfig(_Strict):
    """MTEB's classification protocol: logistic regression on frozen embeddings."""

    n_experiments: int = Field(ge=1)
    samples_per_label: int = Field(ge=1)
    max_iter: int = Field(ge=1)


class BootstrapConfig(_Strict):
    """Percentile bootstrap over the items of a benchmark (queries, test examples)."""

    samples: int = Field(ge=10)
    confidence: float = Field(gt=0, lt=1)


class LexicalConfig(_Strict):
    """The lexical baselines: BM25 (retrieval) and TF-IDF + logistic regression (classification)."""

    bm25_k1: float = Field(gt=0)
    bm25_b: float = Field(ge=0, le=1)
    char_ngram_min: int = Field(ge=1)
    char_ngram_max: int = Field(ge=1)
    # TF-IDF terms must occur in at least this many training texts.
    min_df: int = Field(ge=1)

    @model_validator(mode="after")
    def _ngrams(self) -> LexicalConfig:
        if self.char_ngram_min > self.char_ngram_max:
            raise ValueError("char_ngram_min must not exceed char_ngram_max")
        return self


class EvaluateConfig(_Strict):
    """Knobs of the evaluate stages (``evaluate_base`` and ``evaluate``)."""

    batch_size: int = Field(ge=1)
    # null lets sentence-transformers pick (cuda when present); "cpu" gives bit-identical reruns.
    device: str | None
    k_values: list[int] = Field(min_length=1)
    # The headline of retrieval benchmarks is NDCG at this cut-off (one of k_values).
    main_k: int = Field(ge=1)
    classification: ClassificationConfig
    bootstrap: BootstrapConfig
    lexical: LexicalConfig
    # MTEB task names (e.g. RuReviewsClassification, RiaNewsRetrieval) scored with the models
    # (evaluate_base, evaluate) where the hub is reachable: do general skills survive
    # fine-tuning? Offline each is skipped with one log line and counted in run.json.
    external_tasks: list[str]
    # The model.prompts task whose prompt pair encodes the external tasks' texts (query side for
    # queries and classification texts, document side for corpora).
    external_prompts: str = Field(min_length=1)

    @field_validator("external_tasks")
    @classmethod
    def _task_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not _MTEB_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"not MTEB task names: {bad}")
        if len(set(names)) != len(names):
            raise ValueError("external_tasks must be distinct")
        return names

    @model_validator(mode="after")
    def _k_values(self) -> EvaluateConfig:
        if any(k < 1 for k in self.k_values) or len(set(self.k_values)) != len(self.k_values):
            raise ValueError("k_values must be distinct positive integers")
        if self.main_k not in self.k_values:
            raise ValueError(f"main_k ({self.main_k}) must be one of k_values {self.k_values}")
        return self
