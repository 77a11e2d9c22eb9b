"""Score a system on the 11 benchmarks of both evaluation splits (stages evaluate_base, evaluate,
evaluate_lexical).

A *system* is whatever turns texts into scores: a sentence-transformers model (through one
:class:`EmbeddingCache`, so a text shared by several benchmarks or both splits is encoded once)
or the lexical baselines (BM25, TF-IDF). Scoring never knows which: every benchmark is turned into
a *task* that asks the system for retrieval scores or classification features and computes the
same per-item records from them: NDCG@k per query, the predicted label of every test example in
every experiment. The folder of one system (``data/eval/<system>``) holds, per split,
``<split>/<Benchmark>.json`` (the metrics, flat) and ``<split>/<Benchmark>.items.parquet`` (the
per-item records that :mod:`.report` bootstraps), plus ``run.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    Benchmark,
    headline_metric,
    load_benchmarks,
)
from wb_embedder.evaluation.classification import (
    metrics_from_predictions,
    plan_experiments,
    predict_experiments,
)
from wb_embedder.evaluation.embedding_cache import (
    EmbeddingCache,
    Encoder,
    SentenceTransformerEncoder,
    load_model,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.lexical import BM25Scorer, tfidf_features
from wb_embedder.evaluation.retrieval import ScoreBlock, cosine_blocks, per_query_ndcg
from wb_embedder.evaluation.schema import EvaluateConfig
from wb_embedder.io import atomic_dir, read_json, tree_digest, write_json
from wb_embedder.splits import EVAL_SPLITS

logger = logging.getLogger(__name__)

MAIN_SCORE = "main_score"
RUN_FILE = "run.json"
ITEMS_SUFFIX = ".items.parquet"
VIEW = "view"
LABEL = "label"
PREDICTION_PREFIX = "pred_"
# Metrics are written rounded: float noise below this never shows in a file, so two runs on the
# same hardware give byte-identical outputs and `dvc metrics diff` shows no spurious changes.
DIGITS = 6

Request = tuple[str, list[str]]


class System(Protocol):
    """What a task needs from the thing being scored."""

    def request(self, prompt: str, texts: list[str]) -> None:
        """Announce texts that will be asked for (lets an encoder batch them all at once)."""

    def retrieval_scores(self, prompts: PromptPair, queries: list[str], corpus: list[str]) -> ScoreBlock: ...

    def classification_features(
        self, prompt: str, samples: list[list[str]], test: list[str]
    ) -> tuple[list[Any], list[Any]]:
        """Features of each experiment's training sample, and of the test texts for each experiment."""


class EmbeddingSystem:
    """A sentence-transformers model, through a shared embedding cache."""

    def __init__(self, encoder: Encoder) -> None:
        self.cache = EmbeddingCache(encoder)

    def request(self, prompt: str, texts: list[str]) -> None:
        self.cache.request(prompt, texts)

    def encode_pending(self) -> None:
        started = time.perf_counter()
        self.cache.encode_pending()
        logger.info(
            "encoded %d distinct texts for %d requested (%.1fx shared) in %.1f s", self.cache.encoded,
            self.cache.requested, self.cache.requested / max(self.cache.encoded, 1), time.perf_counter() - started,
        )

    def retrieval_scores(self, prompts: PromptPair, queries: list[str], corpus: list[str]) -> ScoreBlock:
        return cosine_blocks(self.cache.get(prompts.query, queries), self.cache.get(prompts.document, corpus))

    def classification_features(
        self, prompt: str, samples: list[list[str]], test: list[str]
    ) -> tuple[list[Any], list[Any]]:
        test_x = self.cache.get(prompt, test)
        return [self.cache.get(prompt, sample) for sample in samples], [test_x] * len(samples)


class LexicalSystem:
    """BM25 for retrieval, TF-IDF fitted on each training sample for classification; prompts
    are instructions for models and are not part of the text here."""

    def __init__(self, cfg: EvaluateConfig) -> None:
        self.cfg = cfg.lexical

    def request(self, prompt: str, texts: list[str]) -> None:
        return None

    def retrieval_scores(self, prompts: PromptPair, queries: list[str], corpus: list[str]) -> ScoreBlock:
        scores = BM25Scorer(corpus, self.cfg).scores(queries)
        return lambda start, stop: scores[start:stop]

    def classification_features(
        self, prompt: str, samples: list[list[str]], test: list[str]
    ) -> tuple[list[Any], list[Any]]:
        # One vocabulary for all experiments, fitted on the texts the classifiers train on (the
        # union of the samples, no labels involved), as an encoder's features are fixed too.
        vocabulary = sorted({text for sample in samples for text in sample})
        features = tfidf_features(vocabulary, [*vocabulary, *test], self.cfg)
        row = {text: i for i, text in enumerate(vocabulary)}
        test_x = features[len(vocabulary):]
        return [features[[row[t] for t in sample]] for sample in samples], [test_x] * len(samples)


