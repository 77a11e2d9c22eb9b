"""Score a system on the 11 benchmarks of both evaluation splits (stages evaluate_base, evaluate,
evaluate_lexical), with mteb (see :mod:`.mteb_tasks`).

A *system* is whatever mteb can score: a sentence-transformers model (through one
:class:`EmbeddingCache`, so a text shared by several benchmarks or both splits is encoded once)
or the lexical baselines (BM25, TF-IDF). Scoring never knows which: every benchmark is an MTEB
task, the system an MTEB model, and the same per-item records come out of every run: NDCG@k per
query (pytrec_eval's, as mteb computed them), the predicted label of every test example in every
experiment (mteb's classifiers). The folder of one system (``data/eval/<system>``) holds, per
split, ``<split>/<Benchmark>.json`` (the metrics, flat) and ``<split>/<Benchmark>.items.parquet``
(the per-item records that :mod:`.report` bootstraps), plus ``run.json`` and, for a model,
``external.json`` (the MTEB tasks of ``evaluate.external_tasks``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from wb_embedder.config import NO_PROMPT, PromptPair
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    REAL_NAMES,
    Benchmark,
    headline_metric,
    load_benchmarks,
    read_skipped,
)
from wb_embedder.evaluation.embedding_cache import (
    EmbeddingCache,
    Encoder,
    SentenceTransformerEncoder,
    load_model,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.schema import EvaluateConfig
from wb_embedder.io import atomic_dir, read_json, tree_digest, write_json
from wb_embedder.splits import EVAL_SPLITS

# mteb (seconds to import) is imported where scoring happens, not here: the report stage reads
# the results through this module and needs no model library.
if TYPE_CHECKING:
    from wb_embedder.evaluation.mteb_tasks import CachedEncoder, LexicalModel, MtebTask

logger = logging.getLogger(__name__)

MAIN_SCORE = "main_score"
RUN_FILE = "run.json"
EXTERNAL_FILE = "external.json"
ITEMS_SUFFIX = ".items.parquet"
VIEW = "view"
LABEL = "label"
PREDICTION_PREFIX = "pred_"
# Metrics are written rounded: float noise below this never shows in a file, so two runs on the
# same hardware give byte-identical outputs and `dvc metrics diff` shows no spurious changes.
DIGITS = 6

Request = tuple[str, list[str]]
Results = dict[str, dict[str, float]]
Items = dict[str, pd.DataFrame]


class System(Protocol):
    """What scoring needs from the thing being scored."""

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Texts that will be asked for (lets an encoder encode them all at once)."""

    def model(self, prompts: Mapping[str, PromptPair]) -> Any:
        """The MTEB model; ``prompts`` maps each task (benchmark) name to its prompt pair."""


class EmbeddingSystem:
    """A sentence-transformers model, through a shared embedding cache."""

    def __init__(self, encoder: Encoder, name: str = "wb-embedder/model") -> None:
        self.cache = EmbeddingCache(encoder)
        self.name = name

    def prefetch(self, requests: Sequence[Request]) -> None:
        for prompt, texts in requests:
            self.cache.request(prompt, texts)
        started = time.perf_counter()
        self.cache.encode_pending()
        logger.info("encoded %d distinct texts for %d requested (%.1fx shared) in %.1f s", self.cache.encoded,
                    self.cache.requested, self.cache.requested / max(self.cache.encoded, 1),
                    time.perf_counter() - started)

    def model(self, prompts: Mapping[str, PromptPair], default: PromptPair | None = None) -> CachedEncoder:
        from wb_embedder.evaluation.mteb_tasks import CachedEncoder

        return CachedEncoder(self.cache, prompts, self.name, default)


class LexicalSystem:
    """BM25 for retrieval, TF-IDF + logistic regression for classification; prompts are
    instructions for models and are not part of the text here."""

    def __init__(self, cfg: EvaluateConfig) -> None:
        self.cfg = cfg.lexical

    def prefetch(self, requests: Sequence[Request]) -> None:
        return None

    def model(self, prompts: Mapping[str, PromptPair]) -> LexicalModel:
        from wb_embedder.evaluation.mteb_tasks import LexicalModel

        return LexicalModel(self.cfg)


