"""Brand names as sequences of words and separators, and the k-best join of word readings.

Both Latin -> Cyrillic readers (pronounce and naive) read words, not brands: a word such as
"new" or "kids" recurs in thousands of brands, so its readings are computed and scored once.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

from .text import APOSTROPHES, has_latin

# Words, numbers, "&" and "+" are tokens; hyphens are kept (Russian writes "кока-кола");
# any other punctuation ("Dr. Martens", "Yves/Saint") separates words like a space.
_TOKEN_RE = re.compile(r"[^\W\d_]+|\d+|[&+]|-|\s+|.", re.UNICODE)
_APOSTROPHE_RE = re.compile(f"[{APOSTROPHES}]")


@dataclass(frozen=True)
class Token:
    text: str
    kind: str  # "word" (has Latin letters), "keep" (copied as is), "amp", "plus", "sep"


def tokenize(brand: str) -> list[Token]:
    """Split a brand into tokens; apostrophes inside words vanish ("Levi's" -> "levis",
    "L'Oreal" -> "loreal"), which is how shoppers type them and how they are read."""
    text = _APOSTROPHE_RE.sub("", brand)
    tokens: list[Token] = []
    for piece in _TOKEN_RE.findall(text):
        if piece.isspace() or (not piece.isalnum() and piece not in "&+-"):
            kind, piece = "sep", " "
        elif piece == "-":
            kind = "sep"
        elif piece == "&":
            kind = "amp"
        elif piece == "+":
            kind = "plus"
        elif has_latin(piece):
            kind = "word"
        else:
            kind = "keep"
        if kind == "sep" and (not tokens or tokens[-1].kind == "sep"):
            # Leading or repeated separators: keep one, preferring the hyphen.
            if tokens and piece == "-":
                tokens[-1] = Token("-", "sep")
            continue
        tokens.append(Token(piece, kind))
    while tokens and tokens[-1].kind == "sep":
        tokens.pop()
    return tokens


def join_readings(
    parts: list[list[tuple[str, float]]],
    limit: int,
) -> list[tuple[str, float]]:
    """k-best concatenations of per-part readings by total logit (higher is better).

    ``parts[i]`` lists (text, logit) for part i, best first; separators are parts with one
    zero-logit option. Exact k-best by lazy best-first search over index vectors: no product
    of all options is ever built.
    """
    if not parts or any(not p for p in parts):
        return []
    start = tuple(0 for _ in parts)

    def total(idx: tuple[int, ...]) -> float:
        return sum(parts[i][j][1] for i, j in enumerate(idx))

    def text(idx: tuple[int, ...]) -> str:
        return "".join(parts[i][j][0] for i, j in enumerate(idx))

    heap = [(-total(start), text(start), start)]
    seen = {start}
    out: list[tuple[str, float]] = []
    emitted: set[str] = set()
    while heap and len(out) < limit:
        neg, txt, idx = heapq.heappop(heap)
        if txt not in emitted:
            emitted.add(txt)
            out.append((txt, -neg))
        for i in range(len(parts)):
            if idx[i] + 1 < len(parts[i]):
                nxt = idx[:i] + (idx[i] + 1,) + idx[i + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (-total(nxt), text(nxt), nxt))
    return out
