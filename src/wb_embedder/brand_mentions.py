"""Does a text mention a brand, by its name or by any of its spellings?

One home for the rule, used where evaluated brands must stay out of training (gen_triplets drops
the rows that mention them) and where the leakage audit checks that they did. A mention is a run
of whole words equal, after case folding and ё -> е, to a brand's name or one of its variants:
"Adidas", "адидас" and "addidas" are mentions of Adidas in "кроссовки адидас 42".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from wb_embedder.words import words


class BrandMatcher:
    """Finds which of a set of brands a text mentions."""

    def __init__(self, spellings: Mapping[str, Iterable[str]]) -> None:
        """``spellings``: brand -> its variants (the brand's own name is always included)."""
        self._by_words: dict[tuple[str, ...], set[str]] = {}
        for brand, variants in spellings.items():
            for spelling in {brand, *variants}:
                key = tuple(words(spelling))
                if key:
                    self._by_words.setdefault(key, set()).add(brand)
        self._lengths = sorted({len(k) for k in self._by_words})

    def __bool__(self) -> bool:
        return bool(self._by_words)

    def brands_in(self, text: str) -> set[str]:
        tokens = tuple(words(text))
        found: set[str] = set()
        for n in self._lengths:
            for i in range(len(tokens) - n + 1):
                brands = self._by_words.get(tokens[i : i + n])
                if brands:
                    found |= brands
        return found

    def mentions(self, text: str) -> bool:
        return bool(self.brands_in(text))


def eval_brand_spellings(synonyms: pd.DataFrame, splits: Iterable[str]) -> dict[str, set[str]]:
    """Brand -> variants, for the brands of the synonyms table in ``splits``."""
    wanted = set(splits)
    rows = synonyms[synonyms["split"].isin(wanted)]
    out: dict[str, set[str]] = {}
    for brand, variant in zip(rows["brand"], rows["variant"], strict=True):
        out.setdefault(str(brand), set()).add(str(variant))
    return out
