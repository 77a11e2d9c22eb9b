"""The 11 benchmarks as MTEB tasks and our systems as MTEB models: every figure is mteb's.

A benchmark of one split becomes a custom ``AbsTaskRetrieval`` or ``AbsTaskClassification`` whose
data is our stored parquet files (no hub). ``mteb.evaluate`` scores it: pytrec_eval NDCG@k for
retrieval, logistic regression on ``samples_per_label`` examples per label over ``n_experiments``
undersampled training sets for classification. The per-item records the bootstrap needs come from
the same run: the per-query pytrec_eval measures mteb computed (``task_specific_scores``, the hook
mteb hands them to) and the test predictions of every experiment's classifier (mteb's
``prediction_folder``).

Systems are MTEB models: :class:`CachedEncoder` (a sentence-transformers model through the shared
:class:`EmbeddingCache`, so a text shared by several benchmarks or both splits is encoded once) and
:class:`LexicalModel` (BM25 as an MTEB search model, TF-IDF features as an MTEB encoder).
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mteb
import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from mteb.abstasks import AbsTaskClassification, AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.types import PromptType
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.benchmarks import Benchmark, RetrievalSet
from wb_embedder.evaluation.embedding_cache import EmbeddingCache
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.lexical import BM25Scorer, tfidf_analyzers
from wb_embedder.evaluation.schema import EvaluateConfig, LexicalConfig

logger = logging.getLogger(__name__)
# mteb logs every phase of every experiment at INFO (~40 lines a benchmark); the stages log one
# line per benchmark and split themselves, so only mteb's warnings are kept.
logging.getLogger("mteb").setLevel(logging.WARNING)

# The only language of the benchmarks, in MTEB's ISO 639-3 + script notation.
LANGUAGE = "rus-Cyrl"
DEFAULT_SUBSET = "default"
TRAIN_SPLIT = "train"
# mteb rounds its retrieval means to 5 decimals; ours are the unrounded means of the very per-query
# measures it averaged, so the two agree to that rounding.
MTEB_ROUNDING = 5e-6
# pytrec_eval's name of NDCG at cut-off k.
NDCG_MEASURE = "ndcg_cut_{k}"

# Every local task has a revision (TaskMetadata requires one); ours is the benchmarks folder's
# content, checked by the report through run.json, not by mteb.
_LOCAL_DATASET = {"path": "local/wb-embedder-benchmarks", "revision": "local"}


def _metadata(name: str, kind: str, split: str, subsets: Sequence[str], main_score: str) -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description=f"wb-embedder benchmark {name} ({split} split), read from data/benchmarks.",
        dataset=_LOCAL_DATASET,
        type=kind,
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs={subset: [LANGUAGE] for subset in subsets} if subsets != [DEFAULT_SUBSET] else [LANGUAGE],
        main_score=main_score,
    )


def model_meta(name: str) -> ModelMeta:
    """The metadata mteb wants of a model; only its name and text modality matter here."""
    return ModelMeta.create_empty({"name": name, "revision": "local", "modalities": ["text"],
                                   "similarity_fn_name": "cosine"})


# --------------------------------------------------------------------------- tasks


def _query_key(query_id: int) -> str:
    return f"q{query_id}"


def _doc_keys(doc_ids: Sequence[int]) -> dict[int, str]:
    """MTEB ids of the corpus, in stored order. pytrec_eval breaks ties in score by document id,
    highest string first; the ids count down along the stored order (sorted texts), so tied
    documents rank in stored order, as before mteb scored. It matters for BM25, whose scores
    often tie at 0 (a query sharing no stem with most documents): with plain ids WBBrandSyns'
    lexical NDCG@10 would move by several points on nothing but the tie order."""
    width = len(str(len(doc_ids)))
    return {int(d): f"d{len(doc_ids) - 1 - pos:0{width}d}" for pos, d in enumerate(doc_ids)}


@dataclass(frozen=True)
class _RetrievalView:
    split_data: dict[str, Any]
    query_ids: dict[str, int]  # MTEB query id -> our query_id
    corpus_size: int
    excludes: bool


def _retrieval_view(data: RetrievalSet) -> _RetrievalView:
    """One view in MTEB's retrieval format. A query whose ranking leaves a document out (the anchor
    itself in WBSimGoods-triplets) is given that document's id, and the task drops identical ids
    (MTEB's ``ignore_identical_ids``): MTEB's one way to leave a document out of a query's ranking."""
    docs = _doc_keys([int(d) for d in data.corpus["doc_id"]])
    if len(docs) != len(data.corpus):
        raise EvaluationError("corpus: duplicate ids")
    excluded = data.excluded.groupby("query_id")["doc_id"].agg(list).to_dict()
    if any(len(ids) > 1 for ids in excluded.values()):
        raise EvaluationError("MTEB can leave out only one document per query (the query's own id)")
    if any(int(ids[0]) not in docs for ids in excluded.values()):
        raise EvaluationError("excluded names a document that is not in the corpus")
    keys = {int(q): (docs[int(excluded[q][0])] if q in excluded else _query_key(int(q)))
            for q in data.queries["query_id"]}
    if len(set(keys.values())) != len(keys):
        raise EvaluationError("two queries leave out the same document: MTEB ids would collide")
    queries = Dataset.from_dict({"id": [keys[int(q)] for q in data.queries["query_id"]],
                                 "text": data.queries["text"].tolist()})
    corpus = Dataset.from_dict({"id": list(docs.values()),
                                "text": data.corpus["text"].tolist()})
    qrels: dict[str, dict[str, int]] = {}
    for qid, did, score in data.qrels[["query_id", "doc_id", "score"]].itertuples(index=False):
        if int(qid) not in keys or int(did) not in docs:
            raise EvaluationError(f"qrels name an unknown query {qid} or document {did}")
        if score < 0:
            raise EvaluationError("qrels scores must be >= 0")
        qrels.setdefault(keys[int(qid)], {})[docs[int(did)]] = int(score)
    split_data = {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": None}
    return _RetrievalView(split_data, {key: q for q, key in keys.items()}, len(data.corpus), bool(excluded))


class BenchmarkRetrieval(AbsTaskRetrieval):
    """A retrieval benchmark of one split; its views (WBQAGoods) are MTEB subsets."""

    def __init__(self, bench: Benchmark, split: str, cfg: EvaluateConfig, seed: int) -> None:
        views = {view or DEFAULT_SUBSET: _retrieval_view(data) for view, data in bench.retrieval.items()}
        self.metadata = _metadata(bench.spec.name, "Retrieval", split, list(views), f"ndcg_at_{cfg.main_k}")
        # mteb keeps the top max(k_values) documents *before* it drops identical ids; the corpus
        # size as deepest cut ranks every document, so a left-out one never shortens the top k.
        self.k_values = tuple(sorted({*cfg.k_values, max(v.corpus_size for v in views.values())}))
        self.ignore_identical_ids = any(v.excludes for v in views.values())
        super().__init__(seed=seed)
        self.reported_k = sorted(cfg.k_values)
        self.views = views
        self.dataset = {subset: {split: view.split_data} for subset, view in views.items()}
        self.data_loaded = True
        # Per subset: pytrec_eval's measures of every query, as mteb computed them.
        self.per_query: dict[str, dict[str, dict[str, float]]] = {}

    def load_data(self, *args: Any, **kwargs: Any) -> None:
        """The data is in memory from the start: nothing to download."""

    def task_specific_scores(self, scores: dict[str, dict[str, float]], qrels: Any, results: Any,
                             hf_split: str, hf_subset: str) -> dict[str, float]:
        # mteb's hook for extra scores receives its per-query pytrec_eval measures: keep them.
        self.per_query[hf_subset] = {qid: dict(measures) for qid, measures in scores.items()}
        return {}

    def records(self, subset: str) -> pd.DataFrame:
        """NDCG@k of every query of one subset (our query ids, in the stored order)."""
        view = self.views[subset]
        measures = self.per_query.get(subset)
        if measures is None or len(measures) != len(view.query_ids):
            raise EvaluationError(f"{self.metadata.name}: mteb scored {len(measures or {})} of "
                                  f"{len(view.query_ids)} queries in {subset}")
        keys = list(view.split_data["queries"]["id"])
        out = pd.DataFrame({"query_id": np.array([view.query_ids[k] for k in keys], dtype=np.int64)})
        for k in self.reported_k:
            out[f"ndcg@{k}"] = [float(measures[key][NDCG_MEASURE.format(k=k)]) for key in keys]
        return out


class BenchmarkClassification(AbsTaskClassification):
    """A classification benchmark of one split: the stored train set and that split's test set.
    Labels are numbered in sorted order for mteb (its binary average precision needs numbers)."""

    def __init__(self, bench: Benchmark, split: str, cfg: EvaluateConfig, seed: int) -> None:
        if bench.classification is None:
            raise EvaluationError(f"{bench.spec.name}: not a classification benchmark")
        data = bench.classification
        self.metadata = _metadata(bench.spec.name, "Classification", split, [DEFAULT_SUBSET], "accuracy")
        self.samples_per_label = cfg.classification.samples_per_label
        self.n_experiments = cfg.classification.n_experiments
        # mteb's own evaluator model with our iteration cap; mteb sets random_state to the seed.
        self.evaluator_model = LogisticRegression(max_iter=cfg.classification.max_iter)
        super().__init__(seed=seed)
        self.split = split
        self.labels = sorted({str(v) for v in data.train["label"]} | {str(v) for v in data.test["label"]})
        code = {label: i for i, label in enumerate(self.labels)}
        self.test_labels = data.test["label"].astype(str).tolist()
        self.dataset = {DEFAULT_SUBSET: DatasetDict({
            TRAIN_SPLIT: Dataset.from_dict({"text": data.train["text"].tolist(),
                                            "label": [code[str(v)] for v in data.train["label"]]}),
            split: Dataset.from_dict({"text": data.test["text"].tolist(),
                                      "label": [code[v] for v in self.test_labels]}),
        }).with_format("pandas")}
        # Columns as pandas Series: datasets' default lazy Column is converted row by row each
        # time mteb hands the labels to a scikit-learn metric (six metrics per experiment), which
        # cost ~35 s per split on a 2-core machine; the values are the same.
        self.data_loaded = True

    def load_data(self, *args: Any, **kwargs: Any) -> None:
        """The data is in memory from the start: nothing to download."""

    def records(self, predictions: Sequence[Sequence[int]]) -> pd.DataFrame:
        """The label of every test example and its prediction in every experiment."""
        if len(predictions) != self.n_experiments or any(len(p) != len(self.test_labels) for p in predictions):
            raise EvaluationError(f"{self.metadata.name}: mteb saved predictions of an unexpected shape")
        out = pd.DataFrame({"label": self.test_labels})
        for i, pred in enumerate(predictions):
            out[f"pred_{i}"] = [self.labels[int(p)] for p in pred]
        return out


def fold_subset(fold: int) -> str:
    return f"fold{fold}"


def experiments_per_fold(n_experiments: int, folds: int) -> int:
    """Classifier draws per fold of a cross-fitted benchmark: ``evaluate.classification.n_experiments``
    spread over the folds, so that one fits as many probes as a benchmark of the 11 (every text is
    still predicted by at least one; the folds' probes are the draws that vary)."""
    return max(1, -(-n_experiments // folds))


class BenchmarkCrossFit(AbsTaskClassification):
    """A real-text benchmark of one split, scored by cross-fitting: fold f is an MTEB subset whose
    training set is the split's other folds, so every text is predicted by mteb's classifier
    (its protocol: draws of ``samples_per_label`` per label, :func:`experiments_per_fold` of them
    per fold) fitted without it. The
    figures are pooled over the folds from those predictions: accuracy and macro-F1 of every
    experiment over all texts of the split, averaged over experiments (what the bootstrap
    recomputes per resample), not mteb's unweighted mean of per-fold figures."""

    def __init__(self, bench: Benchmark, split: str, cfg: EvaluateConfig, seed: int) -> None:
        if bench.crossfit is None:
            raise EvaluationError(f"{bench.spec.name}: not a cross-fitted benchmark")
        items = bench.crossfit.items
        self.folds = bench.crossfit.folds
        subsets = [fold_subset(f) for f in self.folds]
        self.metadata = _metadata(bench.spec.name, "Classification", split, subsets, "accuracy")
        self.samples_per_label = cfg.classification.samples_per_label
        self.n_experiments = experiments_per_fold(cfg.classification.n_experiments, len(self.folds))
        self.evaluator_model = LogisticRegression(max_iter=cfg.classification.max_iter)
        super().__init__(seed=seed)
        self.split = split
        self.labels = sorted({str(v) for v in items["label"]})
        code = {label: i for i, label in enumerate(self.labels)}
        self.texts = items["text"].tolist()
        self.test_labels: dict[str, list[str]] = {}
        self.dataset = {}
        for fold, subset in zip(self.folds, subsets, strict=True):
            scored, fitted = items[items["fold"] == fold], items[items["fold"] != fold]
            self.test_labels[subset] = scored["label"].astype(str).tolist()
            self.dataset[subset] = DatasetDict({
                TRAIN_SPLIT: Dataset.from_dict({"text": fitted["text"].tolist(),
                                                "label": [code[str(v)] for v in fitted["label"]]}),
                split: Dataset.from_dict({"text": scored["text"].tolist(),
                                          "label": [code[v] for v in self.test_labels[subset]]}),
            }).with_format("pandas")
        self.data_loaded = True

    def load_data(self, *args: Any, **kwargs: Any) -> None:
        """The data is in memory from the start: nothing to download."""

    def _calculate_scores(self, y_test: Any, y_pred: Any) -> Any:
        """mteb's per-experiment scores, with the labels renumbered so that a fold holding only two
        of the task's labels holds 0 and 1: mteb computes average precision whenever a test set
        holds two labels, which scikit-learn refuses for any other pair (a fold of the five-star
        task may hold only 4 and 5). The renumbering is one-to-one, so accuracy and F1 are
        unchanged; the records keep mteb's own predictions."""
        y_test, y_pred = np.asarray(y_test, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
        present = np.unique(y_test)
        order = [*present.tolist(), *sorted(set(range(len(self.labels))) - set(present.tolist()))]
        renumber = np.empty(len(self.labels), dtype=np.int64)
        renumber[order] = np.arange(len(order))
        return super()._calculate_scores(renumber[y_test], renumber[y_pred])

    def records(self, saved: Mapping[str, Mapping[str, Sequence[Sequence[int]]]]) -> pd.DataFrame:
        """Every text's label and its prediction in every experiment, folds in order."""
        frames = []
        for subset, labels in self.test_labels.items():
            predictions = saved[subset][self.split]
            if len(predictions) != self.n_experiments or any(len(p) != len(labels) for p in predictions):
                raise EvaluationError(f"{self.metadata.name}: mteb saved predictions of an unexpected shape ({subset})")
            frame = pd.DataFrame({"label": labels})
            for i, pred in enumerate(predictions):
                frame[f"pred_{i}"] = [self.labels[int(p)] for p in pred]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def pooled_metrics(records: pd.DataFrame) -> dict[str, float]:
    """Accuracy and macro-F1 per experiment over all records, averaged over experiments."""
    predictions = [c for c in records.columns if c.startswith("pred_")]
    truth = records["label"].to_numpy()
    return {
        "accuracy": float(np.mean([accuracy_score(truth, records[c].to_numpy()) for c in predictions])),
        "f1": float(np.mean([f1_score(truth, records[c].to_numpy(), average="macro") for c in predictions])),
    }


MtebTask = BenchmarkRetrieval | BenchmarkClassification | BenchmarkCrossFit


def benchmark_task(bench: Benchmark, split: str, cfg: EvaluateConfig, seed: int) -> MtebTask:
    if bench.spec.kind == "retrieval":
        return BenchmarkRetrieval(bench, split, cfg, seed)
    if bench.spec.kind == "crossfit":
        return BenchmarkCrossFit(bench, split, cfg, seed)
    return BenchmarkClassification(bench, split, cfg, seed)


def task_texts(task: MtebTask, prompts: PromptPair) -> list[tuple[str, list[str]]]:
    """The (prompt, texts) a task will encode that are known before mteb runs: queries, corpus
    and classification test sets (the training samples are mteb's draws, asked for during the run)."""
    if isinstance(task, BenchmarkRetrieval):
        out = []
        for view in task.views.values():
            out.append((prompts.query, list(view.split_data["queries"]["text"])))
            out.append((prompts.document, list(view.split_data["corpus"]["text"])))
        return out
    if isinstance(task, BenchmarkCrossFit):
        return [(prompts.query, task.texts)]
    return [(prompts.query, list(task.dataset[DEFAULT_SUBSET][task.split]["text"]))]


# --------------------------------------------------------------------------- models


def _texts(inputs: Iterable[Mapping[str, Any]]) -> list[str]:
    return [text for batch in inputs for text in batch["text"]]


def cosine(a: Any, b: Any) -> np.ndarray:
    """Cosine similarity in float64, so that rankings do not hinge on float32 rounding."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a = a / np.where((n := np.linalg.norm(a, axis=-1, keepdims=True)) > 0, n, 1.0)
    b = b / np.where((n := np.linalg.norm(b, axis=-1, keepdims=True)) > 0, n, 1.0)
    return a @ b.T


class CachedEncoder(AbsEncoder):
    """An MTEB encoder over the shared :class:`EmbeddingCache`: the prompt of a text is our
    params' prompt for its benchmark (query side for queries and classification texts, document
    side for corpora); whatever the cache already holds is not encoded again."""

    def __init__(self, cache: EmbeddingCache, prompts: Mapping[str, PromptPair], name: str,
                 default: PromptPair | None = None) -> None:
        self.cache = cache
        self.prompts = dict(prompts)
        self.default = default  # for tasks that are not ours (evaluate.external_tasks)
        self.mteb_model_meta = model_meta(name)

    def prompt(self, task_name: str, prompt_type: PromptType | None) -> str:
        pair = self.prompts.get(task_name, self.default)
        if pair is None:
            raise EvaluationError(f"no prompt for task {task_name}")
        return pair.document if prompt_type == PromptType.document else pair.query

    def encode(self, inputs: Any, *, task_metadata: TaskMetadata, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:
        texts = _texts(inputs)
        prompt = self.prompt(task_metadata.name, prompt_type)
        self.cache.request(prompt, texts)
        self.cache.encode_pending()
        return self.cache.get(prompt, texts)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        return cosine(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> np.ndarray:
        return np.diag(cosine(embeddings1, embeddings2))


class LexicalModel(AbsEncoder):
    """The lexical baselines as an MTEB model: an MTEB search model for retrieval (BM25 over the
    indexed corpus) and an MTEB encoder for classification (TF-IDF features; the vocabulary and
    weights are fitted on the first texts a task encodes, which are the union of its experiments'
    training samples: mteb encodes those first, in one call, and the test set after)."""

    def __init__(self, cfg: LexicalConfig) -> None:
        self.cfg = cfg
        self.mteb_model_meta = model_meta("wb-embedder/lexical")
        self._corpus: tuple[list[str], BM25Scorer] | None = None
        self._vectorizers: dict[str, tuple[TfidfVectorizer, TfidfVectorizer]] = {}

    def encode(self, inputs: Any, *, task_metadata: TaskMetadata, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> Any:
        texts = _texts(inputs)
        name = task_metadata.name
        if hf_split == TRAIN_SPLIT:
            word, char = tfidf_analyzers(self.cfg)
            self._vectorizers[name] = (word.fit(texts), char.fit(texts))
        if name not in self._vectorizers:
            raise EvaluationError(f"{name}: test texts asked for before any training text")
        from scipy.sparse import hstack

        word, char = self._vectorizers[name]
        return hstack([word.transform(texts), char.transform(texts)]).tocsr()

    def index(self, corpus: Any, *, task_metadata: TaskMetadata, hf_split: str, hf_subset: str,
              encode_kwargs: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        ids = list(corpus["id"])
        self._corpus = (ids, BM25Scorer(list(corpus["text"]), self.cfg))

    def search(self, queries: Any, *, task_metadata: TaskMetadata, hf_split: str, hf_subset: str, top_k: int,
               encode_kwargs: Any, top_ranked: Any = None, num_proc: int | None = None,
               **kwargs: Any) -> dict[str, dict[str, float]]:
        if self._corpus is None:
            raise EvaluationError("search before index")
        ids, scorer = self._corpus
        scores = scorer.scores(list(queries["text"]))
        out: dict[str, dict[str, float]] = {}
        for qid, row in zip(queries["id"], scores, strict=True):
            top = np.argsort(-row, kind="stable")[:top_k]
            out[qid] = {ids[i]: float(row[i]) for i in top}
        return out


# --------------------------------------------------------------------------- scoring


def score_tasks(tasks: Sequence[MtebTask], model: Any, batch_size: int) -> list[tuple[dict[str, float], pd.DataFrame]]:
    """Run mteb on the tasks; per task its metrics (flat, as :mod:`.run` writes them) and its
    per-item records, in the order of ``tasks``. Tasks may share a name (a benchmark's dev and
    test split): mteb names a classification task's predictions file by the task's name, so such
    tasks go to mteb in separate rounds, each with its own predictions folder."""
    # A task goes to the round of its name's occurrence: the first dev / test task of a name to
    # round 0, the second to round 1.
    seen: Counter[str] = Counter()
    rounds: dict[int, list[int]] = {}
    for index, task in enumerate(tasks):
        rounds.setdefault(seen[task.metadata.name], []).append(index)
        seen[task.metadata.name] += 1
    out: dict[int, tuple[dict[str, float], pd.DataFrame]] = {}
    for indices in rounds.values():
        out.update(zip(indices, _score_round([tasks[i] for i in indices], model, batch_size), strict=True))
    return [out[i] for i in range(len(tasks))]


def _score_round(tasks: Sequence[MtebTask], model: Any, batch_size: int) -> list[tuple[dict[str, float], pd.DataFrame]]:
    with tempfile.TemporaryDirectory(prefix="mteb-predictions-") as folder, warnings.catch_warnings():
        # mteb also computes macro precision / recall, which we do not report; scikit-learn warns
        # for every experiment whose classifier never predicts some label (common with 16
        # examples per label), which says nothing about the accuracy / macro-F1 we keep.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = mteb.evaluate(model, list(tasks), cache=None, prediction_folder=folder, co2_tracker=False,
                               encode_kwargs={"batch_size": batch_size}, show_progress_bar=False)
        if len(result.task_results) != len(tasks):
            raise EvaluationError(f"mteb returned {len(result.task_results)} results for {len(tasks)} tasks")
        out = []
        for task, task_result in zip(tasks, result.task_results, strict=True):
            (split, subsets), = task_result.scores.items()
            by_subset = {scores["hf_subset"]: scores for scores in subsets}
            if isinstance(task, BenchmarkRetrieval):
                out.append(_retrieval_outcome(task, by_subset))
            elif isinstance(task, BenchmarkCrossFit):
                saved = json.loads((Path(folder) / task.prediction_file_name).read_text(encoding="utf-8"))
                records = task.records(saved)
                out.append((pooled_metrics(records), records))
            else:
                saved = json.loads((Path(folder) / task.prediction_file_name).read_text(encoding="utf-8"))
                (scores,) = by_subset.values()
                metrics = {"accuracy": float(scores["accuracy"]), "f1": float(scores["f1"])}
                out.append((metrics, task.records(saved[DEFAULT_SUBSET][split])))
    return out


def _retrieval_outcome(task: BenchmarkRetrieval, by_subset: Mapping[str, Mapping[str, Any]]) -> tuple[
        dict[str, float], pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    means: dict[str, dict[str, float]] = {}
    for subset, scores in by_subset.items():
        frames[subset] = task.records(subset)
        means[subset] = {}
        for k in task.reported_k:
            value = float(frames[subset][f"ndcg@{k}"].mean())
            if abs(value - float(scores[f"ndcg_at_{k}"])) > MTEB_ROUNDING + 1e-12:
                raise EvaluationError(f"{task.metadata.name}: per-query NDCG@{k} does not average to mteb's")
            means[subset][f"ndcg@{k}"] = value
    view = {subset: ("" if subset == DEFAULT_SUBSET else subset) for subset in frames}
    items = pd.concat([frame.assign(view=view[s]) for s, frame in frames.items()], ignore_index=True)
    if list(means) == [DEFAULT_SUBSET]:
        return means[DEFAULT_SUBSET], items
    # Several views: each view's keys prefixed ("all/ndcg@10"), and their mean unprefixed.
    metrics = {f"{subset}/{key}": value for subset, scores in means.items() for key, value in scores.items()}
    for k in task.reported_k:
        metrics[f"ndcg@{k}"] = float(np.mean([scores[f"ndcg@{k}"] for scores in means.values()]))
    return metrics, items


# --------------------------------------------------------------------------- external MTEB tasks


def external_tasks(names: Sequence[str]) -> list[Any]:
    """The MTEB tasks of ``evaluate.external_tasks``, from mteb's registry (no download yet)."""
    tasks = []
    for name in names:
        try:
            tasks.append(mteb.get_task(name))
        except KeyError as exc:
            raise EvaluationError(f"evaluate.external_tasks: {exc.args[0] if exc.args else name}") from None
    return tasks


def evaluate_external(tasks: Sequence[Any], model: Any, batch_size: int) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Score ``model`` on MTEB tasks whose data lives on the hub (a forgetting check on public
    tasks). A task whose data cannot be had (HF_HUB_OFFLINE=1, no network, a failed download:
    the hub and datasets raise OSError subclasses) is skipped with one log line and returned in
    the skipped list; it never stops the stage. Scores: ``<split>/<subset>/<metric>`` for every
    float mteb reports, plus ``main_score`` (the mean over splits and subsets of mteb's)."""
    scores: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for task in tasks:
        name = task.metadata.name
        try:
            task.load_data()
        except OSError as exc:
            logger.warning("external task %s skipped: its data could not be loaded (%s: %s)",
                           name, type(exc).__name__, exc)
            skipped.append(name)
            continue
        (result,) = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False,
                                  encode_kwargs={"batch_size": batch_size}).task_results
        flat = {f"{split}/{entry['hf_subset']}/{key}": float(value)
                for split, entries in result.scores.items() for entry in entries
                for key, value in entry.items() if isinstance(value, int | float) and not isinstance(value, bool)}
        mains = [float(entry["main_score"]) for entries in result.scores.values() for entry in entries]
        flat["main_score"] = float(np.mean(mains))
        scores[name] = dict(sorted(flat.items()))
        logger.info("external task %s: main_score = %.4f", name, flat["main_score"])
    return scores, skipped
