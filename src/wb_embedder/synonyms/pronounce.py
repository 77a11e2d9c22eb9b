"""Latin -> Cyrillic by pronunciation: how a Russian shopper writes a brand they have heard.

A word is cut left to right into graphemes by context rules (longest grapheme first: "sch"
before "sc" before "s"); each grapheme offers a few Russian readings with a cost (how unusual
the reading is in that context). A beam over the positions yields the cheapest readings of the
word; the n-gram model of Russian spelling then reranks them (in :mod:`.generate`).

The rules are general English spelling-to-sound patterns (digraphs, magic e, open and closed
syllables, silent final e, c/g before e/i, ...) with the French, German and Italian readings
as alternatives. A reading tagged with a language gets cheaper when the word shows that
language's spelling cues ("sch", "eau", "cci"). The costs are linguistic data, not knobs.

Internal symbol "Э" means the vowel /e/: it becomes "э" at the start of a word and after a
vowel, "е" (or, at a cost, "э") after a consonant, as Russian spelling of loanwords does.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .schema import PronounceConfig

_V = "[aeiouy]"
_C = "[bcdfghjklmnpqrstvwxz]"
# A consonant that can close a "magic e" syllable (nike, colgate, pure); not x, w, y.
_MAGIC = r"(?:[bcdfgklmnprstvz]|th|ch)es?$"
# Two consonants (or a final one) after a vowel: the vowel is short in English.
_CLOSED = f"(?:{_C}{{2}}|ck|{_C}$)"
_OPEN = f"{_C}[aeiou]"
_CYR_VOWELS = set("аеёиоуыэюя")

LANGUAGE_CUES: dict[str, re.Pattern[str]] = {
    "de": re.compile(r"sch|tz|pf|ß|[äöü]|ei[nrstz]|stein|mann$|berg$|burg$|haus|heim|werk"),
    "fr": re.compile(r"eau|eux|oux?$|[éèêëàçôî]|ier$|ette$|elle$|ique$|ais$|oir|eur$|oi[sx]?$"),
    "it": re.compile(r"cci|cch|gli|gn[aeiou]|zz|(?:ini|ino|etti|etto|ello|ella|ano|ani|one|ana)$|ci[aou]"),
}


@dataclass(frozen=True)
class Rule:
    graph: str
    options: tuple[tuple[str, float, str | None], ...]
    left: re.Pattern[str] | None
    right: re.Pattern[str] | None

    def applies(self, word: str, start: int) -> bool:
        end = start + len(self.graph)
        if not word.startswith(self.graph, start):
            return False
        if self.left is not None and self.left.search(word, 0, start) is None:
            return False
        return self.right is None or self.right.match(word, end) is not None


def _parse_options(spec: str) -> tuple[tuple[str, float, str | None], ...]:
    out = []
    for item in spec.split():
        text, _, rest = item.partition(":")
        cost, _, lang = rest.partition("@")
        out.append(("" if text == "-" else text, float(cost), lang or None))
    return tuple(out)


def _rule(graph: str, options: str, left: str | None = None, right: str | None = None) -> Rule:
    return Rule(
        graph,
        _parse_options(options),
        re.compile(f"(?:{left})\\Z") if left else None,
        re.compile(right) if right else None,
    )


# (grapheme, "reading:cost[@lang] ...", left context, right context). Within one first letter
# the longest grapheme wins, then the first listed: specific contexts go before defaults.
_RULES: list[Rule] = [
    # --- a
    _rule("augh", "о:0 аф:.6"),
    _rule("are", "Эр:.3 ар:.4 ейр:.8", right="s?$"),
    _rule("air", "Эйр:.2 ейр:.3 айр:.6"),
    _rule("ai", "Эй:.3 ай:.3 Э:.9@fr"),
    _rule("ay", "Эй:.2 ай:.5"),
    _rule("au", "ау:.2 о:.6@fr"),
    _rule("aw", "о:.3 ав:.5 ау:.6"),
    _rule("ae", "Э:.3 аЭ:.5"),
    _rule("a", "Эй:.4 а:.4 Э:1", right=_MAGIC),
    _rule("a", "а:0 о:.9", right="l[bcdfgkmnpqstvwz]|ll$"),
    _rule("a", "а:0 Эй:1 Э:1", left="^", right=_OPEN),
    _rule("a", "а:0 Э:1"),
    # --- b
    _rule("bb", "бб:.2 б:.4"),
    _rule("b", "б:0"),
    # --- c
    _rule("cch", "кк:.3 к:.5"),
    _rule("cc", "чч:.4@it кс:.6 ч:.8@it", right="[eiy]"),
    _rule("cc", "кк:.2 к:.4"),
    _rule("ch", "к:.2 х:.8", right="[rl]"),
    _rule("ch", "ч:0 ш:.8@fr к:1@it х:1.2@de"),
    _rule("ck", "к:0"),
    _rule("cz", "ч:.2 ц:.8"),
    _rule("ci", "си:.2 ч:.9@it ци:1@de", right="[aou]"),
    _rule("c", "с:0 ц:.9@de ч:.9@it", right="[eiy]"),
    _rule("c", "к:0"),
    # --- d
    _rule("dd", "дд:.2 д:.4"),
    _rule("dg", "дж:0", right="[eiy]"),
    _rule("dj", "дж:0"),
    _rule("d", "д:0"),
    # --- e
    _rule("eaux", "о:0"),
    _rule("eau", "о:0"),
    _rule("eigh", "Эй:0 ай:.5"),
    _rule("ei", "Эй:.4 ай:.5@de и:1"),
    _rule("ey", "и:.3 Эй:.4", right="s?$"),
    _rule("ey", "Эй:.2 и:.8"),
    _rule("eu", "Эу:.4 ью:.6 ой:.8@de Э:1@fr"),
    _rule("ew", "ью:.2 ю:.3 Эв:.8"),
    _rule("ee", "и:0 Э:1.2"),
    _rule("ea", "ея:.2 Эа:.3 и:.7", right="$"),
    _rule("ea", "и:.3 Эа:.4 Э:.8"),
    _rule("er", "Эр:0 а:1.5", right="s?$"),
    # Final e: silent in English and French (nike, lacoste), sounded in Italian and short words.
    _rule("e", "-:.3 Э:.5 и:1.2", left=f"{_V}{_C}+", right="$"),
    _rule("e", "и:.6 Э:.6", left=f"^{_C}*", right="$"),
    _rule("e", "Э:.3 -:.4", left=f"{_V}{_C}*{_C}[lr]", right="s$"),
    _rule("e", "и:.6 Э:.3", right=_MAGIC),
    _rule("e", "Э:0"),
    # --- f
    _rule("ff", "фф:.2 ф:.4"),
    _rule("f", "ф:0"),
    # --- g
    _rule("gh", "г:0", left="^"),
    _rule("gh", "-:.2 ф:.8 г:.9", left=_V),
    _rule("gh", "г:0"),
    _rule("gli", "ль:.4@it гли:.5", right=_V),
    _rule("gn", "н:.3 гн:.4", right="$"),
    _rule("gn", "гн:.2 нь:.6@it нь:.6@fr"),
    _rule("gg", "гг:.2 г:.4"),
    _rule("gu", "г:.2 гу:.6", right="[eiy]"),
    _rule("g", "г:.3 дж:.4 ж:.9@fr", right="[eiy]"),
    _rule("g", "г:0"),
    # --- h
    _rule("h", "-:.3 х:.4", left=_V, right="$"),
    _rule("h", "х:0 -:1"),
    # --- i
    _rule("igh", "ай:0"),
    _rule("ier", "ьЭр:.3 Эр:.6 иЭр:.6 ьЭ:1@fr", right="$"),
    _rule("ie", "и:.1 ай:.8", right="s?$"),
    _rule("ie", "и:.3 иЭ:.4 ай:1"),
    _rule("ia", "ия:.1 иа:.4", right="$"),
    _rule("ia", "иа:.2 ия:.4"),
    # -ine is "-ин" in Russian loanwords (вазелин, машина, маргарин) more often than "-айн".
    _rule("i", "и:.3 ай:.4", right="nes?$"),
    _rule("i", "ай:.4 и:.5", right=_MAGIC),
    _rule("i", "и:.2 ай:.8", right="[nl]d"),
    _rule("i", "и:0 ай:.9", right=_OPEN),
    _rule("i", "и:0 ай:1.4"),
    # --- j
    _rule("j", "дж:0 ж:.8@fr й:.9@de"),
    # --- k
    _rule("kk", "кк:.2 к:.4"),
    _rule("kn", "н:.4 кн:.4", left="^"),
    _rule("kh", "х:0"),
    _rule("k", "к:0"),
    # --- l
    _rule("ll", "лл:.2 л:.4 ль:.6", right="$"),
    _rule("ll", "лл:.2 л:.4"),
    _rule("l", "л:.1 ль:.4", right="$"),
    _rule("l", "л:0 ль:.6", left=_V, right=_C),
    _rule("l", "л:0"),
    # --- m
    _rule("mm", "мм:.2 м:.4"),
    _rule("mb", "м:.3 мб:.4", right="$"),
    _rule("m", "м:0"),
    # --- n
    _rule("nn", "нн:.2 н:.4"),
    _rule("ng", "нг:0 н:1.2", right="$"),
    _rule("n", "н:0"),
    # --- o
    _rule("ough", "о:.3 аф:.6 у:.7"),
    _rule("oo", "у:0 о:1"),
    _rule("our", "ор:.4 ур:.5 аур:.6 ауЭр:1", right="s?$"),
    _rule("ou", "у:.4 ау:.4 о:.8 оу:.9"),
    _rule("ow", "оу:.4 ау:.5 о:.7 ов:.8", right=f"$|s$|{_C}"),
    _rule("ow", "ов:.3 оу:.5 ау:.6"),
    _rule("oy", "ой:0"),
    _rule("oi", "ой:.3 ои:.5 уа:.9@fr"),
    _rule("oa", "о:.3 оа:.4"),
    _rule("oe", "о:.5 оЭ:.5 Э:.8@de"),
    _rule("o", "о:.1 оу:.7", right=_MAGIC),
    _rule("o", "о:0 оу:.7", right="l[dt]"),
    _rule("o", "о:0"),
    # --- p
    _rule("pp", "пп:.2 п:.4"),
    _rule("ph", "ф:0"),
    _rule("p", "п:0"),
    # --- q
    _rule("que", "к:.2 кЭ:.6", right="s?$"),  # French/Spanish final -que: clinique, boutique
    _rule("qu", "кв:0 к:.6"),
    _rule("q", "к:0"),
    # --- r
    _rule("rr", "рр:.2 р:.4"),
    _rule("rh", "р:0", left="^"),  # Greek rh- (rhythm); inside a word r and h are two sounds
    _rule("r", "р:0"),
    # --- s
    _rule("sch", "ш:.2@de ск:.7 сх:1"),
    _rule("sh", "ш:0"),
    _rule("sc", "с:.2 ш:.8@it", right="[eiy]"),
    _rule("ss", "сс:.2 с:.4"),
    _rule("s", "с:.3 з:.4", left=_V, right="[aeiou]"),
    _rule("s", "с:0"),
    # --- t
    _rule("tch", "ч:0"),
    _rule("tion", "ция:.3 шн:.6 шЭн:.8"),
    _rule("th", "т:.2 з:.6 с:.8"),
    _rule("tz", "ц:0"),
    _rule("tt", "тт:.3 т:.3", right="$"),
    _rule("tt", "тт:.2 т:.4"),
    _rule("t", "т:0"),
    # --- u
    _rule("ue", "ю:.3 у:.4", right="$"),
    _rule("ui", "уи:.3 и:.7 ю:1"),
    _rule("uy", "ай:.2 уй:.6"),
    _rule("u", "ю:.3 у:.3 а:1", left="^", right=_OPEN),
    _rule("u", "у:.1 а:.5", left="^"),
    _rule("u", "ю:.3 у:.4", right=_MAGIC),
    _rule("u", "у:.2 ю:.4 а:1", left="l"),
    _rule("u", "у:.2 а:.6 ю:1.2", right=_CLOSED),
    _rule("u", "у:0 ю:.6", right=_OPEN),
    _rule("u", "у:0 ю:1"),
    # --- v
    _rule("vv", "вв:.2 в:.4"),
    _rule("v", "в:0 ф:1.2@de"),
    # --- w
    _rule("wh", "х:.2 в:.6", right="o"),
    _rule("wh", "в:0 у:1"),
    _rule("wr", "р:.4 вр:.4", left="^"),
    _rule("w", "у:.5 в:.5", right="$"),
    _rule("w", "в:0 у:1"),
    # --- x: initial "xi" + vowel is pinyin (xiaomi), where x sounds like с before i.
    _rule("xia", "ся:.3 ксиа:.6 зиа:1", left="^"),
    _rule("xie", "се:.3 ксиЭ:.6", left="^"),
    _rule("xiu", "сю:.3 ксиу:.6", left="^"),
    _rule("x", "кс:.3 з:.6 икс:1", left="^"),
    _rule("x", "кс:0 -:1.5@fr", right="$"),
    _rule("x", "кс:0"),
    # --- y: a consonant before a vowel, a vowel elsewhere.
    _rule("y", "й:0", left=f"^|{_V}", right="[aeiou]"),
    _rule("y", "ь:.4 и:.4 й:.6", right="[aeiou]"),
    _rule("y", "ай:.2 и:.5", left=f"^{_C}+", right="$"),
    _rule("y", "и:0 ай:1", right="$"),
    _rule("y", "ай:.3 и:.5", right=_MAGIC),
    _rule("y", "и:.2 ай:.5", right=_OPEN),
    _rule("y", "и:0 ай:1"),
    # --- z
    _rule("zz", "цц:.4 зз:.4"),
    _rule("z", "з:.2 ц:.5@de", right=f"$|{_C}"),
    _rule("z", "з:0 ц:1@de"),
    # --- letters with diacritics that survive normalisation
    _rule("ß", "сс:0"),
    _rule("ä", "Э:.2 а:.4"),
    _rule("ö", "е:.2 о:.4"),
    _rule("ü", "ю:0 у:.5"),
    _rule("é", "Э:0"),
    _rule("ñ", "нь:0 н:.5"),
]

_RULES_BY_FIRST: dict[str, list[Rule]] = {}
for _r in sorted(_RULES, key=lambda r: -len(r.graph)):  # stable: listed order within a length
    _RULES_BY_FIRST.setdefault(_r.graph[0], []).append(_r)

# Very common English words inside brand names whose spelling the rules cannot know.
LEXICON: dict[str, tuple[str, ...]] = {
    "the": ("зе", "за", "тхе"),
    "new": ("нью",),
    "balance": ("баланс", "беланс", "бэланс"),
    "face": ("фейс", "фэйс"),
    "north": ("норт", "норс"),
    "apple": ("эпл", "эппл", "аппл"),
    "and": ("энд", "и", "анд"),
    "of": ("оф",),
    "love": ("лав",),
    "life": ("лайф",),
    "home": ("хоум", "хом"),
    "house": ("хаус",),
    "style": ("стайл",),
    "baby": ("беби", "бэби"),
    "kids": ("кидс", "кидз"),
    "black": ("блэк", "блек"),
    "blue": ("блю",),
    "world": ("ворлд",),
    "one": ("ван",),
    "two": ("ту",),
    "care": ("кэр", "кеа"),
    "beauty": ("бьюти",),
    "power": ("пауэр", "пауер"),
    "light": ("лайт",),
    "night": ("найт",),
    "day": ("дэй", "дей"),
    "star": ("стар",),
    "sun": ("сан",),
    "sea": ("си",),
    "sky": ("скай",),
    "street": ("стрит",),
    "smart": ("смарт",),
    "young": ("янг",),
    "little": ("литл",),
    "people": ("пипл",),
    "water": ("вотер", "уотер"),
    "you": ("ю",),
    "your": ("ёр", "юр"),
    "my": ("май",),
    "we": ("ви",),
    "only": ("онли",),
    "eye": ("ай",),
    "eyes": ("айз", "айс"),
}

# English letter names, for acronyms ("HP" -> "эйчпи").
_LETTER_NAMES_SAID = "эй би си ди и эф джи эйч ай джей кей эл эм эн оу пи кью ар эс ти ю ви дабл-ю икс уай зет"
LETTER_NAMES: dict[str, str] = dict(zip("abcdefghijklmnopqrstuvwxyz", _LETTER_NAMES_SAID.split(), strict=True))

_DIACRITIC_KEEP = set("ßäöüéñ")
# Russian spelling of the joins between graphemes: "й" + "а" is "я", a soft sign before a vowel
# iotates it, no soft sign after a vowel, no "я"/"ю" after hushing consonants, no tripled letters.
_ORTHOGRAPHY_PAIRS: dict[str, str] = {
    "йа": "я", "йу": "ю", "ьа": "ья", "ьу": "ью", "ьэ": "ье", "ьй": "й", "йь": "й", "йй": "й", "ьь": "ь",
    "жя": "жа", "шя": "ша", "чя": "ча", "щя": "ща", "ця": "ца",
    "жю": "жу", "шю": "шу", "чю": "чу", "щю": "щу",
}  # fmt: skip
_ORTHOGRAPHY_PAIRS.update({v + "ь": v for v in "аеёиоуыэюя"})
_PAIRS_RE = re.compile("|".join(sorted(_ORTHOGRAPHY_PAIRS, key=len, reverse=True)))
_TRIPLE_RE = re.compile(r"(.)\1\1+")
_NEEDS_FIX = set("йьжшчщцё")


def normalise_latin(word: str) -> str:
    """Lowercase, drop accents except the letters the rules read specially."""
    out = []
    for ch in word.lower():
        if ch in _DIACRITIC_KEEP:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFD", ch)
        out.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(out)


def fix_orthography(text: str) -> str:
    if _NEEDS_FIX.isdisjoint(text) and _TRIPLE_RE.search(text) is None:
        return text  # the common case, checked cheaply
    previous = None
    while previous != text:  # joins can cascade ("ььа" -> "ьа" -> "ья")
        previous = text
        text = _PAIRS_RE.sub(lambda m: _ORTHOGRAPHY_PAIRS[m.group(0)], text)
    text = _TRIPLE_RE.sub(r"\1\1", text).replace("ё", "е")
    return text[1:] if text.startswith("ь") else text


def _cues(word: str) -> set[str]:
    return {lang for lang, pattern in LANGUAGE_CUES.items() if pattern.search(word)}


def segment(word: str) -> list[tuple[str, tuple[tuple[str, float, str | None], ...]]]:
    """Graphemes of a normalised Latin word with their reading options."""
    out = []
    i = 0
    while i < len(word):
        rule = next((r for r in _RULES_BY_FIRST.get(word[i], ()) if r.applies(word, i)), None)
        if rule is None:
            # Digits or letters without a rule are copied through unchanged.
            out.append((word[i], ((word[i], 0.0, None),)))
            i += 1
            continue
        out.append((rule.graph, rule.options))
        i += len(rule.graph)
    return out


def resolve_e(
    prev: str, reading: str, e_after_consonant_cost: float, limit: int
) -> tuple[list[tuple[str, float]], bool]:
    """Resolve the /e/ symbol "Э" against the letter written before it (``prev`` before the
    reading): "э" at the start of a word and after a vowel, "е" (or, at a cost, "э") after a
    consonant. Shared by pronounce and g2p.

    Each "Э" after a consonant doubles the spellings, so a long word would hold 2**n of them (a
    brand of 10,000 letters took 24 GB): at most ``limit`` are kept, the cheapest (ties by text).
    Returns them and whether the cap cut any."""
    variants: list[tuple[str, float]] = [("", 0.0)]
    capped = False
    for ch in reading:
        if ch != "Э":
            variants = [(t + ch, c) for t, c in variants]
            continue
        nxt: list[tuple[str, float]] = []
        for t, c in variants:
            before = t[-1] if t else prev
            # Russian writes э after a vowel (ариэль) but е after й (плеер, хайер).
            if before == "и":
                # After и both are written: ариэль, but клиент, диета (э first, as after other vowels).
                nxt.append((t + "э", c))
                nxt.append((t + "е", c + e_after_consonant_cost))
            elif not before or before in _CYR_VOWELS or before == " ":
                nxt.append((t + "э", c))
            else:
                nxt.append((t + "е", c))
                nxt.append((t + "э", c + e_after_consonant_cost))
        if len(nxt) > limit:
            # Costs only grow as the word goes on: the cheapest prefixes hold the cheapest words.
            nxt = heapq.nsmallest(limit, nxt, key=lambda v: (v[1], v[0]))
            capped = True
        variants = nxt
    return variants, capped


def read_word(word: str, cfg: PronounceConfig) -> list[tuple[str, float]]:
    """Cheapest Cyrillic readings of one Latin word as (reading, cost), cheapest first."""
    word = normalise_latin(word)
    if word in LEXICON:
        return [(r, float(i)) for i, r in enumerate(LEXICON[word])]
    cues = _cues(word)
    beam: list[tuple[float, str]] = [(0.0, "")]
    for _graph, options in segment(word):
        # Costs after the language cues; readings without the /e/ symbol take the fast path.
        prepared = [
            (reading, max(cost - (cfg.language_cue_bonus if lang in cues else 0.0), 0.0), "Э" in reading)
            for reading, cost, lang in options
        ]
        grown: dict[str, float] = {}
        for cost, text in beam:
            prev = text[-1] if text else ""
            for reading, opt_cost, has_e in prepared:
                # One segment's reading holds an "Э" or two: the beam's width never binds here.
                pieces = (
                    resolve_e(prev, reading, cfg.e_after_consonant_cost, cfg.beam_width)[0]
                    if has_e
                    else ((reading, 0.0),)
                )
                for piece, extra in pieces:
                    new_text, new_cost = text + piece, cost + opt_cost + extra
                    if new_cost < grown.get(new_text, math.inf):
                        grown[new_text] = new_cost
        ranked = ((c, t) for t, c in grown.items())
        beam = heapq.nsmallest(cfg.beam_width, ranked) if len(grown) > cfg.beam_width else sorted(ranked)
    best: dict[str, float] = {}
    for cost, text in beam:
        fixed = fix_orthography(text)
        if fixed and cost < best.get(fixed, float("inf")):
            best[fixed] = cost
    ranked = sorted(best.items(), key=lambda x: (x[1], x[0]))
    if not re.search("[aeiouy]", word) and len(word) <= 4 and word.isalpha():
        # No vowel to read: an acronym, said letter by letter.
        spelled = "".join(LETTER_NAMES.get(ch, ch) for ch in word)
        ranked = [(spelled, 0.0)] + [(t, c) for t, c in ranked if t != spelled]
    return ranked[: cfg.max_candidates_per_word]


def read_words(words: Iterable[str], cfg: PronounceConfig) -> dict[str, list[tuple[str, float]]]:
    return {w: read_word(w, cfg) for w in dict.fromkeys(words)}
