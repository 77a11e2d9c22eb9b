"""Score a model on the 11 benchmarks (stages evaluate_base and evaluate).

Every benchmark is first turned into a *task* that lists the (prompt, texts) it needs; all of
them go through one :class:`EmbeddingCache`, so a text shared by several benchmarks is encoded
once; then each task is scored from the cached embeddings. The results go to one folder per
model (``data/eval/base``, ``data/eval/finetuned``): one flat JSON per benchmark plus
``run.json`` (what was scored, how much encoding was shared); :mod:`.report` compares two such
folders.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    Benchmark,
    headline_metric,
    load_benchmarks,
)
from wb_embedder.evaluation.classification import (
    evaluate_classification,
    plan_experiments,
)
from wb_embedder.evaluation.embedding_cache import (
    EmbeddingCache,
    Encoder,
    SentenceTransformerEncoder,
    load_model,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.retrieval import evaluate_retrieval
from wb_embedder.evaluation.schema import EvaluateConfig
from wb_embedder.io import atomic_dir, read_json, write_json

logger = logging.getLogger(__name__)

MAIN_SCORE = "main_score"
RUN_FILE = "run.json"
# Metrics are written rounded: float noise below this never shows in a file, so two runs on the
# same hardware give byte-identical outputs and `dvc metrics diff` shows no spurious changes.
DIGITS = 6

Request = tuple[str, list[str]]


class Task(Protocol):
    name: str

    def requests(self) -> list[Request]:
        """The (prompt, texts) groups this benchmark encodes, as MTEB would encode them one by one."""

    def score(self, cache: EmbeddingCache) -> dict[str, float]: ...


class RetrievalTask:
    def __init__(self, bench: Benchmark, prompts: PromptPair, cfg: EvaluateConfig) -> None:
        self.name = bench.spec.name
        self.bench, self.prompts, self.cfg = bench, prompts, cfg

    def requests(self) -> list[Request]:
        out: list[Request] = []
        for data in self.bench.retrieval.values():
            out.append((self.prompts.query, data.queries["text"].tolist()))
            out.append((self.prompts.document, data.corpus["text"].tolist()))
        return out

    def score(self, cache: EmbeddingCache) -> dict[str, float]:
        per_view: dict[str, dict[str, float]] = {}
        for view, data in self.bench.retrieval.items():
            per_view[view] = evaluate_retrieval(
                data,
                cache.get(self.prompts.query, data.queries["text"].tolist()),
                cache.get(self.prompts.document, data.corpus["text"].tolist()),
                self.cfg.k_values,
                self.cfg.query_chunk_size,
            )
        if list(per_view) == [""]:
            return per_view[""]
        # Several views: each view's keys prefixed ("all/ndcg@10"), and their mean unprefixed.
        metrics = {f"{view}/{key}": value for view, scores in per_view.items() for key, value in scores.items()}
        for key in next(iter(per_view.values())):
            metrics[key] = float(np.mean([scores[key] for scores in per_view.values()]))
        return metrics


class ClassificationTask:
    def __init__(self, bench: Benchmark, prompt: str, cfg: EvaluateConfig, seed: int) -> None:
        if bench.classification is None:
            raise EvaluationError(f"{bench.spec.name}: not a classification benchmark")
        self.name = bench.spec.name
        self.data, self.prompt, self.cfg, self.seed = bench.classification, prompt, cfg, seed
        self.train_texts = self.data.train["text"].to_numpy(dtype=object)
        self.train_labels = self.data.train["label"].to_numpy(dtype=object)
        self.samples = plan_experiments(
            self.train_labels, cfg.classification.n_experiments, cfg.classification.samples_per_label, seed
        )

    def requests(self) -> list[Request]:
        # MTEB encodes the test split once and each experiment's training sample anew.
        return [(self.prompt, self.data.test["text"].tolist())] + [
            (self.prompt, self.train_texts[idx].tolist()) for idx in self.samples
        ]

    def score(self, cache: EmbeddingCache) -> dict[str, float]:
        return evaluate_classification(
            [cache.get(self.prompt, self.train_texts[idx].tolist()) for idx in self.samples],
            [self.train_labels[idx] for idx in self.samples],
            cache.get(self.prompt, self.data.test["text"].tolist()),
            self.data.test["label"].to_numpy(dtype=object),
            self.cfg.classification.max_iter,
            self.seed,
        )


def prepare_tasks(
    benchmarks: Mapping[str, Benchmark], prompts: Mapping[str, PromptPair], cfg: EvaluateConfig, seed: int
) -> list[Task]:
    missing = sorted({b.spec.task for b in benchmarks.values()} - set(prompts))
    if missing:
        raise EvaluationError(f"model.prompts has no entry for task(s) {missing}")
    tasks: list[Task] = []
    for bench in benchmarks.values():
        pair = prompts[bench.spec.task]
        if bench.spec.kind == "retrieval":
            tasks.append(RetrievalTask(bench, pair, cfg))
        else:
            # Classification embeds a single kind of text: the query side, as MTEB does.
            tasks.append(ClassificationTask(bench, pair.query, cfg, seed))
    return tasks


def score_tasks(tasks: list[Task], cache: EmbeddingCache, cfg: EvaluateConfig) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for task in tqdm(tasks, desc="scoring benchmarks", unit="benchmark"):
        metrics = task.score(cache)
        metrics[MAIN_SCORE] = metrics[headline_metric(task.name, cfg.main_k)]
        results[task.name] = dict(sorted(metrics.items()))
        logger.info("%s: %s = %.4f", task.name, headline_metric(task.name, cfg.main_k), metrics[MAIN_SCORE])
    return results


def evaluate_benchmarks(
    benchmarks: Mapping[str, Benchmark],
    encoder: Encoder,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
) -> tuple[dict[str, dict[str, float]], EmbeddingCache]:
    """Metrics per benchmark, and the cache (its counters say how much encoding was shared)."""
    tasks = prepare_tasks(benchmarks, prompts, cfg, seed)
    cache = EmbeddingCache(encoder)
    for task in tasks:
        for prompt, texts in task.requests():
            cache.request(prompt, texts)
    started = time.perf_counter()
    cache.encode_pending()
    logger.info(
        "encoded %d distinct texts for %d requested (%.1fx shared) in %.1f s",
        cache.encoded, cache.requested, cache.requested / max(cache.encoded, 1), time.perf_counter() - started,
    )
    return score_tasks(tasks, cache, cfg), cache


def fingerprint(benchmarks_dir: Path | str) -> str:
    """sha256 over every file of the benchmarks folder (relative path and bytes): the report
    refuses to compare two models scored on different benchmark data."""
    root = Path(benchmarks_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def evaluate_model(
    model_dir: Path | str,
    benchmarks_dir: Path | str,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
    trust_remote_code: bool = False,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Load the model and the stored benchmarks and score all 11; also return the run facts
    written to run.json (no timings there: the folder is a cached output and must not change
    between identical runs)."""
    benchmarks = load_benchmarks(benchmarks_dir)
    model = load_model(model_dir, cfg.device, trust_remote_code)
    logger.info("scoring %s on %s", model_dir, model.device)
    results, cache = evaluate_benchmarks(
        benchmarks, SentenceTransformerEncoder(model, cfg.batch_size), prompts, cfg, seed
    )
    info = {
        "benchmarks": fingerprint(benchmarks_dir),
        "device": str(model.device),
        "texts_requested": cache.requested,
        "texts_encoded": cache.encoded,
    }
    return results, info