class Task(Protocol):
    name: str

    def requests(self) -> list[Request]:
        """The (prompt, texts) groups this benchmark encodes, as MTEB would encode them one by one."""

    def score(self, system: System) -> tuple[dict[str, float], pd.DataFrame]:
        """The metrics and the per-item records."""


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

    def score(self, system: System) -> tuple[dict[str, float], pd.DataFrame]:
        per_view: dict[str, pd.DataFrame] = {}
        for view, data in self.bench.retrieval.items():
            scores = system.retrieval_scores(self.prompts, data.queries["text"].tolist(), data.corpus["text"].tolist())
            per_view[view] = per_query_ndcg(data, scores, self.cfg.k_values, self.cfg.query_chunk_size)
        items = pd.concat([frame.assign(**{VIEW: view}) for view, frame in per_view.items()], ignore_index=True)
        columns = [c for c in items.columns if c.startswith("ndcg@")]
        means = {view: {c: float(frame[c].mean()) for c in columns} for view, frame in per_view.items()}
        if list(means) == [""]:
            return means[""], items
        # Several views: each view's keys prefixed ("all/ndcg@10"), and their mean unprefixed.
        metrics = {f"{view}/{key}": value for view, scores in means.items() for key, value in scores.items()}
        for key in columns:
            metrics[key] = float(np.mean([scores[key] for scores in means.values()]))
        return metrics, items


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

    def score(self, system: System) -> tuple[dict[str, float], pd.DataFrame]:
        train_x, test_x = system.classification_features(
            self.prompt, [self.train_texts[idx].tolist() for idx in self.samples], self.data.test["text"].tolist()
        )
        test_y = self.data.test["label"].to_numpy(dtype=object)
        predictions = predict_experiments(
            train_x, [self.train_labels[idx] for idx in self.samples], test_x,
            self.cfg.classification.max_iter, self.seed,
        )
        items = pd.DataFrame({LABEL: test_y.astype(str)})
        for i, pred in enumerate(predictions):
            items[f"{PREDICTION_PREFIX}{i}"] = pred.astype(str)
        return metrics_from_predictions(test_y, predictions), items


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


Results = dict[str, dict[str, float]]
Items = dict[str, pd.DataFrame]


def score_tasks(tasks: Sequence[Task], system: System, cfg: EvaluateConfig, desc: str) -> tuple[Results, Items]:
    results: Results = {}
    items: Items = {}
    for task in tqdm(tasks, desc=desc, unit="benchmark"):
        metrics, items[task.name] = task.score(system)
        metrics[MAIN_SCORE] = metrics[headline_metric(task.name, cfg.main_k)]
        results[task.name] = dict(sorted(metrics.items()))
        logger.info("%s: %s = %.4f", task.name, headline_metric(task.name, cfg.main_k), metrics[MAIN_SCORE])
    return results, items


def evaluate_system(
    by_split: Mapping[str, Mapping[str, Benchmark]],
    system: System,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
) -> dict[str, tuple[Results, Items]]:
    """Metrics and per-item records per split and benchmark. Every text of every split is
    announced before any is asked for, so an encoder encodes each distinct text once."""
    tasks = {split: prepare_tasks(benchmarks, prompts, cfg, seed) for split, benchmarks in by_split.items()}
    for split_tasks in tasks.values():
        for task in split_tasks:
            for prompt, texts in task.requests():
                system.request(prompt, texts)
    if isinstance(system, EmbeddingSystem):
        system.encode_pending()
    return {split: score_tasks(split_tasks, system, cfg, f"scoring {split}") for split, split_tasks in tasks.items()}


def evaluate_benchmarks(
    benchmarks: Mapping[str, Benchmark],
    encoder: Encoder,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
) -> tuple[Results, EmbeddingCache]:
    """Metrics of one set of benchmarks under an encoder, and the cache (its counters say how
    much encoding was shared): the one-split shortcut of :func:`evaluate_system`."""
    system = EmbeddingSystem(encoder)
    results, _ = evaluate_system({"": benchmarks}, system, prompts, cfg, seed)[""]
    return results, system.cache


def load_splits(benchmarks_dir: Path | str) -> dict[str, dict[str, Benchmark]]:
    return {split: load_benchmarks(benchmarks_dir, split) for split in EVAL_SPLITS}


def evaluate_model(
    model_dir: Path | str,
    benchmarks_dir: Path | str,
    prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig,
    seed: int,
    trust_remote_code: bool = False,
) -> tuple[dict[str, tuple[Results, Items]], dict[str, Any]]:
    """Load the model and the stored benchmarks and score all 11 on dev and test; also return
    the run facts written to run.json (no timings there: the folder is a cached output and must
    not change between identical runs)."""
    by_split = load_splits(benchmarks_dir)
    model = load_model(model_dir, cfg.device, trust_remote_code)
    logger.info("scoring %s on %s", model_dir, model.device)
    system = EmbeddingSystem(SentenceTransformerEncoder(model, cfg.batch_size))
    results = evaluate_system(by_split, system, prompts, cfg, seed)
    info = {
        "system": "model",
        "benchmarks": tree_digest(benchmarks_dir),
        "device": str(model.device),
        "texts_requested": system.cache.requested,
        "texts_encoded": system.cache.encoded,
    }
    return results, info


def evaluate_lexical(
    benchmarks_dir: Path | str, prompts: Mapping[str, PromptPair], cfg: EvaluateConfig, seed: int
) -> tuple[dict[str, tuple[Results, Items]], dict[str, Any]]:
    """The lexical baselines on dev and test, in the same records as a model's."""
    results = evaluate_system(load_splits(benchmarks_dir), LexicalSystem(cfg), prompts, cfg, seed)
    return results, {"system": "lexical", "benchmarks": tree_digest(benchmarks_dir)}


def round_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: round(float(value), DIGITS) for key, value in sorted(metrics.items())}


def write_results(by_split: Mapping[str, tuple[Results, Items]], out_dir: Path | str, info: Mapping[str, Any]) -> None:
    """``<out_dir>/<split>/<Benchmark>.json`` (flat, rounded) and ``.items.parquet`` for every
    split and benchmark, and run.json.

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
