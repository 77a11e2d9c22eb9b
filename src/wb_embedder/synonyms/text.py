"""Normalisation and script detection shared by the generators."""

from __future__ import annotations

import re
import unicodedata

from wb_embedder.words import fold

LATIN_RE = re.compile(r"[a-z]", re.IGNORECASE)
CYRILLIC_RE = re.compile(r"[а-яё]", re.IGNORECASE)
_SPACES_RE = re.compile(r"\s+")
# Apostrophe look-alikes that people and catalogues use interchangeably.
APOSTROPHES = "'’‘`´ʼ"


def has_latin(text: str) -> bool:
    return LATIN_RE.search(text) is not None


def has_cyrillic(text: str) -> bool:
    return CYRILLIC_RE.search(text) is not None


def norm_space(text: str) -> str:
    return _SPACES_RE.sub(" ", text).strip()


def canonical(text: str) -> str:
    """The form variants are compared and stored in: NFKC (the clean stage's Unicode form, so "й"
    typed as "и" plus a combining breve is "й"), folded as every word the project compares
    (:func:`wb_embedder.words.fold`: case, ё -> е), single spaces."""
    return norm_space(fold(unicodedata.normalize("NFKC", text)))
