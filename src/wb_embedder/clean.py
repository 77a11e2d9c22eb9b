"""The clean stage: normalise, dedupe, filter and split the raw tables.

Outputs one table per entity, each with a ``split`` column ("train" / "dev" / "test"):
- products: one row per product card (the dump repeats card fields on every query row);
- search_log: one row per (query, product) with the show / view / cart counters;
- reviews, product_qa, support.

The split is by product (a hash of the product's family: near-copies and colour variants go
together) and by support fact, and queries follow the products they were shown with, so that no
evaluation (dev or test) product, query, review or fact reaches training.
"""

from __future__ import annotations

import html
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wb_embedder.config import RAW_TABLES, CleanConfig, DataConfig
from wb_embedder.contract import ContractError, empty_table, load_validated
from wb_embedder.near_duplicates import near_duplicate_groups
from wb_embedder.requirements import field_counts
from wb_embedder.splits import DEV, SPLITS, assign_splits

logger = logging.getLogger(__name__)

CARD_FIELDS = [
    "nmid",
    "title",
    "description",
    "subjectname",
    "parentname",
    "brandname",
    "aggregated_charc_values",
    "colornames_list",
    "isadult",
    "isdeleted",
]
COUNTERS = {"show_cl_cnt": "shows", "view_cl_cnt": "views", "cart_cl_cnt": "carts"}
# Characteristic names of the Wildberries card that carry the labels the benchmarks need.
GENDER_KEY, AGE_KEY = "Пол", "Возраст"

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
# Invisible characters that carry no text: zero-width space / non-joiner / joiner, word joiner and
# the invisible operators, the byte order mark (zero-width no-break space) and the soft hyphen.
# Removed, so that a text of nothing else is empty (and counted) and "Ni\u200bke" is "Nike".
# Bidi controls are not removed: a text that holds one is a bad_encoding row (contract.py).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060-\u2064\ufeff]")


@dataclass
class TableStats:
    rows_in: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # rule -> the column it judges
    rows_out: int = 0
    by_split: dict[str, int] = field(default_factory=dict)
    families: int | None = None
    products_in_shared_families: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, count: int, column: str) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)
            self.columns[reason] = column

    @property
    def dropped_by_column(self) -> dict[str, dict[str, int]]:
        return {rule: {self.columns[rule]: count} for rule, count in sorted(self.dropped.items())}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows_in": self.rows_in,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_by_column": self.dropped_by_column,
            "rows_out": self.rows_out,
            "by_split": dict(sorted(self.by_split.items())),
        }
        if self.families is not None:
            out["families"] = self.families
            out["products_in_shared_families"] = self.products_in_shared_families
        return {**out, **self.extra}


class TextNormalizer:
    """Unicode NFKC, HTML tags and entities, invisible characters, whitespace, and (per params) ё
    and case. Not idempotent (``&amp;lt;`` unescapes once per call): each raw text is cleaned once,
    by :func:`wb_embedder.contract.load_validated`, which then checks the cleaned texts."""

    def __init__(self, cfg: CleanConfig) -> None:
        self.cfg = cfg

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        if self.cfg.strip_html:
            # Tags become spaces so that "a<br>b" does not glue two words together.
            text = html.unescape(_TAG.sub(" ", text))
            text = unicodedata.normalize("NFKC", text)
        if self.cfg.replace_yo:
            text = text.replace("ё", "е").replace("Ё", "Е")
        if self.cfg.lowercase:
            text = text.lower()
        return _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def _split_of(keys: pd.Series, cfg: CleanConfig) -> np.ndarray:
    return assign_splits(keys, cfg.dev_fraction, cfg.test_fraction, cfg.split_salt)


def _normalise_characteristics(raw: dict[str, Any], norm: TextNormalizer) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, values in raw.items():
        items = values if isinstance(values, list) else [values]
        cleaned = [norm(str(v)) for v in items if v is not None and norm(str(v))]
        if cleaned:
            out[norm(str(name))] = cleaned
    return out


def _characteristics_text(charcs: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in charcs.items())


