"""gen_triplets: training rows per task group, with negatives, confidence and the annotation loop."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from wb_embedder.config import PromptPair
from wb_embedder.errors import WbEmbedderError
from wb_embedder.evaluation.embedding_cache import EmbeddingCache
from wb_embedder.evaluation.schema import BenchmarksConfig
from wb_embedder.requirements import TASK_NEEDS, field_counts, missing_reason
from wb_embedder.triplets.annotation import QUEUE_COLUMNS, Verdicts, confidence, overlap, triplet_id
from wb_embedder.triplets.negatives import (
    Candidate,
    brand_variant_map,
    is_safe_negative,
    mined_candidates,
    random_candidates,
    same_category_candidates,
)
from wb_embedder.triplets.schema import TripletsConfig
from wb_embedder.triplets.tasks import TaskPairs, task_pairs, training_tables
from wb_embedder.triplets.unsupervised import NAME as UNSUPERVISED
from wb_embedder.triplets.unsupervised import unsupervised_samples

logger = logging.getLogger(__name__)


class TripletsError(WbEmbedderError, ValueError):
    """The triplet configuration or inputs cannot produce training data."""


class UnitEncoder:
    """The base model as the embedding cache's encoder here: unit vectors, since the miner and the
    confidence score read dot products as cosines.

    The texts go to the model sorted: sentence-transformers batches them by length with an
    unstable sort, so the order they arrive in would pick which equal-length texts share a batch,
    and the padding of a batch moves the last float digits. Sorted, the vectors of a text do not
    depend on which task asked for it first.
    """

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        order = sorted(range(len(texts)), key=texts.__getitem__)
        vectors = self.model.encode(
            [texts[i] for i in order], prompt=prompt, batch_size=self.batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=len(texts) > 1000,
        )
        out = np.empty_like(vectors)
        out[order] = vectors
        return out


def embedding_cache(model: Any, batch_size: int) -> EmbeddingCache:
    """The run's cache (the evaluation's, content-addressed) over the model's unit vectors."""
    return EmbeddingCache(UnitEncoder(model, batch_size))


class CachedModel:
    """The base model as :func:`util.mine_hard_negatives` sees it, with encoding served by the
    run's :class:`EmbeddingCache`: a product text that five tasks mine against is encoded once."""

    def __init__(self, model: Any, cache: EmbeddingCache) -> None:
        self._model, self._cache = model, cache

    def encode_query(self, sentences: list[str], prompt: str | None = None, **_: Any) -> np.ndarray:
        return self._cache.embed(prompt or "", list(sentences))

    encode_document = encode_query

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@dataclass
class TaskCounts:
    pairs: int = 0
    rows: int = 0
    negatives: int = 0
    guard_rejected: int = 0
    filtered_false_negative: int = 0
    queued: int = 0
    held_for_annotation: int = 0
    accepted: int = 0
    rejected: int = 0
    swapped: int = 0
    not_enough_negatives: int = 0
    fallback_random: int = 0
    verdict_ids_seen: set[str] = field(default_factory=set)


def _strategy_candidates(
    pairs: TaskPairs, cfg: TripletsConfig, prompts: PromptPair, model: Any, rng: np.random.Generator, wanted: int
) -> tuple[list[list[Candidate]], list[float | None], list[int]]:
    """Candidates per pair, best first; the last list says how many of each row the strategy
    itself proposed (the rest are the random fallback, counted in the stats)."""
    n = wanted * cfg.negatives.mined.oversample
    strategy = cfg.negatives.strategy
    if strategy != "mined":
        # fusion_multineg draws its k negatives as same_category does
        draw = random_candidates if strategy == "random" else same_category_candidates
        candidates = draw(pairs, n, rng)
        return candidates, [None] * len(pairs.pairs), [len(row) for row in candidates]
    # A labelled text's nearest neighbours mostly share its label, which the guard rejects: take
    # the whole rank window, so the nearest text of another label is found where there is one.
    window = cfg.negatives.mined.range_max if pairs.labelled else n
    mined, positive_scores = mined_candidates(pairs, window, cfg.negatives, prompts, model, labelled=pairs.labelled)
    # Where the window holds too few safe negatives, random ones keep the pair in training.
    fallback = random_candidates(pairs, n, rng)
    combined = []
    for own, extra in zip(mined, fallback, strict=True):
        seen = {key for key, _ in own}
        combined.append(own + [c for c in extra if c[0] not in seen])
    return combined, positive_scores, [len(row) for row in mined]


