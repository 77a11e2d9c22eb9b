"""(anchor, positive) pairs per training task, built from the training split only.

Every pair carries what the negative guards need: the ids of the documents relevant to the
anchor (never a negative), the positive's title (a duplicate title is never a negative), the
anchor's label (classification: never a negative of the same label) and a category (for the
``same_category`` strategy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wb_embedder.brand_mentions import BrandMatcher, eval_brand_spellings
from wb_embedder.clean import product_text
from wb_embedder.evaluation.schema import BenchmarksConfig
from wb_embedder.labels import review_polarity, search_grades
from wb_embedder.splits import EVAL_SPLITS, TRAIN
from wb_embedder.triplets.schema import PositivesConfig

logger = logging.getLogger(__name__)


@dataclass
class Document:
    """A text that can be a positive or a negative, with the keys the guards compare."""

    text: str
    key: str  # product / fact / brand / text identity
    title: str
    category: str
    label: str = ""


@dataclass
class TaskPairs:
    task: str
    group: str
    pairs: pd.DataFrame  # anchor, positive_key, relevant_keys (frozenset), label
    documents: dict[str, Document] = field(default_factory=dict)  # key -> document
    fused: dict[str, str] = field(default_factory=dict)  # key -> "field: value, ..." text
    # Training rows without the task's label (a review without a reason tag): left out of this
    # task only, counted in data/stats/triplets.json.
    left_out: int = 0

    @property
    def labelled(self) -> bool:
        return bool((self.pairs["label"] != "").any()) if len(self.pairs) else False

    def document_keys(self) -> list[str]:
        return sorted(self.documents)


def product_fused(row: pd.Series) -> str:
    fields = {
        "название": row["title"],
        "бренд": row["brandname"],
        "категория": row["parentname"],
        "предмет": row["subjectname"],
        "характеристики": row["characteristics_text"],
    }
    return ", ".join(f"{name}: {value}" for name, value in fields.items() if value)


def _product_documents(products: pd.DataFrame) -> tuple[dict[str, Document], dict[str, str]]:
    docs, fused = {}, {}
    for row, text in zip(products.itertuples(index=False), product_text(products), strict=True):
        key = f"nm{row.nmid}"
        docs[key] = Document(text, key, row.title.lower(), row.parentname)
        fused[key] = product_fused(pd.Series(row._asdict()))
    return docs, fused


def _cap(pairs: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """Keep at most ``limit`` anchors (with all their positives), chosen reproducibly."""
    anchors = pairs["anchor"].drop_duplicates().sort_values().to_numpy()
    if len(anchors) > limit:
        rng = np.random.default_rng(seed)
        anchors = np.sort(rng.choice(anchors, size=limit, replace=False))
    return pairs[pairs["anchor"].isin(set(anchors))].sort_values(["anchor", "positive_key"]).reset_index(drop=True)


def search_query_pairs(
    products: pd.DataFrame, log: pd.DataFrame, cfg: PositivesConfig, labels: BenchmarksConfig, seed: int
) -> TaskPairs:
    docs, fused = _product_documents(products)
    log = log.copy()
    log["grade"] = search_grades(log, labels.search_grades)
    log = log.sort_values(["query", "grade", "carts", "views", "nmid"], ascending=[True, False, False, False, True])
    relevant = log[log["grade"] >= cfg.search_min_grade]
    relevant_keys = relevant.groupby("query")["nmid"].agg(lambda s: frozenset(f"nm{n}" for n in s))
    # Shown but ignored products are not relevant, yet not safe negatives either (a user may
    # have bought elsewhere): keep every logged product out of that query's negatives.
    logged_keys = log.groupby("query")["nmid"].agg(lambda s: frozenset(f"nm{n}" for n in s))
    top = relevant.groupby("query", sort=True).head(cfg.max_positives_per_anchor)
    pairs = pd.DataFrame(
        {
            "anchor": top["query"].to_numpy(),
            "positive_key": [f"nm{n}" for n in top["nmid"]],
            "relevant_keys": [relevant_keys[q] | logged_keys[q] for q in top["query"]],
            "label": "",
        }
    )
    return TaskPairs("search_query", "", _cap(pairs, cfg.max_anchors_per_task, seed), docs, fused)


def product_qa_pairs(products: pd.DataFrame, qa: pd.DataFrame, cfg: PositivesConfig, seed: int) -> TaskPairs:
    docs, fused = _product_documents(products)
    pairs = pd.DataFrame(
        {
            "anchor": qa["question"].to_numpy(),
            "positive_key": [f"nm{n}" for n in qa["nmid"]],
            "label": "",
        }
    ).drop_duplicates(["anchor", "positive_key"])
    # The same question asked about several products: all of them are relevant to it.
    relevant = pairs.groupby("anchor")["positive_key"].agg(frozenset)
    pairs["relevant_keys"] = pairs["anchor"].map(relevant)
    return TaskPairs("product_qa", "", _cap(pairs, cfg.max_anchors_per_task, seed), docs, fused)


def similar_goods_pairs(
    products: pd.DataFrame, log: pd.DataFrame, cfg: PositivesConfig, labels: BenchmarksConfig, seed: int
) -> TaskPairs:
    """Products bought (or viewed) for the same query and of the same subject are similar."""
    docs, fused = _product_documents(products)
    log = log.copy()
    log["grade"] = search_grades(log, labels.search_grades)
    engaged = log[log["grade"] >= cfg.search_min_grade].merge(products[["nmid", "subjectname"]], on="nmid")
    both = engaged.merge(engaged, on=["query", "subjectname"], suffixes=("_a", "_b"))
    both = both[both["nmid_a"] != both["nmid_b"]].drop_duplicates(["nmid_a", "nmid_b"])
    both = both.sort_values(["nmid_a", "nmid_b"]).groupby("nmid_a").head(cfg.max_positives_per_anchor)
    similar = both.groupby("nmid_a")["nmid_b"].agg(lambda s: frozenset(f"nm{n}" for n in s))
    pairs = pd.DataFrame(
        {
            "anchor": [docs[f"nm{n}"].text for n in both["nmid_a"]],
            "positive_key": [f"nm{n}" for n in both["nmid_b"]],
            "relevant_keys": [similar[n] | {f"nm{n}"} for n in both["nmid_a"]],
            "label": "",
        }
    )
    return TaskPairs("similar_goods", "", _cap(pairs, cfg.max_anchors_per_task, seed), docs, fused)


def support_fact_pairs(support: pd.DataFrame, cfg: PositivesConfig, seed: int) -> TaskPairs:
    facts = support.drop_duplicates("fact_id").sort_values("fact_id")
    docs = {f"fact{r.fact_id}": Document(r.fact, f"fact{r.fact_id}", r.fact.lower(), r.intent) for r in facts.itertuples()}
    pairs = pd.DataFrame(
        {
            "anchor": support["question"].to_numpy(),
            "positive_key": [f"fact{f}" for f in support["fact_id"]],
            "label": "",
        }
    ).drop_duplicates(["anchor", "positive_key"])
    relevant = pairs.groupby("anchor")["positive_key"].agg(frozenset)
    pairs["relevant_keys"] = pairs["anchor"].map(relevant)
    return TaskPairs("support_facts", "", _cap(pairs, cfg.max_anchors_per_task, seed), docs)


def brand_synonym_pairs(synonyms: pd.DataFrame, brands: list[str], cfg: PositivesConfig, seed: int) -> TaskPairs:
    docs = {f"brand:{b.lower()}": Document(b, f"brand:{b.lower()}", b.lower(), "") for b in brands}
    rows = synonyms[synonyms["brand"].str.lower().map(lambda b: f"brand:{b}" in docs)]
    pairs = pd.DataFrame(
        {
            "anchor": rows["variant"].to_numpy(),
            "positive_key": [f"brand:{b.lower()}" for b in rows["brand"]],
            "label": "",
        }
    ).drop_duplicates(["anchor", "positive_key"])
    # A variant generated for two brands ("пума" for Puma and Pума) must not be a negative of either.
    relevant = pairs.groupby("anchor")["positive_key"].agg(frozenset)
    pairs["relevant_keys"] = pairs["anchor"].map(relevant)
    return TaskPairs("brand_synonyms", "", _cap(pairs, cfg.max_anchors_per_task, seed), docs)


def classification_pairs(task: str, texts: pd.Series, labels: pd.Series, cfg: PositivesConfig, seed: int) -> TaskPairs:
    """(text, another text of the same label): shaped for a contrastive loss that knows labels."""
    frame = pd.DataFrame({"text": texts.to_numpy(), "label": labels.astype(str).to_numpy()})
    left_out = int((frame["label"] == "").sum())
    frame = frame[frame["label"] != ""].drop_duplicates("text").sort_values(["label", "text"]).reset_index(drop=True)
    docs = {f"t:{t}": Document(t, f"t:{t}", t.lower(), lab, lab) for t, lab in zip(frame["text"], frame["label"], strict=True)}
    rng = np.random.default_rng(seed)
    anchors, positives, anchor_labels = [], [], []
    for label, group in frame.groupby("label", sort=True):
        members = group["text"].to_numpy()
        if len(members) < 2:
            continue  # a label seen once has no positive: counted by the caller as "singleton labels"
        shuffled = members[rng.permutation(len(members))]
        # Each text's positive is its neighbour in a random cycle: every text is an anchor once
        # and a positive once, and never its own positive.
        anchors += list(shuffled)
        positives += list(np.roll(shuffled, -1))
        anchor_labels += [label] * len(shuffled)
    pairs = pd.DataFrame(
        {
            "anchor": anchors,
            "positive_key": [f"t:{p}" for p in positives],
            "relevant_keys": [frozenset({f"t:{a}", f"t:{p}"}) for a, p in zip(anchors, positives, strict=True)],
            "label": anchor_labels,
        }
    )
    return TaskPairs(task, "", _cap(pairs, cfg.max_anchors_per_task, seed), docs, left_out=left_out)


def withhold_eval_brands(
    train: dict[str, pd.DataFrame], synonyms: pd.DataFrame, brands: list[str], matcher: BrandMatcher
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, list[str], dict[str, int]]:
    """Training rows that mention a WBBrandSyns dev / test brand (by name or any variant) are
    dropped, and counted: a model trained on "адидас" next to an Adidas card has seen the
    answer to a test query. Returns the filtered tables, synonyms and brands, and the counts."""
    dropped: dict[str, int] = {}
    if not matcher:
        return train, synonyms, brands, dropped

    def keep(name: str, frame: pd.DataFrame, texts: pd.Series) -> pd.DataFrame:
        mentions = texts.map(matcher.mentions).astype(bool)
        dropped[name] = int(mentions.sum())
        return frame[~mentions.to_numpy()].reset_index(drop=True)

    out = dict(train)
    products = train["products"]
    out["products"] = keep("products", products, product_text(products))
    kept_nmids = set(out["products"]["nmid"])
    # A query or question about a withheld product has no positive left: it goes with it.
    for name, column in (("search_log", "query"), ("product_qa", "question")):
        frame = train[name]
        frame = frame[frame["nmid"].isin(kept_nmids)].reset_index(drop=True)
        dropped[f"{name}_of_dropped_products"] = len(train[name]) - len(frame)
        out[name] = keep(name, frame, frame[column].astype(str))
    out["reviews"] = keep("reviews", train["reviews"], train["reviews"]["text"].astype(str))
    support = train["support"]
    out["support"] = keep("support", support, support["question"] + " " + support["fact"])
    synonyms = keep("brand_variants", synonyms, synonyms["brand"] + " " + synonyms["variant"])
    kept_brands = [b for b in brands if not matcher.mentions(b)]
    dropped["brands"] = len(brands) - len(kept_brands)
    logger.info("withheld training rows that mention dev/test brands: %s", dropped)
    return out, synonyms, kept_brands, dropped


@dataclass
class TrainingTables:
    """The training split of every clean table, rows that mention a WBBrandSyns dev / test brand
    withheld (:func:`withhold_eval_brands`): what every training text is drawn from."""

    tables: dict[str, pd.DataFrame]
    synonyms: pd.DataFrame  # train-split brand variants
    brands: list[str]  # train brands, evaluated ones withheld
    withheld: dict[str, int]  # rows withheld per table (and brands)
    matcher: BrandMatcher  # the evaluated brands' spellings


def training_tables(tables: dict[str, pd.DataFrame], synonyms: pd.DataFrame) -> TrainingTables:
    """The training split only, with no evaluated brand in it."""
    train = {name: frame[frame["split"] == TRAIN].reset_index(drop=True) for name, frame in tables.items()}
    matcher = BrandMatcher(eval_brand_spellings(synonyms, EVAL_SPLITS)) if "split" in synonyms else BrandMatcher({})
    syn_train = synonyms[synonyms["split"] == TRAIN] if "split" in synonyms else synonyms
    brands = sorted({b for b in train["products"]["brandname"] if b})
    train, syn_train, brands, withheld = withhold_eval_brands(train, syn_train, brands, matcher)
    return TrainingTables(train, syn_train, brands, withheld, matcher)


def task_pairs(
    training: TrainingTables, cfg: PositivesConfig, labels: BenchmarksConfig, seed: int, tasks: Iterable[str] | None = None,
) -> dict[str, TaskPairs]:
    """The pairs of every task in ``tasks`` (default all) from the training tables; a task is built
    only when asked for, so one whose columns a partial dump lacks is never touched. Relevance
    grades and review polarity follow the benchmarks' rules (``labels``: :mod:`wb_embedder.labels`),
    so training labels mean what the benchmarks score."""
    train, syn_train, brands = training.tables, training.synonyms, training.brands
    products, log = train["products"], train["search_log"]
    reviews, support = train["reviews"], train["support"]
    builders: dict[str, Callable[[], TaskPairs]] = {
        "search_query": lambda: search_query_pairs(products, log, cfg, labels, seed),
        "product_qa": lambda: product_qa_pairs(products, train["product_qa"], cfg, seed),
        "similar_goods": lambda: similar_goods_pairs(products, log, cfg, labels, seed),
        "support_facts": lambda: support_fact_pairs(support, cfg, seed),
        "review_rating": lambda: classification_pairs("review_rating", reviews["text"], reviews["rating"], cfg, seed),
        "review_polarity": lambda: classification_pairs(
            "review_polarity", reviews["text"], review_polarity(reviews["rating"], labels.review_polarity), cfg, seed
        ),
        "review_reason": lambda: classification_pairs("review_reason", reviews["text"], reviews["reason"], cfg, seed),
        "goods_category": lambda: classification_pairs(
            "goods_category", products["title"], products["parentname"], cfg, seed),
        "goods_gender": lambda: classification_pairs("goods_gender", products["title"], products["gender"], cfg, seed),
        "support_intent": lambda: classification_pairs(
            "support_intent", support["question"], support["intent"], cfg, seed),
        "brand_synonyms": lambda: brand_synonym_pairs(syn_train, brands, cfg, seed),
    }
    return {task: builders[task]() for task in (builders if tasks is None else tasks)}
