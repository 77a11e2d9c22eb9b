"""Small helpers over :class:`random.Random` so that every draw is explicit and seeded."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def streams(seed: int, names: Sequence[str]) -> dict[str, tuple[random.Random, np.random.Generator]]:
    """Independent (python, numpy) generators per part of the corpus.

    Spawning from one SeedSequence keeps the parts independent: adding a draw to the review
    generator must not change which queries get logged.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    out = {}
    for name, child in zip(names, children, strict=True):
        py_seed = int(child.generate_state(2, dtype=np.uint64)[0])
        out[name] = (random.Random(py_seed), np.random.default_rng(child))
    return out


def pick(rnd: random.Random, seq: Sequence[T]) -> T:
    return seq[rnd.randrange(len(seq))]


def chance(rnd: random.Random, p: float) -> bool:
    return rnd.random() < p


def weighted(rnd: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rnd.choices(items, weights=weights, k=1)[0]


def sample(rnd: random.Random, seq: Sequence[T], k: int) -> list[T]:
    return rnd.sample(list(seq), min(k, len(seq)))


def poisson(rnd: random.Random, lam: float) -> int:
    """Knuth's method: lam here is small (a few reviews per product), so it is cheap."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rnd.gauss(lam, lam**0.5)))
    limit = 2.718281828459045 ** (-lam)
    k, prod = 0, rnd.random()
    while prod > limit:
        k += 1
        prod *= rnd.random()
    return k