def round_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: round(float(value), DIGITS) for key, value in sorted(metrics.items())}


def write_results(
    results: Mapping[str, Mapping[str, float]], out_dir: Path | str, info: Mapping[str, Any] | None = None
) -> None:
    """``<out_dir>/<Benchmark>.json`` (flat, rounded) for every benchmark, and run.json.

    The folder is replaced as a whole: a failed run leaves the previous one intact, and no file
    of an earlier run (a renamed benchmark) survives next to the new ones.
    """
    with atomic_dir(out_dir) as tmp:
        for name, metrics in results.items():
            write_json(round_metrics(metrics), tmp / f"{name}.json")
        write_json(dict(info or {}), tmp / RUN_FILE)


def read_results(eval_dir: Path | str, names: tuple[str, ...] = BENCHMARK_NAMES) -> dict[str, dict[str, float]]:
    """The metrics of every benchmark from a folder written by :func:`write_results`."""
    eval_dir = Path(eval_dir)
    if not eval_dir.is_dir():
        raise EvaluationError(f"{eval_dir}: evaluation results not found (run the evaluate stages first)")
    missing = [name for name in names if not (eval_dir / f"{name}.json").exists()]
    if missing:
        raise EvaluationError(f"{eval_dir}: no results for {missing} (run the evaluate stages first)")
    results = {}
    for name in names:
        metrics = read_json(eval_dir / f"{name}.json")
        if not isinstance(metrics, dict) or MAIN_SCORE not in metrics:
            raise EvaluationError(f"{eval_dir / name}.json: not a metrics file (no {MAIN_SCORE})")
        results[name] = metrics
    return results


def read_run_info(eval_dir: Path | str) -> dict[str, Any]:
    path = Path(eval_dir) / RUN_FILE
    return read_json(path) if path.exists() else {}


