"""What each benchmark and each training task needs from the raw dump: the one place it is declared.

A real dump rarely has every table (the search log and the support base sit with other teams) or
every column (few reviews carry a reason tag, few cards a description). The pipeline builds and
trains what the data supports; a benchmark or a training task whose needs the data does not meet
is skipped, with one log line naming what is missing, and listed under ``skipped`` with that
reason (``data/stats/benchmarks.json``, ``data/stats/triplets.json``, ``metrics/summary.json``).

A need is named as the raw-data contract names it (``docs/data.md``), so the message points at
what to add to the dump: a table (``product_qa``), a column of one (``reviews.reason``), or a
value inside a column (``cards.aggregated_charc_values[Пол]``: the gender characteristic). A
need met by any of several columns is a tuple of them. Whether a need is met is read off the
clean tables (:func:`field_counts`): a column that is absent from the file and one that is empty
on every row are the same thing, no value. The clean stage writes the same counts to
``data/stats/clean.json`` (``fields``).

Needs are about values; whether a met need leaves rows in the split a benchmark is built from is
the builders' question (:mod:`wb_embedder.evaluation.benchmarks`, :mod:`wb_embedder.triplets.tasks`),
and a builder that finds none skips its benchmark or task with that reason too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

Need = str | tuple[str, ...]  # a field, or any one of several


@dataclass(frozen=True)
class Field:
    """A thing a dump may or may not carry: how many clean rows have it, and in which clean table."""

    name: str
    table: str  # the clean table it is counted in
    what: str  # what one counted row is, for the messages ("reviews with a reason tag")
    count: Callable[[Mapping[str, pd.DataFrame]], int]


def _rows(table: str) -> Callable[[Mapping[str, pd.DataFrame]], int]:
    return lambda tables: len(tables[table])


def _non_empty(table: str, column: str) -> Callable[[Mapping[str, pd.DataFrame]], int]:
    return lambda tables: int((tables[table][column].fillna("").astype(str).str.strip() != "").sum())


def _positive(table: str, column: str) -> Callable[[Mapping[str, pd.DataFrame]], int]:
    return lambda tables: int((tables[table][column] > 0).sum())


FIELDS: dict[str, Field] = {
    field.name: field
    for field in [
        Field("cards", "products", "products", _rows("products")),
        Field("cards.subjectname", "products", "products with a subject (fine category)",
              _non_empty("products", "subjectname")),
        Field("cards.description", "products", "products with a description", _non_empty("products", "description")),
        Field("cards.brandname", "products", "products with a brand", _non_empty("products", "brandname")),
        Field("cards.aggregated_charc_values[Пол]", "products", "products with a gender (characteristic Пол)",
              _non_empty("products", "gender")),
        Field("cards.query", "search_log", "(query, product) rows of the search log", _rows("search_log")),
        Field("cards.view_cl_cnt", "search_log", "search-log rows with a view", _positive("search_log", "views")),
        Field("cards.cart_cl_cnt", "search_log", "search-log rows with an add-to-cart",
              _positive("search_log", "carts")),
        Field("reviews", "reviews", "reviews", _rows("reviews")),
        Field("reviews.reason", "reviews", "reviews with a reason tag", _non_empty("reviews", "reason")),
        Field("product_qa", "product_qa", "product questions", _rows("product_qa")),
        Field("product_qa.answer", "product_qa", "product questions with an answer",
              _non_empty("product_qa", "answer")),
        Field("support", "support", "support (fact, question) rows", _rows("support")),
        Field("support.intent", "support", "support rows with an intent", _non_empty("support", "intent")),
    ]
}

_ENGAGEMENT: tuple[str, ...] = ("cards.view_cl_cnt", "cards.cart_cl_cnt")

# Training tasks (triplets.groups) -> what their (anchor, positive) pairs are made of. Search pairs
# are positives by their relevance grade, which needs a view or an add-to-cart; similar goods are
# products engaged with for one query within one subject.
TASK_NEEDS: dict[str, tuple[Need, ...]] = {
    "search_query": ("cards.query", _ENGAGEMENT),
    "product_qa": ("product_qa",),
    "similar_goods": ("cards.query", _ENGAGEMENT, "cards.subjectname"),
    "support_facts": ("support",),
    "review_rating": ("reviews",),
    "review_polarity": ("reviews",),
    "review_reason": ("reviews.reason",),
    "goods_category": ("cards",),
    "goods_gender": ("cards.aggregated_charc_values[Пол]",),
    "support_intent": ("support.intent",),
    "brand_synonyms": ("cards.brandname",),
}

# The 11 benchmarks -> what they are built from. WBSimGoods-triplets' pseudo-sessions are the
# products viewed for one query, within one subject while benchmarks.similar_goods.same_subject
# is true (:func:`benchmark_needs`).
BENCHMARK_NEEDS: dict[str, tuple[Need, ...]] = {
    "WBQAGoods": ("product_qa",),
    "WBSimGoods-triplets": ("cards.query", "cards.view_cl_cnt", "cards.subjectname"),
    "WBSearchQueryNmRelevance": ("cards.query", _ENGAGEMENT),
    "WBQASupportFacts": ("support",),
    "WBReviewsClassification": ("reviews",),
    "WBReviewsPolarityClassification": ("reviews",),
    "WBReviewsSummarizationClassification": ("reviews.reason",),
    "WBGoodsCategoriesClassification": ("cards",),
    "WBGenderClassification": ("cards.aggregated_charc_values[Пол]",),
    "WBQASupportShort": ("support.intent",),
    "WBBrandSyns": ("cards.brandname",),
}

# Views of a multi-view benchmark with needs of their own: a view whose needs are unmet is left
# out (and listed as skipped, "WBQAGoods/description"); the benchmark's headline is the mean of
# the views built.
VIEW_NEEDS: dict[str, dict[str, tuple[Need, ...]]] = {
    "WBQAGoods": {"all": (), "answer": ("product_qa.answer",), "description": ("cards.description",)},
}

SUBJECT = "cards.subjectname"
SIMILAR_GOODS = "WBSimGoods-triplets"


def benchmark_needs(name: str, same_subject: bool = True) -> tuple[Need, ...]:
    """The needs of benchmark ``name``; ``same_subject``: ``benchmarks.similar_goods.same_subject``
    (pseudo-sessions kept within one subject need subjects)."""
    needs = BENCHMARK_NEEDS[name]
    if name == SIMILAR_GOODS and not same_subject:
        needs = tuple(need for need in needs if need != SUBJECT)
    return needs


def field_counts(tables: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """How many clean rows carry each field (:data:`FIELDS`), from the clean stage's tables."""
    return {name: field.count(tables) for name, field in FIELDS.items()}


def _alternatives(need: Need) -> tuple[str, ...]:
    return need if isinstance(need, tuple) else (need,)


def describe(need: Need) -> str:
    return " or ".join(_alternatives(need))


def unmet(needs: Iterable[Need], counts: Mapping[str, int]) -> list[Need]:
    """The needs no field of which has a value."""
    return [need for need in needs if not any(counts[f] > 0 for f in _alternatives(need))]


def missing_reason(needs: Iterable[Need], counts: Mapping[str, int]) -> str | None:
    """Why ``needs`` are not met, naming each missing one; None when met."""
    missing = [describe(need) for need in unmet(needs, counts)]
    if not missing:
        return None
    listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
    return f"needs {listed}, which the dump does not have (a table left out, a column absent or empty on every row)"
