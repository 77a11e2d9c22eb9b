"""The kinds of mess real marketplace text carries: typos, wrong layout, HTML, odd spacing."""

from __future__ import annotations

import random

from wb_embedder.keyboard import RUSSIAN_LETTER_KEYS, neighbours

# Shoppers' queries are lowercase: the letter keys are the whole wrong-layout story here.
RU_TO_EN = RUSSIAN_LETTER_KEYS
EN_TO_RU = {key: letter for letter, key in RUSSIAN_LETTER_KEYS.items()}

# Keys next to each other on one ЙЦУКЕН row: the commonest slip of a finger.
_NEIGHBOURS = neighbours("jcuken", across_rows=False)


def wrong_layout(text: str) -> str:
    """Text typed with the keyboard left in the other layout ("кроссовки" -> "rhjccjdrb"): the
    lowercase letter keys only, everything else as typed."""
    table = RU_TO_EN if any(ch in RU_TO_EN for ch in text) else EN_TO_RU
    return "".join(table.get(ch, ch) for ch in text)


def typo(word: str, rnd: random.Random) -> str:
    """One keyboard slip: a dropped, doubled, swapped or neighbouring letter."""
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    near = _NEIGHBOURS.get(word[i], "")
    if not near:
        return word[:i] + word[i + 1 :]
    return word[:i] + near[rnd.randrange(len(near))] + word[i + 1 :]


def typo_in_text(text: str, rnd: random.Random) -> str:
    """A slip in one of the longer words of ``text``."""
    words = text.split(" ")
    long_ones = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long_ones:
        return text
    i = long_ones[rnd.randrange(len(long_ones))]
    words[i] = typo(words[i], rnd)
    return " ".join(words)


def drop_yo(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def messy_whitespace(text: str, rnd: random.Random) -> str:
    """Doubled spaces, a space before punctuation, stray tabs and edges, as sellers paste them."""
    out = text
    if rnd.random() < 0.6:
        out = out.replace(". ", ".  ", 1 + rnd.randrange(3))
    if rnd.random() < 0.4:
        out = out.replace(",", " ,", 1)
    if rnd.random() < 0.3:
        out = out.replace("\n", " \r\n")
    if rnd.random() < 0.3:
        out = "\t" + out
    if rnd.random() < 0.5:
        out = out + rnd.choice([" ", "  ", "\n", " \n "])
    return out


def htmlify(paragraphs: list[str], rnd: random.Random) -> str:
    """Paragraphs joined the way descriptions come out of seller HTML editors."""
    joiner = rnd.choice(["<br><br>", "<br/>", "<br>\n", "</p><p>"])
    body = joiner.join(paragraphs)
    if joiner == "</p><p>":
        body = "<p>" + body + "</p>"
    if rnd.random() < 0.5:
        body = body.replace(" ", "&nbsp;", 1 + rnd.randrange(3))
    if rnd.random() < 0.4:
        first, _, rest = body.partition(" ")
        body = f"<b>{first}</b> {rest}"
    if rnd.random() < 0.2:
        body = body.replace(" и ", " &amp; ", 1)
    if rnd.random() < 0.2:
        body = body.replace("«", "&laquo;").replace("»", "&raquo;")
    return body