def _build_products(cards: pd.DataFrame, cfg: CleanConfig, norm: TextNormalizer, stats: TableStats) -> pd.DataFrame:
    # Every row of one nmid carries the same card by now (the contract's key_conflict rule), so
    # keeping the first loses nothing.
    products = cards[CARD_FIELDS].drop_duplicates(subset=["nmid"], keep="first").reset_index(drop=True)
    stats.rows_in = len(products)
    if cfg.drop_deleted:
        stats.drop("deleted_card", int(products["isdeleted"].sum()), "isdeleted")
        products = products[~products["isdeleted"]]
    if cfg.drop_adult:
        stats.drop("adult_card", int(products["isadult"].sum()), "isadult")
        products = products[~products["isadult"]]
    products = products.reset_index(drop=True)
    charcs = [_normalise_characteristics(raw, norm) for raw in products["aggregated_charc_values"]]
    return pd.DataFrame(
        {
            "nmid": products["nmid"].astype("int64"),
            "title": products["title"],
            "description": products["description"],
            "subjectname": products["subjectname"],
            "parentname": products["parentname"],
            "brandname": products["brandname"],
            "colors": [[norm(str(c)) for c in colors if norm(str(c))] for colors in products["colornames_list"]],
            "characteristics": [json.dumps(c, ensure_ascii=False) for c in charcs],
            "characteristics_text": [_characteristics_text(c) for c in charcs],
            "gender": [", ".join(c.get(GENDER_KEY, [])) for c in charcs],
            "age": [", ".join(c.get(AGE_KEY, [])) for c in charcs],
        }
    )


def _dedupe_products(products: pd.DataFrame, stats: TableStats) -> tuple[pd.DataFrame, dict[int, int]]:
    """Merge cards with the same title and description into the one with the lowest nmid."""
    products = products.sort_values("nmid", kind="stable").reset_index(drop=True)
    canonical = products.groupby(["title", "description"], sort=False)["nmid"].transform("first")
    merged = products["nmid"] != canonical
    stats.drop("duplicate_card", int(merged.sum()), "title+description")
    remap = dict(zip(products.loc[merged, "nmid"].tolist(), canonical[merged].tolist(), strict=True))
    return products[~merged].reset_index(drop=True), remap


def product_text(products: pd.DataFrame) -> pd.Series:
    """A product as a retrieval document (the benchmarks' ``all`` view, and the text the split
    groups near-copies by): title, brand, subject, characteristics, description."""
    columns = ["title", "brandname", "subjectname", "characteristics_text", "description"]
    return pd.Series(
        [". ".join(part for part in parts if part) for parts in products[columns].itertuples(index=False)],
        index=products.index,
        dtype=object,
    )


def product_families(products: pd.DataFrame, cfg: CleanConfig, near_copies: bool = True) -> pd.Series:
    """Each product's family, as the lowest nmid in it: products sharing a title (colour
    variants) and near-copies by their product text (one description template under another
    title, another colour) are one family, or an evaluation product would be a training text in
    all but a word. The text is the one the benchmarks rank and training reads, so the leakage
    audit re-checks exactly this rule. ``near_copies`` False groups by shared title only (the
    clean stage with ``clean.group_near_duplicates: false``; the audit always checks the rule)."""
    products = products.reset_index(drop=True)
    title_anchor = products.index.to_series().groupby(products["title"].str.lower()).transform("first")
    if not near_copies:
        groups = title_anchor.astype("int64").tolist()
        nmids = products["nmid"].astype("int64")
        return nmids.groupby(pd.Series(groups, index=products.index)).transform("min").astype("int64")
    texts = product_text(products).tolist()
    groups = near_duplicate_groups(texts, cfg.near_duplicates, links=title_anchor.astype("int64").tolist())
    nmids = products["nmid"].astype("int64")
    return nmids.groupby(pd.Series(groups, index=products.index)).transform("min").astype("int64")


def _assign_product_split(products: pd.DataFrame, cfg: CleanConfig, stats: TableStats) -> pd.Series:
    family = product_families(products, cfg, near_copies=cfg.group_near_duplicates)
    stats.families = int(family.nunique())
    stats.products_in_shared_families = int(family.duplicated(keep=False).sum())
    return pd.Series(_split_of(family, cfg), index=products.index)


SEARCH_LOG_COLUMNS = ("query", "nmid", *COUNTERS.values(), "split")


