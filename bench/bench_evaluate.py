"""Encoding throughput of the evaluation: the shared embedding cache vs one benchmark at a time.

    python bench/bench_evaluate.py --model models/base --benchmarks data/benchmarks \
        [--out bench/results/evaluate.json]

Three ways to get every embedding the 11 benchmarks need, timed one after the other:

- "separate": what MTEB does with a plain model when its tasks run one after another: each
  benchmark encodes what it asks for, group by group, with a plain ``model.encode`` (a WBQAGoods
  question once per corpus view, a review once per review classifier). The groups are recorded
  from mteb itself, scoring the benchmarks with a stand-in model that returns random vectors;
- "shared, char-sorted batches": the same requests through one EmbeddingCache (every distinct
  (prompt, text) once, one call per prompt), still with the plain ``model.encode`` (which sorts
  by characters): the gain of deduplication alone;
- "shared": what the evaluate stages run: the cache with SentenceTransformerEncoder (batches
  bucketed by token count, so less padding).

Throughput is counted in *requested* texts per second, so the figures compare the time to serve
the same evaluation; the ratio separate / shared is the speed-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import TypeAdapter

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.benchmarks import load_benchmarks
from wb_embedder.evaluation.embedding_cache import (
    EmbeddingCache,
    SentenceTransformerEncoder,
    load_model,
)
from wb_embedder.evaluation.mteb_tasks import CachedEncoder, benchmark_task, score_tasks
from wb_embedder.evaluation.run import task_prompts
from wb_embedder.evaluation.schema import EvaluateConfig
from wb_embedder.io import read_yaml
from wb_embedder.splits import EVAL_SPLITS

logger = logging.getLogger("bench_evaluate")


class PlainEncoder:
    """``model.encode`` as MTEB calls it: sentence-transformers' own batching (sorted by characters)."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        return self.model.encode(texts, prompt=prompt, batch_size=self.batch_size, show_progress_bar=False,
                                 convert_to_numpy=True)


class RecordingModel(CachedEncoder):
    """An MTEB model that records the (prompt, texts) of every encode call mteb makes and answers
    with random vectors: the requests of an evaluation, without encoding anything (its cache is
    never used; the prompts are resolved as the evaluate stages resolve them)."""

    def __init__(self, plain: PlainEncoder, prompts: dict[str, PromptPair]) -> None:
        super().__init__(EmbeddingCache(plain), prompts, "bench/recorder")
        self.groups: list[tuple[str, str, list[str]]] = []
        self.rng = np.random.default_rng(0)

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str,
               prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        texts = [text for batch in inputs for text in batch["text"]]
        self.groups.append((task_metadata.name, self.prompt(task_metadata.name, prompt_type), texts))
        return self.rng.standard_normal((len(texts), 8))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/base"))
    parser.add_argument("--benchmarks", type=Path, default=Path("data/benchmarks"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    # Only the sections the bench needs, so it runs whatever else params.yaml holds.
    raw = read_yaml(args.params)
    cfg = EvaluateConfig.model_validate(raw["evaluate"])
    prompts = TypeAdapter(dict[str, PromptPair]).validate_python(raw["model"]["prompts"])
    model = load_model(args.model, cfg.device, bool(raw["model"].get("trust_remote_code", False)))
    plain = PlainEncoder(model, cfg.batch_size)
    # Both evaluation splits, as the evaluate stages score them; the requests as mteb makes them.
    by_split = {split: load_benchmarks(args.benchmarks, split) for split in EVAL_SPLITS}
    recorder = RecordingModel(plain, task_prompts(by_split[EVAL_SPLITS[0]], prompts))
    tasks = [benchmark_task(bench, split, cfg, int(raw["seed"])) for split, benchmarks in by_split.items()
             for bench in benchmarks.values()]
    score_tasks(tasks, recorder, cfg.batch_size)
    groups = recorder.groups
    requested = sum(len(texts) for _, _, texts in groups)

    # Warm-up outside the timings: first-call allocations and thread-pool start-up.
    plain.encode(groups[0][2][: cfg.batch_size], groups[0][1])

    def shared_run(encoder: Any) -> tuple[EmbeddingCache, float]:
        started = time.perf_counter()
        cache = EmbeddingCache(encoder)
        for _, prompt, texts in groups:
            cache.request(prompt, texts)
        cache.encode_pending()
        return cache, time.perf_counter() - started

    load_before = os.getloadavg()[0]
    cache, shared_s = shared_run(SentenceTransformerEncoder(model, cfg.batch_size, show_progress=False))
    logger.info("shared: %.1f s", shared_s)
    _, shared_char_s = shared_run(plain)
    logger.info("shared, char-sorted batches: %.1f s", shared_char_s)
    started = time.perf_counter()
    separate = [plain.encode(texts, prompt) for _, prompt, texts in groups]
    separate_s = time.perf_counter() - started
    logger.info("separate: %.1f s", separate_s)
    load_after = os.getloadavg()[0]

    # Same vectors either way, up to float noise from different batch padding.
    drift = max(float(np.max(np.abs(vectors - cache.get(prompt, texts))))
                for (_, prompt, texts), vectors in zip(groups, separate, strict=True))
    figures = {
        "benchmarks": len(tasks),
        "encode_groups": len(groups),
        "device": str(model.device),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "batch_size": cfg.batch_size,
        "max_seq_length": model.max_seq_length,
        "texts_requested": requested,
        "texts_distinct": cache.encoded,
        "separate_s": round(separate_s, 1),
        "separate_texts_per_s": round(requested / separate_s, 1),
        "shared_char_sorted_s": round(shared_char_s, 1),
        "shared_char_sorted_texts_per_s": round(requested / shared_char_s, 1),
        "shared_s": round(shared_s, 1),
        "shared_texts_per_s": round(requested / shared_s, 1),
        "shared_distinct_texts_per_s": round(cache.encoded / shared_s, 1),
        "speed_up_dedup_only": round(separate_s / shared_char_s, 2),
        "speed_up": round(separate_s / shared_s, 2),
        "max_abs_embedding_difference": float(f"{drift:.2e}"),
    }
    print(f"benchmarks: {len(tasks)}, encode groups: {len(groups)}, device: {model.device}")
    print(f"texts requested: {requested}, distinct (prompt, text): {cache.encoded}")
    print(f"separate (MTEB-style):       {separate_s:8.1f} s  {requested / separate_s:8.1f} texts/s")
    print(f"shared, char-sorted batches: {shared_char_s:8.1f} s  {requested / shared_char_s:8.1f} texts/s")
    print(f"shared (evaluate stages):    {shared_s:8.1f} s  {requested / shared_s:8.1f} texts/s "
          f"({cache.encoded / shared_s:.1f} distinct texts/s)")
    print(f"speed-up: {separate_s / shared_s:.2f}x (deduplication alone {separate_s / shared_char_s:.2f}x)   "
          f"max |embedding difference|: {drift:.2e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
