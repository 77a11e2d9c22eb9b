"""Near-duplicate texts by MinHash LSH over word shingles (``datasketch``).

One home for "these two texts are near-copies": the clean stage groups near-copy products
(a colour variant, the same description template under another title) before it splits them,
and the leakage audit measures how many evaluation texts still have a near-copy in training.
Both read the same settings (:class:`~wb_embedder.schema.NearDuplicateConfig`), so the audit checks exactly the
rule the split applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH
from wb_embedder.schema import NearDuplicateConfig
from wb_embedder.words import words as folded_words



def shingles(text: str, size: int) -> set[str]:
    words = folded_words(text)
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def signatures(texts: Sequence[str], cfg: NearDuplicateConfig) -> list[MinHash]:
    # datasketch's bulk constructor hashes every text's shingles with one set of permutations:
    # the same signatures as one MinHash per text, about three times faster.
    return list(MinHash.bulk([[s.encode() for s in sorted(shingles(text, cfg.shingle_words))] for text in texts],
                             num_perm=cfg.num_perm, seed=cfg.seed))


def _index(sigs: Sequence[MinHash], cfg: NearDuplicateConfig) -> MinHashLSH:
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    with lsh.insertion_session() as session:
        for i, sig in enumerate(sigs):
            session.insert(i, sig)
    return lsh


def _near(a: MinHash, b: MinHash, cfg: NearDuplicateConfig) -> bool:
    # LSH returns candidates; the estimated Jaccard confirms them, so the threshold means what it says.
    return a.jaccard(b) >= cfg.threshold


def near_duplicate_groups(
    texts: Sequence[str], cfg: NearDuplicateConfig, links: Sequence[int] | None = None
) -> list[int]:
    """For each text, the smallest index of its near-duplicate cluster (transitive closure).
    ``links[i]``, when given, is an index that text i must share a cluster with whatever the
    texts say (a known relation, such as a shared title)."""
    sigs = signatures(texts, cfg)
    lsh = _index(sigs, cfg)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for i, sig in enumerate(sigs):
        for j in lsh.query(sig):
            if j != i and _near(sig, sigs[j], cfg):
                join(i, int(j))
    for i, j in enumerate(links or ()):
        join(i, int(j))
    return [find(i) for i in range(len(texts))]


class NearCopyIndex:
    """Reference texts indexed once, asked many times which of them a text is a near-copy of
    (the leakage audit asks it for every benchmark of every split)."""

    def __init__(self, reference: Sequence[str], cfg: NearDuplicateConfig) -> None:
        self.cfg = cfg
        self.reference = list(reference)
        self._sigs = signatures(self.reference, cfg)
        self._lsh = _index(self._sigs, cfg) if self.reference else None

    def matches(self, queries: Sequence[str]) -> list[int | None]:
        """For each query text, the position of a reference text that is its near-copy (the
        lowest such position), or None."""
        if self._lsh is None:
            return [None] * len(queries)
        out: list[int | None] = []
        for sig in signatures(queries, self.cfg):
            hits = [int(j) for j in self._lsh.query(sig) if _near(sig, self._sigs[j], self.cfg)]
            out.append(min(hits) if hits else None)
        return out


def has_near_duplicate(queries: Sequence[str], reference: Sequence[str], cfg: NearDuplicateConfig) -> list[bool]:
    """For each query text, whether some reference text is its near-copy."""
    if not reference or not queries:
        return [False] * len(queries)
    return [match is not None for match in NearCopyIndex(reference, cfg).matches(queries)]