def _build_search_log(
    cards: pd.DataFrame, products: pd.DataFrame, remap: dict[int, int], cfg: CleanConfig
) -> tuple[pd.DataFrame, TableStats]:
    """The (query, product) rows of the cards that have a query, with their counters. A counter
    the dump does not give (an absent column or an empty cell) reads as no signal: no view, no
    add-to-cart, and as many shows as the row has views (at least one: a logged pair was shown);
    such cells are counted (``counters_missing``)."""
    has_query = cards["query"].str.strip() != ""
    stats = TableStats(rows_in=int(has_query.sum()))
    log = cards.loc[has_query, ["query", "nmid", *COUNTERS]]
    missing = {name: int(log[raw].isna().sum()) for raw, name in COUNTERS.items()}
    stats.extra["counters_missing"] = missing
    if any(missing.values()):
        views = log["view_cl_cnt"].fillna(0).astype("int64")
        carts = log["cart_cl_cnt"].fillna(0).astype("int64")
        shows = log["show_cl_cnt"].fillna(pd.Series(np.maximum(np.maximum(views, carts), 1), index=log.index))
        log = log.assign(show_cl_cnt=shows, view_cl_cnt=views, cart_cl_cnt=carts)
    log = log.astype({raw: "int64" for raw in COUNTERS}).rename(columns=COUNTERS)
    log["nmid"] = log["nmid"].map(lambda n: remap.get(n, n)).astype("int64")
    known = log["nmid"].isin(products["nmid"])
    stats.drop("product_dropped", int((~known).sum()), "nmid")
    log = log[known]
    if log.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object if c in ("query", "split") else "int64")
                              for c in SEARCH_LOG_COLUMNS})
        return empty, stats
    before = len(log)
    log = log.groupby(["query", "nmid"], sort=True, as_index=False)[list(COUNTERS.values())].sum()
    stats.drop("merged_duplicate_card", before - len(log), "nmid")

    product_split = dict(zip(products["nmid"], products["split"], strict=True))
    log["product_split"] = log["nmid"].map(product_split)
    # A query goes where most of its shows went, so few (query, product) pairs straddle the split;
    # a tie goes to the query's own hash split when it is among the tied, else to the first tied.
    shows = log.pivot_table(index="query", columns="product_split", values="shows", aggfunc="sum", fill_value=0)
    shows = shows.reindex(columns=list(SPLITS), fill_value=0)
    best = shows.max(axis=1)
    own = pd.Series(_split_of(pd.Series(shows.index), cfg), index=shows.index)
    tied = shows.eq(best, axis=0)
    first_tied = tied.idxmax(axis=1)
    own_tied = np.array([bool(tied.at[q, s]) for q, s in own.items()], dtype=bool)
    query_split = pd.Series(np.where(own_tied, own, first_tied), index=shows.index)
    log["split"] = log["query"].map(query_split)
    straddling = log["split"] != log["product_split"]
    stats.drop("query_product_split_mismatch", int(straddling.sum()), "query")
    log = log[~straddling].drop(columns="product_split").reset_index(drop=True)
    return log, stats


def _drop_eval_texts_seen_earlier(frame: pd.DataFrame, column: str, stats: TableStats) -> pd.DataFrame:
    """The same text can belong to two keys (a "Все отлично" review on a train and a test
    product): an evaluation copy would be a text seen in training, so it goes; a test copy of a
    dev text goes too, so that dev and test never share an item."""
    lowered = frame[column].str.lower()
    keep = pd.Series(True, index=frame.index)
    for later_index, later in enumerate(SPLITS[1:], start=1):
        for earlier in SPLITS[:later_index]:
            seen = set(lowered[frame["split"] == earlier])
            leak = keep & (frame["split"] == later) & lowered.isin(seen)
            stats.drop(f"{later}_{column}_seen_in_{earlier}", int(leak.sum()), column)
            keep &= ~leak
    return frame[keep].reset_index(drop=True)


def _attach_to_products(
    frame: pd.DataFrame, products: pd.DataFrame, remap: dict[int, int], stats: TableStats
) -> pd.DataFrame:
    frame = frame.copy()
    frame["nmid"] = frame["nmid"].map(lambda n: remap.get(n, n)).astype("int64")
    split = dict(zip(products["nmid"], products["split"], strict=True))
    frame["split"] = frame["nmid"].map(split)
    # Every nmid is a card's (the contract's unknown_product rule): the card was dropped here.
    unknown = frame["split"].isna()
    stats.drop("product_dropped", int(unknown.sum()), "nmid")
    return frame[~unknown].reset_index(drop=True)


def _finish(frame: pd.DataFrame, stats: TableStats) -> pd.DataFrame:
    stats.rows_out = len(frame)
    stats.by_split = {str(k): int(v) for k, v in frame["split"].value_counts().items()}
    return frame.reset_index(drop=True)