def task_prompts(benchmarks: Mapping[str, Benchmark], prompts: Mapping[str, PromptPair]) -> dict[str, PromptPair]:
    """The prompt pair of every benchmark, by benchmark name (the MTEB task's name)."""
    missing = sorted({b.spec.task for b in benchmarks.values()} - set(prompts))
    if missing:
        raise EvaluationError(f"model.prompts has no entry for task(s) {missing}")
    return {name: prompts[bench.spec.task] for name, bench in benchmarks.items()}


def score_split(tasks: Sequence[MtebTask], model: Any, cfg: EvaluateConfig) -> tuple[Results, Items]:
    from wb_embedder.evaluation.mteb_tasks import score_tasks

    results: Results = {}
    items: Items = {}
    for task, (metrics, records) in zip(tasks, score_tasks(tasks, model, cfg.batch_size), strict=True):
        name = task.metadata.name
        metrics[MAIN_SCORE] = metrics[headline_metric(name, cfg.main_k)]
        results[name], items[name] = dict(sorted(metrics.items())), records
        logger.info("%s (%s): %s = %.4f", name, task.metadata.eval_splits[0], headline_metric(name, cfg.main_k),
                    metrics[MAIN_SCORE])
    return results, items


def evaluate_system(
    by_split: Mapping[str, Mapping[str, Benchmark]],
    system: System,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
) -> dict[str, tuple[Results, Items]]:
    """Metrics and per-item records per split and benchmark. Every text known before mteb runs
    (queries, corpora, classification test sets, of every split) is announced first, so an encoder
    encodes each distinct one once, in one call per prompt; the classifiers' training samples,
    mteb's draws, come through the same cache when mteb asks for them."""
    from wb_embedder.evaluation.mteb_tasks import benchmark_task, task_texts

    by_name = {name: pair for benchmarks in by_split.values() for name, pair in task_prompts(benchmarks, prompts).items()}
    tasks = {split: [benchmark_task(bench, split, cfg, seed) for bench in benchmarks.values()]
             for split, benchmarks in by_split.items()}
    system.prefetch([request for split_tasks in tasks.values() for task in split_tasks
                     for request in task_texts(task, by_name[task.metadata.name])])
    model = system.model(by_name)
    return {split: score_split(split_tasks, model, cfg) for split, split_tasks in tasks.items()}


def evaluate_benchmarks(
    benchmarks: Mapping[str, Benchmark],
    encoder: Encoder,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
    split: str = "test",
) -> tuple[Results, EmbeddingCache]:
    """Metrics of one set of benchmarks (of ``split``) under an encoder, and the cache (its
    counters say how much encoding was shared): the one-split shortcut of :func:`evaluate_system`."""
    system = EmbeddingSystem(encoder)
    results, _ = evaluate_system({split: benchmarks}, system, prompts, cfg, seed)[split]
    return results, system.cache


def load_splits(benchmarks_dir: Path | str, real_dir: Path | str | None = None) -> dict[str, dict[str, Benchmark]]:
    """Every benchmark of each evaluation split: those of the 11 the benchmarks stage built, and
    the real-text suite when ``real_dir`` (the real_benchmarks stage's output) is given."""
    return {split: {**load_benchmarks(benchmarks_dir, split),
                    **(load_benchmarks(real_dir, split, REAL_NAMES) if real_dir is not None else {})}
            for split in EVAL_SPLITS}


SKIPPED_BENCHMARKS = "skipped_benchmarks"


def benchmark_digests(benchmarks_dir: Path | str, real_dir: Path | str | None) -> dict[str, Any]:
    """What run.json records of the data scored, so the report can refuse to compare systems
    scored on different benchmarks; and, when the benchmarks stage skipped some, which and why
    (the report lists them)."""
    out: dict[str, Any] = {"benchmarks": tree_digest(benchmarks_dir)}
    if real_dir is not None:
        out["real_benchmarks"] = tree_digest(real_dir)
    if skipped := read_skipped(benchmarks_dir):
        out[SKIPPED_BENCHMARKS] = skipped
    return out


