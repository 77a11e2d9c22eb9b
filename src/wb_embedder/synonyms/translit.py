"""Cyrillic -> Latin: the standard romanisation schemes (via iuliia) and the spellings shops use.

A Cyrillic brand ("Глория Джинс") is looked up by shoppers in Latin as well ("gloria dzhins",
"gloriya djins"). Each scheme votes for its spelling; the shop table adds the informal
alternatives (zh/j, kh/h, ts/c, y/i, ya/ia, ks/x). The score of a spelling is its share of the
votes, so the spelling most schemes agree on ranks first.
"""

from __future__ import annotations

import math
import re
from functools import cache

import iuliia

from .schema import TranslitConfig
from .text import canonical, norm_space

_VOWELS = set("аеёиоуыэюя")
_SIGN_MARKS_RE = re.compile("['\"`ʹʺ”’]")

# Informal Latin spellings of each Cyrillic letter as (spelling, cost), the usual one first.
SHOP_TABLE: dict[str, tuple[tuple[str, float], ...]] = {
    "а": (("a", 0),), "б": (("b", 0),), "в": (("v", 0), ("w", 1.2)), "г": (("g", 0),),
    "д": (("d", 0),), "е": (("e", 0),), "ё": (("yo", 0), ("e", 0.3), ("jo", 0.9)),
    "ж": (("zh", 0), ("j", 0.5)), "з": (("z", 0),), "и": (("i", 0),),
    "й": (("y", 0), ("i", 0.3), ("j", 0.8)), "к": (("k", 0), ("c", 0.9)), "л": (("l", 0),),
    "м": (("m", 0),), "н": (("n", 0),), "о": (("o", 0),), "п": (("p", 0),), "р": (("r", 0),),
    "с": (("s", 0),), "т": (("t", 0),), "у": (("u", 0),), "ф": (("f", 0), ("ph", 1.2)),
    "х": (("kh", 0), ("h", 0.3)), "ц": (("ts", 0), ("c", 0.4), ("tz", 0.8)), "ч": (("ch", 0),),
    "ш": (("sh", 0),), "щ": (("sch", 0), ("shch", 0.3), ("sh", 0.6)), "ъ": (("", 0),),
    "ы": (("y", 0), ("i", 0.4)), "ь": (("", 0), ("i", 0.9)), "э": (("e", 0),),
    "ю": (("yu", 0), ("iu", 0.4)), "я": (("ya", 0), ("ia", 0.4)),
}  # fmt: skip
# Letter pairs with a spelling of their own.
SHOP_PAIRS: dict[str, tuple[tuple[str, float], ...]] = {
    "кс": (("ks", 0), ("x", 0.3)),
    "ий": (("iy", 0), ("y", 0.3), ("ii", 0.6)),
    "ый": (("y", 0), ("iy", 0.3)),
}
# "е" at the start of a word or after a vowel is "ye" in most schemes ("Ельцин" -> "Yeltsin").
_E_IOTATED = (("e", 0.0), ("ye", 0.3))


@cache
def _schema(name: str) -> iuliia.Schema:
    schema = iuliia.schemas.get(name)
    if schema is None:
        raise ValueError(f"unknown iuliia schema {name!r}; known: {sorted(iuliia.schemas.names())}")
    return schema


def scheme_spellings(text: str, schemes: list[str]) -> list[str]:
    """One spelling per scheme, in the order of ``schemes``."""
    return [canonical(_schema(name).translate(text)) for name in schemes]


def shop_spellings(text: str, limit: int) -> list[tuple[str, float]]:
    """The ``limit`` cheapest informal spellings of lowercased ``text``, as (spelling, cost)."""
    beam: list[tuple[float, str]] = [(0.0, "")]
    i = 0
    prev = ""
    while i < len(text):
        pair = text[i : i + 2]
        if pair in SHOP_PAIRS and (pair[1] != "й" or i + 2 >= len(text) or not text[i + 2].isalpha()):
            options, step = SHOP_PAIRS[pair], 2
        elif text[i] == "е" and (not prev or prev in _VOWELS or not prev.isalpha()):
            options, step = _E_IOTATED, 1
        else:
            options, step = SHOP_TABLE.get(text[i], ((text[i], 0.0),)), 1
        grown: dict[str, float] = {}
        for cost, spelled in beam:
            for piece, extra in options:
                new_cost = cost + extra
                if new_cost < grown.get(spelled + piece, math.inf):
                    grown[spelled + piece] = new_cost
        beam = sorted(((c, s) for s, c in grown.items()))[:limit]
        prev = text[i + step - 1]
        i += step
    return [(s, c) for c, s in beam]


def _clean(spelled: str, ascii_only: bool) -> str | None:
    # Hard and soft sign marks (ʺ, ', `) are never typed in a search box.
    spelled = canonical(_SIGN_MARKS_RE.sub("", spelled))
    if ascii_only and not spelled.isascii():
        # Accented letters (ŝ, ĭ, ë) carry the scheme's meaning; stripping them would invent
        # spellings no scheme produces, so such a spelling is dropped instead.
        return None
    return spelled or None


def transliterate(brand: str, cfg: TranslitConfig) -> list[tuple[str, float]]:
    """Latin spellings of the Cyrillic parts of ``brand`` as (spelling, score in (0, 1]), best
    first. Latin parts, digits and punctuation are kept."""
    # ё is kept here: "Ёлка" is "yolka", not "elka" (the variants are folded afterwards).
    text = norm_space(brand.lower())
    ballots: list[tuple[str, float]] = [(s, 1.0) for s in scheme_spellings(text, cfg.schemes)]
    n_sources = len(cfg.schemes)
    if cfg.shop_spellings:
        n_sources += 1
        # The cheapest shop spelling is one full vote; costlier ones a fraction of it.
        ballots += [(s, math.exp(-c)) for s, c in shop_spellings(text, cfg.max_shop_candidates)]
    votes: dict[str, float] = {}
    for spelled, vote in ballots:
        # Spellings that differ only by accents or apostrophes are one spelling: pool their votes.
        cleaned = _clean(spelled, cfg.ascii_only)
        if cleaned is not None:
            votes[cleaned] = votes.get(cleaned, 0.0) + vote
    scored = {s: min(v / max(n_sources, 1), 1.0) for s, v in votes.items()}
    return sorted(scored.items(), key=lambda x: (-x[1], x[0]))
