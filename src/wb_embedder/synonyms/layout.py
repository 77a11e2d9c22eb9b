"""Text typed with the wrong keyboard layout: ЙЦУКЕН <-> QWERTY, key for key.

The map covers the 33 Russian letters (both cases) and the QWERTY keys they sit on, including
the punctuation keys ([ ] ; ' , . `), and the Russian "." on the "/" key. It is a bijection, so
``to_qwerty(to_jcuken(s)) == s`` for any text over the covered characters; everything else
(digits, spaces, hyphens) is typed the same in both layouts and passes through.
"""

from __future__ import annotations

# Row by row, the character each key gives in each layout.
_QWERTY = "`qwertyuiop[]asdfghjkl;'zxcvbnm,./"
_JCUKEN = "ёйцукенгшщзхъфывапролджэячсмитьбю."

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

QWERTY_ROWS = ("qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./")


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