def _score_missing(
    pairs: TaskPairs, candidates: list[list[Candidate]], positive_scores: list[float | None],
    prompts: PromptPair, cache: EmbeddingCache,
) -> tuple[list[list[Candidate]], list[float]]:
    """Fill in cos(anchor, document) where the strategy did not compute it."""
    if all(c[1] is not None for row in candidates for c in row):
        # The miner scored everything it proposed; a pair it found nothing for needs no score.
        return candidates, [float("nan") if s is None else float(s) for s in positive_scores]
    anchors = pairs.pairs["anchor"].tolist()
    anchor_vectors = cache.embed(prompts.query, anchors)
    keys = sorted({k for row in candidates for k, _ in row} | set(pairs.pairs["positive_key"]))
    doc_vectors = dict(zip(keys, cache.embed(prompts.document, [pairs.documents[k].text for k in keys]), strict=True))
    scored, pos_scores = [], []
    for i, (row, positive_key) in enumerate(zip(candidates, pairs.pairs["positive_key"], strict=True)):
        a = anchor_vectors[i]
        scored.append([(k, float(a @ doc_vectors[k]) if s is None else s) for k, s in row])
        pos_scores.append(float(a @ doc_vectors[positive_key]))
    return scored, pos_scores


def _select(
    task: str, pairs: TaskPairs, candidates: list[list[Candidate]], proposed: list[int], positive_scores: list[float],
    cfg: TripletsConfig, verdicts: Verdicts, brand_variants: dict[str, set[str]], wanted: int, fused: bool,
    counts: TaskCounts,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ann = cfg.annotation
    rows, queue = [], []
    for i, pair in enumerate(pairs.pairs.itertuples(index=False)):
        positive_doc = pairs.documents[pair.positive_key]
        positive_text = pairs.fused.get(pair.positive_key, positive_doc.text) if fused else positive_doc.text
        negatives: list[str] = []
        swapped_to: str | None = None
        fallbacks = 0
        for rank, (key, negative_score) in enumerate(candidates[i]):
            if len(negatives) == wanted:
                break
            if not is_safe_negative(pairs, pair.label, pair.positive_key, pair.relevant_keys, key, brand_variants):
                counts.guard_rejected += 1
                continue
            negative_doc = pairs.documents[key]
            negative_text = pairs.fused.get(key, negative_doc.text) if fused else negative_doc.text
            tid = triplet_id(task, pair.anchor, positive_text, negative_text)
            if tid in verdicts.by_id:
                counts.verdict_ids_seen.add(tid)
            if tid in verdicts.rejected:
                counts.rejected += 1  # re-mined: the next candidate takes its place
                continue
            if tid in verdicts.swapped and swapped_to is None:
                # The person judged the "negative" the better match: it becomes the positive.
                counts.swapped += 1
                swapped_to, negative_text = negative_text, positive_text
                negatives.append(negative_text)
                continue
            lexical = overlap(positive_doc.text, negative_doc.text)
            score = confidence(positive_scores[i], float(negative_score), lexical, ann.overlap_weight)
            if tid in verdicts.accepted:
                counts.accepted += 1
            elif score < ann.false_negative_below and not pair.label:
                # Labelled data needs no score to rule out false negatives: the label guard did.
                counts.filtered_false_negative += 1
                continue
            elif score < ann.uncertain_below:
                counts.queued += 1
                queue.append({
                    "triplet_id": tid, "task": task, "anchor": pair.anchor, "positive": positive_text,
                    "negative": negative_text, "positive_score": round(positive_scores[i], 6),
                    "negative_score": round(float(negative_score), 6), "overlap": round(lexical, 6),
                    "confidence": round(score, 6), "verdict": "", "note": "",
                })
                if ann.hold_uncertain:
                    counts.held_for_annotation += 1
                    continue
            negatives.append(negative_text)
            fallbacks += rank >= proposed[i]
        if len(negatives) < wanted:
            counts.not_enough_negatives += 1
            continue
        row = {"anchor": pair.anchor, "positive": swapped_to or positive_text}
        row.update({f"negative_{j + 1}": text for j, text in enumerate(negatives)})
        if pair.label:
            row["label"] = pair.label
        rows.append(row)
        counts.negatives += len(negatives)
        counts.fallback_random += fallbacks
    counts.rows = len(rows)
    return rows, queue


def generate_triplets(
    tables: dict[str, pd.DataFrame],
    synonyms: pd.DataFrame,
    cfg: TripletsConfig,
    labels: BenchmarksConfig,
    prompts: dict[str, PromptPair],
    model: Any,
    verdicts: Verdicts,
    seed: int,
    cache: EmbeddingCache | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """Return (rows per file: each task's, and ``unsupervised`` where triplets.unsupervised is
    enabled; manifest, annotation queue, stats).

    ``labels``: the benchmarks' rules for relevance grades and review polarity, which the
    training labels follow (:mod:`wb_embedder.labels`).
    ``cache`` lets several runs with the same model share their embeddings (comparing
    strategies, say); by default each run encodes every distinct text once.
    """
    enabled = {task: group for group, tasks in cfg.groups.items() for task in tasks}
    training = training_tables(tables, synonyms)
    for task in enabled:
        if task not in TASK_NEEDS:
            raise TripletsError(f"triplets.groups names unknown task {task!r}; known: {sorted(TASK_NEEDS)}")
        if task not in prompts:
            raise TripletsError(f"task {task!r} has no prompts in model.prompts")
    # A task whose needs the dump does not meet is skipped (wb_embedder.requirements), as is one
    # whose training split gives it no row; the others are trained.
    counts = field_counts(tables)
    skipped = {task: reason for task in sorted(enabled) if (reason := missing_reason(TASK_NEEDS[task], counts))}
    all_pairs = task_pairs(training, cfg.positives, labels, seed, [task for task in sorted(enabled) if task not in skipped])
    withheld = training.withheld
    fused = cfg.negatives.strategy == "fusion_multineg"
    wanted = cfg.negatives.fusion_num_negatives if fused else cfg.negatives.num_negatives
    brand_variants = brand_variant_map(synonyms)
    # (not `cache or ...`: an empty cache has len 0 and is falsy)
    cache = cache if cache is not None else embedding_cache(model, cfg.annotation.encode_batch_size)

    outputs: dict[str, pd.DataFrame] = {}
    manifest: dict[str, Any] = {"strategy": cfg.negatives.strategy, "tasks": {}}
    queue: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"strategy": cfg.negatives.strategy, "withheld_eval_brand_mentions": withheld, "tasks": {}}
    seen_verdicts: set[str] = set()
    for index, task in enumerate(tqdm(sorted(enabled), desc="gen_triplets", unit="task")):
        # (index: the task's place among those enabled, so a skipped task moves no other's draws)
        if task in skipped:
            continue
        pairs = all_pairs[task]
        if pairs.pairs.empty:
            skipped[task] = "no (anchor, positive) pair in the train split" + (
                f" ({pairs.left_out} rows without a label)" if pairs.left_out else "")
            continue
        counts = TaskCounts(pairs=len(pairs.pairs))
        rng = np.random.default_rng([seed, index])
        candidates, positive_scores, proposed = _strategy_candidates(
            pairs, cfg, prompts[task], CachedModel(model, cache), rng, wanted
        )
        candidates, scores = _score_missing(pairs, candidates, positive_scores, prompts[task], cache)
        rows, task_queue = _select(
            task, pairs, candidates, proposed, scores, cfg, verdicts,
            brand_variants if task == "brand_synonyms" else {}, wanted, fused, counts,
        )
        seen_verdicts |= counts.verdict_ids_seen
        queue += task_queue
        stats["tasks"][task] = {
            "group": enabled[task],
            **{k: v for k, v in vars(counts).items() if k != "verdict_ids_seen"},
            "left_out_without_label": pairs.left_out,
        }
        logger.info("%s: %d pairs -> %d rows", task, counts.pairs, len(rows))
        if not rows:
            skipped[task] = (f"{counts.pairs} pairs in the train split and no training row kept (no {wanted} safe "
                             f"negative(s), or held for annotation: tasks.{task} in data/stats/triplets.json)")
            continue
        columns = ["anchor", "positive", *[f"negative_{j + 1}" for j in range(wanted)]]
        if enabled[task] == "classification":
            columns.append("label")
        outputs[task] = pd.DataFrame(rows, columns=columns)
        manifest["tasks"][task] = {
            "group": enabled[task], "file": f"{task}.parquet", "rows": len(rows), "columns": columns,
        }
    for task, reason in skipped.items():
        logger.warning("training task %s skipped: %s", task, reason)
    stats["skipped"] = dict(sorted(skipped.items()))
    if not outputs:
        raise TripletsError("no training task can be built from this data: " +
                            "; ".join(f"{task}: {reason}" for task, reason in sorted(skipped.items())))
    queue_frame = pd.DataFrame(queue, columns=QUEUE_COLUMNS).sort_values(["confidence", "triplet_id"])
    stats["annotation"] = {
        "verdicts": dict(Counter(verdicts.by_id.values())),
        "stale_verdicts": len(set(verdicts.by_id) - seen_verdicts),
        "queue_rows": min(len(queue_frame), cfg.annotation.max_queue),
        "queue_rows_over_cap": max(len(queue_frame) - cfg.annotation.max_queue, 0),
    }
    stats["totals"] = {
        key: sum(t[key] for t in stats["tasks"].values())
        for key in ("pairs", "rows", "filtered_false_negative", "queued", "accepted", "rejected", "swapped")
    }
    if cfg.unsupervised.enabled:
        # Only when asked for: off, data/triplets and its stats are what they were without it.
        outputs[UNSUPERVISED], stats[UNSUPERVISED] = unsupervised_samples(tables, training, cfg.unsupervised)
        manifest[UNSUPERVISED] = {"file": f"{UNSUPERVISED}.parquet", "rows": stats[UNSUPERVISED]["samples"],
                                  "card_text": cfg.unsupervised.card_text}
    return outputs, manifest, queue_frame.head(cfg.annotation.max_queue).reset_index(drop=True), stats

