"""Retrieval metrics, MTEB's protocol: cosine similarity over the whole corpus, NDCG@k with graded
relevance and linear gains, as pytrec_eval (trec_eval's ``ndcg_cut``) computes them.

NDCG@k of a query = DCG@k / IDCG@k with DCG@k = sum over ranks r <= k of grade / log2(r + 1),
IDCG@k the same over the query's judged grades sorted descending; the benchmark score is the
mean over queries (every stored query has at least one positive grade).
Ties in score are broken by corpus position (pytrec_eval breaks them by document id): corpora
are deduplicated by text, so ties are rare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


# Scores of a block of queries (rows start..stop) against the whole corpus.
ScoreBlock = Callable[[int, int], np.ndarray]


def cosine_blocks(query_emb: np.ndarray, doc_emb: np.ndarray) -> ScoreBlock:
    """Cosine similarity, one block of queries at a time (bounds the score matrix in memory)."""
    queries, docs = normalize(query_emb), normalize(doc_emb)
    return lambda start, stop: queries[start:stop] @ docs.T


def rank(
    scores: ScoreBlock,
    n_queries: int,
    excluded: Sequence[Sequence[int]],
    depth: int,
    chunk_size: int,
) -> list[np.ndarray]:
    """Top ``depth`` corpus positions per query by score, excluded positions left out."""
    out: list[np.ndarray] = []
    for start in range(0, n_queries, chunk_size):
        block = np.array(scores(start, min(start + chunk_size, n_queries)), dtype=np.float64)
        for row, skip in enumerate(excluded[start : start + chunk_size]):
            block[row, list(skip)] = -np.inf
        # Stable sort on the negated scores: equal scores keep corpus order.
        order = np.argsort(-block, axis=1, kind="stable")[:, :depth]
        for row in range(len(order)):
            finite = np.isfinite(block[row, order[row]])
            out.append(order[row][finite])
    return out


def per_query_ndcg(
    data: RetrievalSet, scores: ScoreBlock, k_values: Sequence[int], chunk_size: int
) -> pd.DataFrame:
    """NDCG@k of every query (rows aligned with data.queries): the per-item scores that the
    benchmark's mean and its bootstrap interval are computed from."""
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

    rankings = rank(scores, len(q_pos), excluded, max(k_values), chunk_size)
    out = pd.DataFrame({"query_id": data.queries["query_id"].astype("int64").to_numpy()})
    for k in sorted(k_values):
        out[f"ndcg@{k}"] = [
            ndcg_from_ranking(
                np.array([judged.get(int(pos), 0.0) for pos in ranking]), np.array(list(judged.values())), k
            )
            for ranking, judged in zip(rankings, grades, strict=True)
        ]
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
    per_query = per_query_ndcg(data, cosine_blocks(query_emb, doc_emb), k_values, chunk_size)
    return {f"ndcg@{k}": float(per_query[f"ndcg@{k}"].mean()) for k in sorted(k_values)}
