"""The earlier notebook's reader, kept as a baseline: one Latin letter -> one of a few Cyrillic
letters, all combinations. It spells Nike "нике" and never "найк"; it is here so the pronounce
strategy is always measured against it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from .pronounce import normalise_latin

NAIVE_TABLE: dict[str, tuple[str, ...]] = {
    "a": ("а",), "b": ("б",), "c": ("к", "ц"), "d": ("д",), "e": ("е", "э"), "f": ("ф",),
    "g": ("г", "дж"), "h": ("х",), "i": ("и", "ай"), "j": ("дж",), "k": ("к",), "l": ("л",),
    "m": ("м",), "n": ("н",), "o": ("о",), "p": ("п",), "q": ("к",), "r": ("р",),
    "s": ("с", "з"), "t": ("т",), "u": ("у",), "v": ("в",), "w": ("в",), "x": ("кс", "з"),
    "y": ("й", "и"), "z": ("з",),
}  # fmt: skip


def read_word(word: str, max_candidates: int) -> list[tuple[str, float]]:
    """Letter-by-letter readings in table order; cost = how many second choices were taken.

    The product is consumed lazily and cut at ``max_candidates``, so a long word never builds
    its full Cartesian product.
    """
    letters = [NAIVE_TABLE.get(ch, (ch,)) for ch in normalise_latin(word)]
    out: dict[str, float] = {}
    for combo in itertools.islice(itertools.product(*[range(len(o)) for o in letters]), max_candidates):
        text = "".join(letters[i][j] for i, j in enumerate(combo))
        out.setdefault(text, float(sum(1 for j in combo if j)))
    return sorted(out.items(), key=lambda x: (x[1], x[0]))


def read_words(words: Iterable[str], max_candidates: int) -> dict[str, list[tuple[str, float]]]:
    return {w: read_word(w, max_candidates) for w in dict.fromkeys(words)}
