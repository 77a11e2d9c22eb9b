"""Words as the project compares them: case folded, ё written as е.

One home for splitting a text into words: the brand matcher, the near-copy shingles, the lexical
baselines' stems and the synonyms' Russian word counts all fold a text the same way, so "Ёлка"
and "елка" are one word wherever the project compares them.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
_RUSSIAN_WORD = re.compile(r"[а-я]+")


def fold(text: str) -> str:
    """Case folded, ё -> е."""
    return text.casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """The folded words (runs of letters, digits and underscores) of ``text``."""
    return _WORD.findall(fold(text))


def russian_words(text: str) -> list[str]:
    """The folded runs of Russian letters of ``text`` (Latin, digits and the rest split them)."""
    return _RUSSIAN_WORD.findall(fold(text))
