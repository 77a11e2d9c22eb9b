"""Retrieval metrics, MTEB's protocol: cosine similarity over the whole corpus, NDCG@k with graded
relevance and linear gains, as pytrec_eval (trec_eval's ``ndcg_cut``) computes them.

NDCG@k of a query = DCG@k / IDCG@k with DCG@k = sum over ranks r <= k of grade / log2(r + 1),
IDCG@k the same over the query's judged grades sorted descending; the benchmark score is the
mean over queries (every stored query has at least one positive grade).
Ties in score are broken by corpus position (pytrec_eval breaks them by document id): corpora
are deduplicated by text, so ties are rare.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from wb_embedder.evaluation.benchmarks import RetrievalSet
from wb_embedder.evaluation.errors import EvaluationError


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float64 so that rankings do not hinge on rounding."""
    emb = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norms > 0, norms, 1.0)


def _positions(ids: pd.Series, frame: str) -> dict[int, int]:
    if ids.duplicated().any():
        raise EvaluationError(f"{frame}: duplicate ids")
    return {int(i): pos for pos, i in enumerate(ids.to_numpy())}


def ndcg_from_ranking(ranked_grades: np.ndarray, judged_grades: np.ndarray, k: int) -> float:
    """NDCG@k of one query: grades of its ranked documents (best first), all its judged grades."""
    top = np.asarray(ranked_grades, dtype=np.float64)[:k]
    ideal = np.sort(np.asarray(judged_grades, dtype=np.float64))[::-1][:k]
    idcg = float(np.sum(ideal / np.log2(np.arange(2, len(ideal) + 2))))
    if idcg <= 0:
        raise EvaluationError("a query without a positive grade cannot be scored")
    return float(np.sum(top / np.log2(np.arange(2, len(top) + 2)))) / idcg


def rank(
    query_emb: np.ndarray,
    doc_emb: np.ndarray,
    excluded: Sequence[Sequence[int]],
    depth: int,
    chunk_size: int,
) -> list[np.ndarray]:
    """Top ``depth`` corpus positions per query by cosine similarity, excluded positions left out."""
    queries, docs = normalize(query_emb), normalize(doc_emb)
    out: list[np.ndarray] = []
    for start in range(0, len(queries), chunk_size):
        scores = queries[start : start + chunk_size] @ docs.T
        for row, skip in enumerate(excluded[start : start + chunk_size]):
            scores[row, list(skip)] = -np.inf
        # Stable sort on the negated scores: equal scores keep corpus order.
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        for row in range(len(order)):
            finite = np.isfinite(scores[row, order[row]])
            out.append(order[row][finite])
    return out


def evaluate_retrieval(
    data: RetrievalSet,
    query_emb: np.ndarray,
    doc_emb: np.ndarray,
    k_values: Sequence[int],
    chunk_size: int,
) -> dict[str, float]:
    """Mean NDCG@k over queries for each k; embeddings are aligned with data.queries / data.corpus."""
    if len(query_emb) != len(data.queries) or len(doc_emb) != len(data.corpus):
        raise EvaluationError("embeddings are not aligned with the queries / corpus")
    if (data.qrels["score"] < 0).any():
        raise EvaluationError("qrels scores must be >= 0")
    q_pos = _positions(data.queries["query_id"], "queries")
    d_pos = _positions(data.corpus["doc_id"], "corpus")
    grades: list[dict[int, float]] = [{} for _ in range(len(q_pos))]
    for qid, did, score in data.qrels[["query_id", "doc_id", "score"]].itertuples(index=False):
        if int(qid) not in q_pos or int(did) not in d_pos:
            raise EvaluationError(f"qrels name an unknown query {qid} or document {did}")
        grades[q_pos[int(qid)]][d_pos[int(did)]] = float(score)
    excluded: list[list[int]] = [[] for _ in range(len(q_pos))]
    for qid, did in data.excluded[["query_id", "doc_id"]].itertuples(index=False):
        excluded[q_pos[int(qid)]].append(d_pos[int(did)])

    depth = max(k_values)
    rankings = rank(query_emb, doc_emb, excluded, depth, chunk_size)
    metrics: dict[str, float] = {}
    for k in sorted(k_values):
        per_query = [
            ndcg_from_ranking(
                np.array([judged.get(int(pos), 0.0) for pos in ranking]), np.array(list(judged.values())), k
            )
            for ranking, judged in zip(rankings, grades, strict=True)
        ]
        metrics[f"ndcg@{k}"] = float(np.mean(per_query))
    return metrics
