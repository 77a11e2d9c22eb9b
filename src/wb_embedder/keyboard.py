"""The keyboard: ЙЦУКЕН <-> QWERTY key for key, and which keys a finger slips to.

One home for the layout map and the key rows. Two stages type on it: the demo corpus plants
wrong-layout queries and typos in what shoppers write (``corpus.noise``), and gen_synonyms
generates the wrong-layout and typo spellings of brands (``synonyms.generate``,
``synonyms.typos``). Each keeps its own choice of *which* slips it models (the corpus: the
letter keys only and a neighbour on the same row; the synonyms: every key and the staggered
neighbours above and below too); the keys themselves are read from here.

The map covers the 33 Russian letters (both cases) and the QWERTY keys they sit on, including
the punctuation keys ([ ] ; ' , . `), and the Russian "." on the "/" key. It is a bijection, so
``to_qwerty(to_jcuken(s)) == s`` for any text over the covered characters; everything else
(digits, spaces, hyphens) is typed the same in both layouts and passes through.
"""

from __future__ import annotations

# Key by key, row by row (the ` key first), the character each layout gives unshifted.
_QWERTY = "`qwertyuiop[]asdfghjkl;'zxcvbnm,./"
_JCUKEN = "ёйцукенгшщзхъфывапролджэячсмитьбю."

# The three letter rows as physical keys, in QWERTY characters (each row sits half a key to the
# right of the one above).
QWERTY_ROWS = ("qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./")

# The keys that give a Russian letter, lowercase: Russian letter -> the QWERTY key under it.
RUSSIAN_LETTER_KEYS: dict[str, str] = {j: q for q, j in zip(_QWERTY, _JCUKEN, strict=True) if j.isalpha()}

_Q2J: dict[str, str] = dict(zip(_QWERTY, _JCUKEN, strict=True))
for _q, _j in zip(_QWERTY, _JCUKEN, strict=True):
    if _q.isalpha():
        _Q2J[_q.upper()] = _j.upper()
# Shifted punctuation keys give the capital Russian letters.
_Q2J.update({"~": "Ё", "{": "Х", "}": "Ъ", ":": "Ж", '"': "Э", "<": "Б", ">": "Ю", "?": ","})
_J2Q: dict[str, str] = {j: q for q, j in _Q2J.items()}
assert len(_J2Q) == len(_Q2J), "the layout map must be a bijection"

_TO_JCUKEN = str.maketrans(_Q2J)
_TO_QWERTY = str.maketrans(_J2Q)
# One table for mixed text: each character goes to the other layout.
_SWAP = str.maketrans(
    {**{q: j for q, j in _Q2J.items() if q.isalpha()}, **{j: q for j, q in _J2Q.items() if j.isalpha()}}
)


def to_jcuken(text: str) -> str:
    """What appears when ``text`` is typed on QWERTY keys with the Russian layout on."""
    return text.translate(_TO_JCUKEN)


def to_qwerty(text: str) -> str:
    """What appears when ``text`` is typed on ЙЦУКЕН keys with the English layout on."""
    return text.translate(_TO_QWERTY)


def swap_layout(text: str) -> str:
    """Letters of either alphabet to the other layout; punctuation is left alone, since in a
    brand name it is punctuation in both ("Dr. Martens" stays with its dot-free reading)."""
    return text.translate(_SWAP)


def covered_alphabet() -> tuple[str, str]:
    """(QWERTY side, ЙЦУКЕН side) of the map, for round-trip tests."""
    return "".join(_Q2J), "".join(_J2Q)


def neighbours(layout: str, *, across_rows: bool) -> dict[str, str]:
    """Letter -> the letters on the keys touching its key, in ``layout`` ("qwerty": a-z,
    "jcuken": Russian lowercase), in a fixed order: left, right, then (``across_rows``) the two
    keys above and the two below. Keys that give no letter in that layout are left out."""
    if layout not in ("qwerty", "jcuken"):
        raise ValueError(f"layout must be 'qwerty' or 'jcuken', not {layout!r}")
    read = to_jcuken if layout == "jcuken" else (lambda key: key)
    rows = QWERTY_ROWS
    out: dict[str, str] = {}
    for r, row in enumerate(rows):
        for c, key in enumerate(row):
            if not read(key).isalpha():
                continue
            near = [(r, c - 1), (r, c + 1)]
            if across_rows:
                near += [(r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            keys = [rows[rr][cc] for rr, cc in near if 0 <= rr < len(rows) and 0 <= cc < len(rows[rr])]
            out[read(key)] = "".join(read(k) for k in keys if read(k).isalpha())
    return out
