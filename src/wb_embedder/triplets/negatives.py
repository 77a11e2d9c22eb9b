"""Negative candidates per (anchor, positive) pair, one strategy each, and the guards they pass.

A strategy only proposes candidates, best first; :func:`is_safe_negative` decides. The guards
hold for every strategy: a negative is never a document relevant to the anchor (the same
product, another product bought for the same query), never a duplicate title or the positive's
own text, never a text of the anchor's label, never a spelling of the positive's brand.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import pandas as pd

from wb_embedder.config import PromptPair
from wb_embedder.triplets.schema import NegativesConfig
from wb_embedder.triplets.tasks import TaskPairs

logger = logging.getLogger(__name__)

Candidate = tuple[str, float | None]  # (document key, cos(anchor, document) when the miner knows it)


def is_safe_negative(
    pairs: TaskPairs, anchor_label: str, positive_key: str, relevant: frozenset[str], negative_key: str,
    brand_variants: dict[str, set[str]],
) -> bool:
    if negative_key in relevant or negative_key == positive_key:
        return False
    negative, positive = pairs.documents[negative_key], pairs.documents[positive_key]
    if negative.title == positive.title or negative.text.lower() == positive.text.lower():
        return False
    if anchor_label and negative.label == anchor_label:
        return False
    if brand_variants:
        if negative.title in brand_variants.get(positive.title, set()):
            return False
        if positive.title in brand_variants.get(negative.title, set()):
            return False
    return True


def _shuffled_pool(keys: list[str], n: int, rng: np.random.Generator) -> list[str]:
    if len(keys) <= n:
        return [keys[i] for i in rng.permutation(len(keys))]
    return [keys[i] for i in rng.choice(len(keys), size=n, replace=False)]


def random_candidates(pairs: TaskPairs, n: int, rng: np.random.Generator) -> list[list[Candidate]]:
    keys = pairs.document_keys()
    return [[(k, None) for k in _shuffled_pool(keys, n, rng)] for _ in range(len(pairs.pairs))]


def same_category_candidates(pairs: TaskPairs, n: int, rng: np.random.Generator) -> list[list[Candidate]]:
    """Documents of the positive's category first (the earlier scripts' "basic" strategy), then
    any other, so that a small category still yields a negative."""
    by_category: dict[str, list[str]] = defaultdict(list)
    for key in pairs.document_keys():
        by_category[pairs.documents[key].category].append(key)
    everything = pairs.document_keys()
    out = []
    for positive_key in pairs.pairs["positive_key"]:
        category = pairs.documents[positive_key].category
        first = _shuffled_pool(by_category[category], n, rng) if category else []
        rest = _shuffled_pool(everything, n, rng)
        seen = set(first)
        out.append([(k, None) for k in first] + [(k, None) for k in rest if k not in seen])
    return out


def mined_candidates(
    pairs: TaskPairs, n: int, cfg: NegativesConfig, prompts: PromptPair, model: object, labelled: bool
) -> tuple[list[list[Candidate]], list[float | None]]:
    """Hard negatives from the base model's ranking, through sentence-transformers' miner.

    For labelled (classification) data the margin is off: the positive is just another text of
    the same label, so a closer text of another label is exactly the hard negative wanted, and
    the label guard, not a score, rules out false negatives.

    Returns candidates (with the miner's anchor-negative scores) and the anchor-positive score
    per pair; a pair for which the miner found too few candidates gets an empty list.
    """
    from datasets import Dataset

    from wb_embedder.training.compat import mine_hard_negatives_scored

    frame = pairs.pairs
    if frame.empty:
        return [], []
    keys = pairs.document_keys()
    corpus = [pairs.documents[k].text for k in keys]
    text_to_key = {}
    for key, text in zip(keys, corpus, strict=True):
        text_to_key.setdefault(text, key)
    range_max = min(cfg.mined.range_max, len(corpus))
    # The miner refuses to ask for more negatives than its rank window holds (one slot goes to
    # the positive); a tiny corpus just yields fewer candidates.
    n = min(n, range_max - cfg.mined.range_min - 1)
    if n < 1:
        return [[] for _ in range(len(frame))], [None] * len(frame)
    positives = [pairs.documents[k].text for k in frame["positive_key"]]
    dataset = Dataset.from_dict({"anchor": frame["anchor"].tolist(), "positive": positives})
    mined = mine_hard_negatives_scored(
        dataset,
        model,
        corpus=corpus,
        range_min=cfg.mined.range_min,
        range_max=range_max,
        relative_margin=None if labelled else cfg.mined.relative_margin,
        num_negatives=n,
        sampling_strategy="top",
        query_prompt=prompts.query,
        corpus_prompt=prompts.document,
        # (labeled-list format) every candidate that passes the margin is kept, however few: n-tuple
        # would drop an anchor outright when fewer than n pass, before our guards had a say.
        batch_size=cfg.mined.batch_size,
        use_faiss=cfg.mined.use_faiss,
        verbose=False,
    )
    found: dict[tuple[str, str], tuple[list[Candidate], float]] = {}
    for anchor, documents, scores in zip(mined["anchor"], mined["positive"], mined["scores"], strict=True):
        # The first document of each list is the positive itself, the rest are candidates, best first.
        candidates = [(text_to_key[d], float(s)) for d, s in zip(documents[1:], scores[1:], strict=True)]
        found[(anchor, documents[0])] = (candidates, float(scores[0]))
    candidates_per_pair, positive_scores = [], []
    for anchor, positive in zip(frame["anchor"], positives, strict=True):
        candidates, score = found.get((anchor, positive), ([], None))
        candidates_per_pair.append(candidates)
        positive_scores.append(score)
    return candidates_per_pair, positive_scores


def brand_variant_map(synonyms: pd.DataFrame) -> dict[str, set[str]]:
    """lower-cased brand -> its lower-cased variants (and itself)."""
    out: dict[str, set[str]] = defaultdict(set)
    for brand, variant in zip(synonyms["brand"].str.lower(), synonyms["variant"].str.lower(), strict=True):
        out[brand].add(variant)
        out[brand].add(brand)
    return dict(out)
