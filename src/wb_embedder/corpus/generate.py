"""Assemble the four raw tables of the demo marketplace from one seed."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd

from wb_embedder.config import CorpusConfig

from .catalog import Product, build_catalog
from .qa import build_qa, split_mentions
from .queries import build_search_log
from .rand import streams
from .reviews import build_reviews
from .support import build_support

logger = logging.getLogger(__name__)

CARD_COLUMNS = (
    "aggregated_charc_values", "title", "description", "subjectname", "brandname", "parentname", "colornames_list",
    "isadult", "isdeleted", "nmid", "query", "show_cl_cnt", "view_cl_cnt", "cart_cl_cnt",
)
REVIEW_COLUMNS = ("review_id", "nmid", "text", "rating", "reason")
QA_COLUMNS = ("qa_id", "nmid", "question", "answer")
SUPPORT_COLUMNS = ("fact_id", "intent", "fact", "question")
TABLES = ("cards", "reviews", "product_qa", "support")
# Not a raw table: which product fields each product question names (qa.split_mentions).
MENTIONS_TABLE = "product_qa_mentions"


def _cards(products: list[Product], log: pd.DataFrame) -> pd.DataFrame:
    """One row per (query, product): the card fields repeat on every query row, as in the dump."""
    charcs = [json.dumps(p.chars, ensure_ascii=False) for p in products]
    colours = [json.dumps(p.colours, ensure_ascii=False) for p in products]
    idx = log["product"].to_numpy()

    def per_row(values: list) -> list:
        return [values[i] for i in idx]

    frame = pd.DataFrame({
        "aggregated_charc_values": pd.array(per_row(charcs), dtype="str"),
        "title": pd.array(per_row([p.title for p in products]), dtype="str"),
        "description": pd.array(per_row([p.description for p in products]), dtype="str"),
        "subjectname": pd.array(per_row([p.subject.name for p in products]), dtype="str"),
        "brandname": pd.array(per_row([p.brand for p in products]), dtype="str"),
        "parentname": pd.array(per_row([p.subject.parent for p in products]), dtype="str"),
        "colornames_list": pd.array(per_row(colours), dtype="str"),
        "isadult": np.array([products[i].isadult for i in idx], dtype=bool),
        "isdeleted": np.array([products[i].isdeleted for i in idx], dtype=bool),
        "nmid": np.array([products[i].nmid for i in idx], dtype=np.int64),
        "query": pd.array(log["query"].tolist(), dtype="str"),
        "show_cl_cnt": log["show_cl_cnt"].to_numpy(dtype=np.int64),
        "view_cl_cnt": log["view_cl_cnt"].to_numpy(dtype=np.int64),
        "cart_cl_cnt": log["cart_cl_cnt"].to_numpy(dtype=np.int64),
    })
    return frame[list(CARD_COLUMNS)]


def generate_corpus(cfg: CorpusConfig, seed: int, *, record_mentions: bool = False) -> dict[str, pd.DataFrame]:
    """Returns {"cards": ..., "reviews": ..., "product_qa": ..., "support": ...}.

    Deterministic: the same ``cfg`` and ``seed`` give identical frames on any machine, because
    every draw comes from generators spawned from ``seed`` and nothing iterates over sets or
    depends on ``hash()``. ``record_mentions`` adds ``"product_qa_mentions"``: the generator's
    record of what of its product each product question names (qa_id, nmid, field, value); the
    four raw tables are the same either way.
    """
    started = time.perf_counter()
    rng = streams(seed, ("catalog", "queries", "reviews", "qa", "support"))
    products = build_catalog(cfg.n_products, rng["catalog"][0])
    log = build_search_log(products, cfg.queries_per_product, *rng["queries"])
    # each part draws from its own stream, so the order of these calls does not matter
    qa, mentions = split_mentions(build_qa(products, cfg.qa_per_product, rng["qa"][0]))
    tables = {
        "cards": _cards(products, log),
        "reviews": build_reviews(products, cfg.reviews_per_product, rng["reviews"][0]),
        "product_qa": qa,
        "support": build_support(cfg.n_support_facts, cfg.questions_per_fact, rng["support"][0]),
    }
    if record_mentions:
        tables[MENTIONS_TABLE] = mentions
    logger.info(
        "corpus generated in %.1f s: %s", time.perf_counter() - started,
        ", ".join(f"{name}={len(frame)}" for name, frame in tables.items()),
    )
    return tables
