"""Misspellings and formatting variants of a brand, enumerated exactly.

Two families:
- format variants (all of them, deterministic): spaces removed or turned into hyphens and back,
  apostrophes and dots dropped, "&" written as "and" / "и" / "n" / nothing;
- character edits of one letter: a neighbouring key on the brand's own layout, a dropped letter,
  a doubled letter, two neighbours swapped. These are enumerated in a fixed order and a seeded
  sample is kept (a ten-letter brand has ~100 of them).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from wb_embedder.keyboard import neighbours

from .schema import TyposConfig
from .text import APOSTROPHES, canonical, has_cyrillic

# A slip lands on any key touching the intended one: rows are staggered, so that is the two keys
# beside it, the two above and the two below, on the brand's own layout.
NEIGHBOURS_LATIN: dict[str, str] = neighbours("qwerty", across_rows=True)
# The same physical keys, read in the Russian layout (х, ъ, ж, э, б, ю sit on punctuation keys).
NEIGHBOURS_CYRILLIC: dict[str, str] = neighbours("jcuken", across_rows=True)


@dataclass(frozen=True)
class Typo:
    variant: str
    kind: str  # format | adjacent | drop | double | swap
    position: int  # index of the edited letter (-1 for format variants)


def format_variants(brand: str) -> list[Typo]:
    base = canonical(brand)
    out: list[str] = []
    no_apostrophe = re.sub(f"[{APOSTROPHES}]", "", base)
    out.append(no_apostrophe)
    out.append(re.sub(f"[{APOSTROPHES}]", " ", base))
    no_dots = re.sub(r"[.,!]", "", no_apostrophe)
    out.append(no_dots)
    # Spacing is varied on the punctuation-free form: nobody types "dr.-martens".
    if " " in no_dots or "-" in no_dots:
        out.append(re.sub(r"[\s\-]+", "", no_dots))
        out.append(re.sub(r"\s+", "-", no_dots))
        out.append(no_dots.replace("-", " "))
    if "&" in no_dots:
        for word in (" and ", " и ", " n ", " "):
            out.append(no_dots.replace("&", word))
        out.append(no_dots.replace("&", ""))
    return [Typo(canonical(v), "format", -1) for v in dict.fromkeys(out)]


def character_edits(brand: str, min_word_length: int) -> list[Typo]:
    """Every one-letter edit of the lowercased brand, in a fixed order."""
    text = canonical(brand)
    near = NEIGHBOURS_CYRILLIC if has_cyrillic(text) else NEIGHBOURS_LATIN
    # Only letters inside words long enough to be recognisable after an edit.
    editable = [False] * len(text)
    word_start = [False] * len(text)
    for m in re.finditer(r"[^\W\d_]+", text):
        if m.end() - m.start() >= min_word_length:
            for i in range(m.start(), m.end()):
                editable[i] = True
            word_start[m.start()] = True
    out: list[Typo] = []
    for i, ch in enumerate(text):
        if not editable[i]:
            continue
        for other in near.get(ch, ""):
            out.append(Typo(text[:i] + other + text[i + 1 :], "adjacent", i))
        out.append(Typo(text[:i] + text[i + 1 :], "drop", i))
        out.append(Typo(text[:i] + ch + text[i:], "double", i))
        if i + 1 < len(text) and editable[i + 1] and text[i + 1] != ch:
            out.append(Typo(text[:i] + text[i + 1] + ch + text[i + 2 :], "swap", i))
    return out


def _word_start_positions(text: str) -> set[int]:
    return {m.start() for m in re.finditer(r"[^\W\d_]+", text)}


def brand_rng(brand: str, seed: int) -> random.Random:
    """A generator private to one brand: the sample of a brand does not depend on which other
    brands are in the run or in which order they come."""
    digest = hashlib.sha256(f"{seed}\x1f{brand}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def typo_score(typo: Typo, text: str, cfg: TyposConfig) -> float:
    weight = {
        "format": cfg.weight_format,
        "adjacent": cfg.weight_adjacent,
        "drop": cfg.weight_drop,
        "double": cfg.weight_double,
        "swap": cfg.weight_swap,
    }[typo.kind]
    if typo.position >= 0 and typo.position in _word_start_positions(text):
        weight *= cfg.first_letter_factor
    return weight


def generate_typos(brand: str, cfg: TyposConfig, seed: int) -> list[tuple[str, float, str]]:
    """(variant, score, kind) for one brand: all format variants plus a seeded sample of
    ``max_edits_per_brand`` character edits; duplicates keep their best score."""
    text = canonical(brand)
    edits = character_edits(brand, cfg.min_word_length)
    if len(edits) > cfg.max_edits_per_brand:
        picked = sorted(brand_rng(brand, seed).sample(range(len(edits)), cfg.max_edits_per_brand))
        edits = [edits[i] for i in picked]
    best: dict[str, tuple[float, str]] = {}
    for typo in format_variants(brand) + edits:
        score = typo_score(typo, text, cfg)
        if typo.variant and score > best.get(typo.variant, (-1.0, ""))[0]:
            best[typo.variant] = (score, typo.kind)
    return [(v, s, k) for v, (s, k) in best.items()]

