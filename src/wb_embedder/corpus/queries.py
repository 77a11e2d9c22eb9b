"""Search log: what shoppers typed, which cards were shown, viewed and put in the cart.

A query is born from an intent read off one product (its subject plus some of its gender,
colour, brand, size, style). The search engine then shows that product, other products of the
subject and of subjects it mixes up, and the counters follow how well each shown card
really matches the intent. Surface forms drift from titles the way real queries do:
synonyms, other number, word order, typos, wrong keyboard layout, brands typed in Cyrillic.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .brands import BRAND_BY_NAME, NO_BRAND
from .catalog import Product
from .morph import agree, noun_form
from .noise import drop_yo, typo_in_text, wrong_layout
from .rand import chance, pick, poisson, weighted
from .vocab import Subject

logger = logging.getLogger(__name__)

TYPO_SHARE = 0.14
LAYOUT_SHARE = 0.05
MEAN_SHOWN = 5.0  # products shown (and logged) per query
CANDIDATES_FROM_PARENT = 6


@dataclass(frozen=True)
class Intent:
    """What the shopper wants; ``None`` fields were not said in the query."""

    subject: Subject
    gender: str | None = None
    colour: str | None = None
    brand: str | None = None
    size: str | None = None
    mod: str | None = None
    spec: str | None = None
    book: str | None = None


def _intent(p: Product, rnd: random.Random) -> Intent:
    s = p.subject
    tech = s.kind in ("tech", "appliance")
    return Intent(
        subject=s,
        gender=p.gender if p.gender and chance(rnd, 0.6 if p.gender in "GBK" else 0.4) else None,
        colour=p.colours[0] if p.colours and chance(rnd, 0.2 if tech else 0.3) else None,
        brand=p.brand if p.brand != NO_BRAND and chance(rnd, 0.45 if tech else 0.22) else None,
        size=pick(rnd, p.sizes) if p.sizes and s.sizes in ("clothes", "shoes", "ring") and chance(rnd, 0.12) else None,
        mod=pick(rnd, p.mods) if p.mods and chance(rnd, 0.3) else None,
        spec=_spec(p) if chance(rnd, 0.25) else None,
        book=p.book[0] if p.book is not None and chance(rnd, 0.6) else None,
    )


def _spec(p: Product) -> str | None:
    """A number-bearing spec shoppers type ("256 гб", "5 л"), if the product has one."""
    for value in p.extras.values():
        if any(ch.isdigit() for ch in value):
            return value
    return None


# --- surface form ---------------------------------------------------------------------------------

def _gender_tokens(code: str, slot: str, rnd: random.Random) -> list[str]:
    if code == "W":
        return [weighted(rnd, [agree("женский", slot), "для женщин", "для девушек", "жен"], [0.7, 0.15, 0.1, 0.05])]
    if code == "M":
        return [weighted(rnd, [agree("мужской", slot), "для мужчин", "муж"], [0.7, 0.2, 0.1])]
    if code == "U":
        return ["унисекс"]
    if code in ("G", "B"):
        who = "девочки" if code == "G" else "мальчика"
        dat = "девочке" if code == "G" else "мальчику"
        return weighted(rnd, [[f"для {who}"], [dat], [agree("детский", slot), f"для {who}"]], [0.6, 0.15, 0.25])
    return [weighted(rnd, [agree("детский", slot), "для детей", "для малышей", "детям"], [0.6, 0.2, 0.1, 0.1])]


def _size_token(size: str, rnd: random.Random) -> str:
    return pick(rnd, [size, f"{size} размер", f"р {size}", f"{size}р", f"размер {size}"])


def _brand_token(name: str, rnd: random.Random) -> str:
    brand = BRAND_BY_NAME[name]
    cyrillic = [t for t in brand.typed if not t.isascii()]
    latin = [t for t in brand.typed if t.isascii()] or [name.lower()]
    if cyrillic and chance(rnd, 0.6):
        return pick(rnd, cyrillic)
    return pick(rnd, latin)


def _noun_phrase(s: Subject, rnd: random.Random) -> tuple[str, str]:
    """(noun phrase, gram slot for agreement) as the shopper names the thing."""
    if s.syn and chance(rnd, 0.35):
        word, gram = pick(rnd, s.syn)
        return word, gram
    gram = s.gram
    # mass nouns (чай, кофе, масло) do not take a plural in a shopper's mouth
    countable = s.kind not in ("food", "petfood", "auto", "beauty")
    plural = countable and gram != "plur" and " " not in s.noun and chance(rnd, 0.25)
    slot = "plur" if plural else gram
    noun = noun_form(s.noun, gram, "nomn", plural) if plural else s.noun
    words = [noun]
    if s.pre and chance(rnd, 0.8):
        pre = agree(s.pre, slot)
        words = [pre, noun] if chance(rnd, 0.6) else [noun, pre]
    if s.post and chance(rnd, 0.6):
        words.append(s.post)
    return " ".join(words), slot


def _book_query(intent: Intent, p: Product, rnd: random.Random) -> str:
    assert p.book is not None
    name, author = p.book
    if p.subject.name == "Учебники":
        parts = name.lower().replace(".", "").split()
        return " ".join(parts[:4]) if chance(rnd, 0.6) else "учебник " + " ".join(parts[:3])
    surname = author.split(",")[0].split()[-1].lower()
    if intent.book:
        return pick(rnd, [name.lower(), f"{surname} {name.lower()}", f"книга {name.lower()}", f"{name.lower()} {surname}"])
    noun, _ = _noun_phrase(p.subject, rnd)
    return pick(rnd, [noun, f"{surname} книги", f"{noun} {surname}"])


def surface(intent: Intent, p: Product, rnd: random.Random) -> str:
    """The query string a shopper with ``intent`` types."""
    if intent.subject.kind == "book":
        text = _book_query(intent, p, rnd)
    else:
        noun, slot = _noun_phrase(intent.subject, rnd)
        before: list[str] = []
        after: list[str] = []
        if intent.gender:
            tokens = _gender_tokens(intent.gender, slot, rnd)
            (after if tokens[-1].startswith("для") or chance(rnd, 0.5) else before).extend(tokens)
        for token in (
            agree(intent.mod, slot) if intent.mod else "",
            (agree(intent.colour, slot) if chance(rnd, 0.75) else intent.colour) if intent.colour else "",
            _brand_token(intent.brand, rnd) if intent.brand else "",
            intent.spec.lower() if intent.spec else "",
        ):
            if token:
                (before if chance(rnd, 0.3) else after).append(token)
        rnd.shuffle(before)
        rnd.shuffle(after)
        if intent.size:
            after.append(_size_token(intent.size, rnd))
        text = " ".join([*before, noun, *after])
    text = text.lower()
    if chance(rnd, 0.95):
        text = drop_yo(text)
    if chance(rnd, TYPO_SHARE):
        text = typo_in_text(text, rnd)
    if chance(rnd, LAYOUT_SHARE):
        text = wrong_layout(text)
    return " ".join(text.split())


# --- relevance ------------------------------------------------------------------------------------

_GENDER_OK = {("W", "U"): 0.85, ("M", "U"): 0.85, ("U", "W"): 0.6, ("U", "M"): 0.6, ("G", "K"): 0.8,
              ("B", "K"): 0.8, ("K", "G"): 0.8, ("K", "B"): 0.8}


def relevance(intent: Intent, p: Product) -> float:
    """How well a shown card answers the intent, 0..1 (1: what the shopper wanted)."""
    s = p.subject
    if s is intent.subject:
        rel = 1.0
    elif s.name in intent.subject.conf or intent.subject.name in s.conf:
        rel = 0.45
    else:
        rel = 0.12
    if intent.book is not None:
        rel *= 1.0 if p.book is not None and p.book[0] == intent.book else 0.25
    if intent.gender and p.gender != intent.gender:
        rel *= _GENDER_OK.get((intent.gender, p.gender), 0.3 if p.gender else 0.7)
    if intent.colour and intent.colour not in p.colours:
        rel *= 0.45
    if intent.brand and p.brand != intent.brand:
        rel *= 0.35
    if intent.size and intent.size not in p.sizes:
        rel *= 0.55
    if intent.mod and intent.mod not in p.mods:
        rel *= 0.8
    if intent.spec and intent.spec not in p.extras.values():
        rel *= 0.7
    return rel


# --- the log --------------------------------------------------------------------------------------

@dataclass
class _Row:
    query: str
    product: int
    rel: float
    position: int
    popularity: float


def build_search_log(products: list[Product], queries_per_product: float, rnd: random.Random,
                     np_rng: np.random.Generator) -> pd.DataFrame:
    """(query, product index, counters) rows; every product is shown for at least one query."""
    by_subject: dict[str, list[int]] = {}
    by_parent: dict[str, list[int]] = {}
    for i, p in enumerate(products):
        by_subject.setdefault(p.subject.name, []).append(i)
        by_parent.setdefault(p.subject.parent, []).append(i)

    target = max(len(products), round(len(products) * queries_per_product))
    rows: list[_Row] = []
    logged: set[tuple[str, int]] = set()
    shown_count = [0] * len(products)
    seeds = list(range(len(products)))
    rnd.shuffle(seeds)
    n_queries = 0

    def log_query(seed: int, extra_mean: float) -> None:
        nonlocal n_queries
        p = products[seed]
        intent = _intent(p, rnd)
        text = surface(intent, p, rnd)
        if not text:
            return
        s = p.subject
        pool = list(by_subject[s.name])
        for name in s.conf:
            pool += by_subject.get(name, [])
        parent_pool = by_parent[s.parent]
        pool += [pick(rnd, parent_pool) for _ in range(CANDIDATES_FROM_PARENT)]
        pool = list(dict.fromkeys(i for i in pool if i != seed))
        rels = [relevance(intent, products[i]) for i in pool]
        k = min(len(pool), poisson(rnd, extra_mean))
        # The engine ranks by its own noisy idea of relevance: mostly right, sometimes not.
        chosen: list[int] = []
        weights = [(r + 0.05) ** 0.8 for r in rels]
        for _ in range(k):
            j = weighted(rnd, range(len(pool)), weights)
            chosen.append(j)
            weights[j] = 0.0
            if not any(weights):
                break
        shown = [(seed, relevance(intent, p))] + [(pool[j], rels[j]) for j in chosen]
        shown.sort(key=lambda t: -(t[1] + rnd.gauss(0, 0.25)))
        popularity = math.exp(rnd.gauss(3.6, 1.2))
        for pos, (i, rel) in enumerate(shown):
            if (text, i) in logged:
                continue
            logged.add((text, i))
            shown_count[i] += 1
            rows.append(_Row(text, i, rel, pos, popularity))
        n_queries += 1

    cursor = 0
    while len(rows) < target * 0.97:
        log_query(seeds[cursor % len(seeds)], MEAN_SHOWN - 1)
        cursor += 1
    # Cards nobody was shown would never reach the dump; give each its own query.
    for i in range(len(products)):
        if shown_count[i] == 0:
            log_query(i, 1.0)

    return _counters(rows, products, np_rng, n_queries)


def _counters(rows: list[_Row], products: list[Product], np_rng: np.random.Generator, n_queries: int) -> pd.DataFrame:
    rel = np.array([r.rel for r in rows])
    pos = np.array([r.position for r in rows])
    pop = np.array([r.popularity for r in rows])
    shows = np_rng.poisson(pop * 0.85**pos) + 1
    view_rate = 0.015 + 0.33 * rel**1.5 * np_rng.lognormal(0.0, 0.3, len(rows))
    cart_rate = 0.003 + 0.2 * rel**2.5 * np_rng.lognormal(0.0, 0.35, len(rows))
    # Shoppers also click things they did not ask for: a few near misses draw real interest.
    curious = np_rng.random(len(rows)) < 0.04
    view_rate = np.where(curious, view_rate + 0.15, view_rate)
    cart_rate = np.where(curious, cart_rate + 0.03, cart_rate)
    views = np_rng.binomial(shows, np.clip(view_rate, 0.0, 0.9))
    carts = np_rng.binomial(views, np.clip(cart_rate, 0.0, 0.8))
    logger.info("search log: %d queries, %d rows", n_queries, len(rows))
    return pd.DataFrame({
        "query": [r.query for r in rows],
        "product": np.array([r.product for r in rows], dtype=np.int64),
        "show_cl_cnt": shows.astype(np.int64),
        "view_cl_cnt": views.astype(np.int64),
        "cart_cl_cnt": carts.astype(np.int64),
        "relevance": rel,
    })