def clean_tables(
    data: DataConfig, cfg: CleanConfig, stats: dict[str, Any] | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Validate the raw tables named in ``data``, clean them, and return tables plus stats.

    ``stats`` (a dict to fill) holds, as the stage goes, what was read: the clean stage writes it
    to data/stats/clean.json also when this raises, so a failed run leaves its counts to read.
    A table that ``data`` leaves out (null) comes out empty, with its columns.
    """
    norm = TextNormalizer(cfg)
    stats = {} if stats is None else stats
    stats["contract"] = {}
    stats["warnings"] = warnings = []
    raw: dict[str, pd.DataFrame] = {}
    known: np.ndarray | None = None
    dropped_cards: np.ndarray | None = None
    for table in RAW_TABLES:
        path = getattr(data, table)
        if path is None:
            logger.info("%s: left out (data.%s is null)", table, table)
            raw[table] = empty_table(table)
            stats["contract"][table] = {"file": None}
            continue
        stats["contract"][table] = {"file": str(path)}
        logger.info("validating %s", path)
        # Text columns come back cleaned, checked a second time as cleaned texts.
        loaded = load_validated(path, table, cfg.on_bad_rows, cfg.json_limits, normalise=norm, known_nmids=known,
                                cards_file=str(data.cards), dropped_nmids=dropped_cards)
        raw[table] = loaded.frame
        stats["contract"][table] = loaded.stats()
        if loaded.absent:
            logger.info("%s: no column %s (read as empty)", path, ", ".join(loaded.absent))
        _warn(warnings, drop_warnings(f"{path} ({table})", loaded.rows_in, loaded.dropped_by_column,
                                      cfg.warn_drop_share))
        if table == "cards":
            known, dropped_cards = np.unique(loaded.frame["nmid"].to_numpy()), loaded.nmids_dropped

    product_stats = TableStats()
    products = _build_products(raw["cards"], cfg, norm, product_stats)
    products, remap = _dedupe_products(products, product_stats)
    products["split"] = _assign_product_split(products, cfg, product_stats)
    search_log, log_stats = _build_search_log(raw["cards"], products, remap, cfg)

    review_stats = TableStats(rows_in=len(raw["reviews"]))
    reviews = _attach_to_products(raw["reviews"], products, remap, review_stats)
    before = len(reviews)
    reviews = reviews.drop_duplicates(subset=["nmid", "text"], keep="first")
    review_stats.drop("duplicate_review", before - len(reviews), "nmid+text")
    reviews = _drop_eval_texts_seen_earlier(reviews, "text", review_stats)

    qa_stats = TableStats(rows_in=len(raw["product_qa"]))
    qa = _attach_to_products(raw["product_qa"], products, remap, qa_stats)
    before = len(qa)
    qa = qa.drop_duplicates(subset=["nmid", "question"], keep="first")
    qa_stats.drop("duplicate_question", before - len(qa), "nmid+question")
    qa = _drop_eval_texts_seen_earlier(qa, "question", qa_stats)

    support_stats = TableStats(rows_in=len(raw["support"]))
    support = raw["support"].copy()
    # Facts repeated under two ids are one fact: both ids follow the lowest one's split.
    fact_group = support.groupby(support["fact"].str.lower(), sort=False)["fact_id"].transform("min")
    support["split"] = _split_of(fact_group, cfg)
    support = _drop_eval_texts_seen_earlier(support, "question", support_stats)

    tables = {
        "products": _finish(products, product_stats),
        "search_log": _finish(search_log, log_stats),
        "reviews": _finish(reviews, review_stats),
        "product_qa": _finish(qa, qa_stats),
        "support": _finish(support, support_stats),
    }
    table_stats = {"products": product_stats, "search_log": log_stats, "reviews": review_stats,
                   "product_qa": qa_stats, "support": support_stats}
    stats.update({name: table.as_dict() for name, table in table_stats.items()})
    for name, table in table_stats.items():
        _warn(warnings, drop_warnings(name, table.rows_in, table.dropped_by_column, cfg.warn_drop_share))
    _require_products_in_every_split(tables["products"], product_stats, str(data.cards), cfg)
    _warn(warnings, _split_warnings(tables, table_stats, data, cfg))
    stats["fields"] = field_counts(tables)
    return tables, stats


def _warn(into: list[str], lines: list[str]) -> None:
    for line in lines:
        logger.warning("%s", line)
    into.extend(lines)


def drop_warnings(label: str, rows_in: int, by_column: dict[str, dict[str, int]], limit: float) -> list[str]:
    """One line per rule that dropped more than ``limit`` (clean.warn_drop_share) of a table."""
    lines = []
    for rule, columns in by_column.items():
        count = sum(columns.values())
        if rows_in and count / rows_in > limit:
            lines.append(f"{label}: rule {rule} dropped {count} of {rows_in} rows ({count / rows_in:.1%}), column "
                         f"{', '.join(map(repr, columns))} (more than clean.warn_drop_share = {limit})")
    return lines


# How the rows of each clean table are put in a split: what a message says when a split is empty.
SPLIT_RULES: dict[str, str] = {
    "products": "products are split by family (a salted hash: colour variants and near-copies stay together)",
    "search_log": (
        "a query goes to the split where most of its shows went, and its rows with products of another split "
        "are dropped (query_product_split_mismatch), so a query shown with products of every split, as a "
        "category-wide one is, lands in one split only, usually train"
    ),
    "reviews": "a review follows its product's split",
    "product_qa": "a question follows its product's split",
    "support": "support facts are split by a salted hash of the fact",
}

# The raw table each clean table is built from, to name the file a too-small table came from.
SOURCE_TABLE = {"products": "cards", "search_log": "cards", "reviews": "reviews", "product_qa": "product_qa",
                "support": "support"}


def _wanted_splits(cfg: CleanConfig) -> list[str]:
    return [split for split in SPLITS if split != DEV or cfg.dev_fraction > 0]


def _describe_drops(table: TableStats) -> str:
    if not table.dropped:
        return "no row dropped"
    return "dropped: " + ", ".join(f"{rule} {count} (column {table.columns[rule]!r})"
                                   for rule, count in sorted(table.dropped.items()))


def _require_products_in_every_split(products: pd.DataFrame, stats: TableStats, cards: str, cfg: CleanConfig) -> None:
    """Every benchmark and training task is built from the products of its split: a split without
    products stops the stage, saying what was dropped and how products are split."""
    counts = products["split"].value_counts()
    empty = [split for split in _wanted_splits(cfg) if counts.get(split, 0) == 0]
    if empty:
        raise ContractError(
            f"{cards}: too few products to split: after cleaning, products has {len(products)} rows "
            f"({stats.families} families) and none in the {' or '.join(empty)} split ({SPLIT_RULES['products']}; "
            f"{stats.rows_in} cards read, {_describe_drops(stats)})"
        )


def _split_warnings(
    tables: dict[str, pd.DataFrame], stats: dict[str, TableStats], data: DataConfig, cfg: CleanConfig
) -> list[str]:
    """A line for each table given that cleaning emptied, or that has no row in a split: the
    benchmarks and training tasks that need those rows are skipped (with this reason) by their
    stages, the rest is built."""
    lines = []
    for name in ("search_log", "reviews", "product_qa", "support"):
        frame, table = tables[name], stats[name]
        source = getattr(data, SOURCE_TABLE[name])
        if source is None or table.rows_in == 0:
            continue  # not in the dump: nothing was lost
        if frame.empty:
            lines.append(f"{source}: {name}: all {table.rows_in} rows were dropped while cleaning "
                         f"({_describe_drops(table)}); what needs them is skipped")
            continue
        counts = frame["split"].value_counts()
        empty = [split for split in _wanted_splits(cfg) if counts.get(split, 0) == 0]
        if empty:
            size = f"{len(frame)} rows"
            if name == "search_log":
                queries = frame["query"].nunique()
                size += f" of {queries} queries ({len(frame) / queries:.1f} products per query)"
            lines.append(f"{source}: {name} has {size} after cleaning and none in the {' or '.join(empty)} split: "
                         f"{SPLIT_RULES[name]}; what needs {name} rows in that split is skipped")
    return lines


CLEAN_TABLES: tuple[str, ...] = ("products", "search_log", "reviews", "product_qa", "support")


def read_clean_tables(clean_dir: Path | str) -> dict[str, pd.DataFrame]:
    """The clean stage's tables, as written to ``clean_dir``."""
    clean_dir = Path(clean_dir)
    missing = [name for name in CLEAN_TABLES if not (clean_dir / f"{name}.parquet").exists()]
    if missing:
        raise ContractError(f"{clean_dir}: missing {', '.join(missing)} (run the clean stage first)")
    return {name: pd.read_parquet(clean_dir / f"{name}.parquet") for name in CLEAN_TABLES}