def evaluate_model(
    model_dir: Path | str,
    benchmarks_dir: Path | str,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
    trust_remote_code: bool = False,
    real_dir: Path | str | None = None,
) -> tuple[dict[str, tuple[Results, Items]], dict[str, Any], Results]:
    """Load the model and the stored benchmarks and score all 11 (and the real-text suite from
    ``real_dir``) on dev and test, then the MTEB tasks of ``evaluate.external_tasks`` (skipped,
    and counted, where their data cannot be had); also return the run facts written to run.json
    (no timings there: the folder is a cached output and must not change between identical runs)
    and the external tasks' scores."""
    from wb_embedder.evaluation.mteb_tasks import evaluate_external, external_tasks

    by_split = load_splits(benchmarks_dir, real_dir)
    external = external_tasks(cfg.external_tasks)  # an unknown name fails before any encoding
    if cfg.external_tasks and cfg.external_prompts not in prompts:
        raise EvaluationError(f"evaluate.external_prompts: model.prompts has no task {cfg.external_prompts!r}")
    model = load_model(model_dir, cfg.device, trust_remote_code)
    logger.info("scoring %s on %s", model_dir, model.device)
    system = EmbeddingSystem(SentenceTransformerEncoder(model, cfg.batch_size))
    results = evaluate_system(by_split, system, prompts, cfg, seed)
    requested, encoded = system.cache.requested, system.cache.encoded
    external_scores, skipped = evaluate_external(
        external, system.model({}, default=prompts.get(cfg.external_prompts)), cfg.batch_size)
    info = {
        "system": "model",
        **benchmark_digests(benchmarks_dir, real_dir),
        "device": str(model.device),
        "texts_requested": requested,
        "texts_encoded": encoded,
        "external_tasks": {"evaluated": sorted(external_scores), "skipped": sorted(skipped)},
    }
    return results, info, external_scores


def evaluate_lexical(
    benchmarks_dir: Path | str, cfg: EvaluateConfig, seed: int, real_dir: Path | str | None = None,
) -> tuple[dict[str, tuple[Results, Items]], dict[str, Any]]:
    """The lexical baselines on dev and test, in the same records as a model's. They read no
    prompts (so model.prompts is no dependency of their stage): every task gets the empty pair."""
    by_split = load_splits(benchmarks_dir, real_dir)
    no_prompts = {bench.spec.task: NO_PROMPT for benchmarks in by_split.values() for bench in benchmarks.values()}
    results = evaluate_system(by_split, LexicalSystem(cfg), no_prompts, cfg, seed)
    return results, {"system": "lexical", **benchmark_digests(benchmarks_dir, real_dir)}


def round_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: round(float(value), DIGITS) for key, value in sorted(metrics.items())}


def write_results(by_split: Mapping[str, tuple[Results, Items]], out_dir: Path | str, info: Mapping[str, Any],
                  external: Results | None = None) -> None:
    """``<out_dir>/<split>/<Benchmark>.json`` (flat, rounded) and ``.items.parquet`` for every
    split and benchmark, run.json, and external.json when external MTEB tasks were asked for.

    The folder is replaced as a whole: a failed run leaves the previous one intact, and no file
    of an earlier run (a renamed benchmark) survives next to the new ones.
    """
    with atomic_dir(out_dir) as tmp:
        for split, (results, items) in by_split.items():
            (tmp / split).mkdir()
            for name, metrics in results.items():
                write_json(round_metrics(metrics), tmp / split / f"{name}.json")
                items[name].to_parquet(tmp / split / f"{name}{ITEMS_SUFFIX}", index=False)
        write_json(dict(info), tmp / RUN_FILE)
        if external is not None:
            write_json({name: round_metrics(metrics) for name, metrics in external.items()}, tmp / EXTERNAL_FILE)


def read_results(
    eval_dir: Path | str, split: str, names: tuple[str, ...] = BENCHMARK_NAMES
) -> tuple[Results, Items]:
    """The metrics and per-item records of every benchmark of one split, from a folder written by
    :func:`write_results`."""
    root = Path(eval_dir) / split
    if not root.is_dir():
        raise EvaluationError(f"{root}: evaluation results not found (run the evaluate stages first)")
    missing = [name for name in names if not (root / f"{name}.json").exists() or not (root / f"{name}{ITEMS_SUFFIX}").exists()]
    if missing:
        raise EvaluationError(f"{root}: no results for {missing} (run the evaluate stages first)")
    results: Results = {}
    items: Items = {}
    for name in names:
        metrics = read_json(root / f"{name}.json")
        if not isinstance(metrics, dict) or MAIN_SCORE not in metrics:
            raise EvaluationError(f"{root / name}.json: not a metrics file (no {MAIN_SCORE})")
        results[name] = metrics
        items[name] = pd.read_parquet(root / f"{name}{ITEMS_SUFFIX}")
    return results, items


def read_run_info(eval_dir: Path | str) -> dict[str, Any]:
    path = Path(eval_dir) / RUN_FILE
    return read_json(path) if path.exists() else {}
