"""Latin -> Cyrillic by a real grapheme-to-phoneme engine: each word said in its own language.

eSpeak NG (shipped by the ``espeakng-loader`` wheel, driven by ``phonemizer``) turns a Latin
word into IPA in each candidate language (``synonyms.g2p.languages``: Peugeot is ``pøʒo`` in
French, Stihl ``ʃtiːl`` in German). One table maps IPA to Russian spelling following the
Russian practical-transcription conventions:

- /e/ is "э" at the start of a word and after a vowel, "е" after a consonant;
- /j/ + vowel iotates it ("йа" -> "я"), no "я"/"ю" after hushing consonants (orthography joins
  shared with :mod:`.pronounce`);
- reduced vowels (ə, ɚ, ɐ, ᵻ) are written by the word's spelling, not by ear (Energizer ->
  энерджайзер, Volkswagen -> фольксваген), when the vowels can be lined up with the letters;
- final devoicing is left as spelled (Hochland -> хохланд, not хохлант);
- double consonants follow the spelling (Gucci -> гуччи, Marshall -> маршалл), the undoubled
  form kept as a cheaper-than-wrong alternative; eSpeak's own doubling is ignored;
- "l" before a consonant or at the end is soft in French, German, Italian and Spanish words
  (Chanel -> шанель, Opel -> опель) and hard in English ones (Mattel -> маттел);
- a few symbols differ by language (LANGUAGE_OVERRIDES): the American flap ɾ is t / d, French
  /w/ is "у" (Bourjois -> буржуа), Castilian θ is "с"; a vowel may also be written as spelled,
  at a cost, and the American ɑ of a spelled "o" is written "о" first (hot -> хот);
- ŋ before k / g is "н" (банк); /e/ after "и" is "э" or "е" (клиент); a schwa spelled "a" may be
  "е" as in English "-land" -> "-ленд".

Each reading costs its table alternatives plus its language's prior (``synonyms.g2p``); the
character model of Russian spelling reranks them in :mod:`.generate`. The table's costs are
linguistic data (how unusual a spelling of a sound is), as in :mod:`.pronounce`, not knobs; the
knobs are in params. Phonemizations are cached per (word, language) for the life of the process
and asked of eSpeak in one batch per language.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from .pronounce import LANGUAGE_CUES, LETTER_NAMES, fix_orthography, normalise_latin, resolve_e
from .schema import G2PConfig

log = logging.getLogger(__name__)
# phonemizer warns on every batch in which eSpeak switched language inside a word; the flags
# are removed by design (language_switch="remove-flags"), so only its errors are worth showing.
_ESPEAK_LOG = log.getChild("espeak")
_ESPEAK_LOG.setLevel(logging.ERROR)

# IPA symbol -> (Russian spelling, cost). "Э" is the vowel /e/, resolved against the letter
# before it; "R" is a reduced vowel, written by the spelling (see _reduced). Longest symbols
# are matched first, so affricates and diphthongs win over their parts.
_X = tuple[tuple[str, float], ...]
IPA_TABLE: dict[str, _X] = {
    # consonants
    "p": (("п", 0.0),), "b": (("б", 0.0),), "t": (("т", 0.0),), "d": (("д", 0.0),),
    "k": (("к", 0.0),), "ɡ": (("г", 0.0),), "g": (("г", 0.0),), "c": (("к", 0.0),), "ɟ": (("г", 0.0),),
    "f": (("ф", 0.0),), "v": (("в", 0.0),), "ʋ": (("в", 0.0),), "β": (("б", 0.0), ("в", 0.3)),
    "s": (("с", 0.0), ("з", 0.5)), "z": (("з", 0.0), ("с", 0.5)),
    "ʃ": (("ш", 0.0),), "ʒ": (("ж", 0.0),), "ɕ": (("щ", 0.0),), "ʂ": (("ш", 0.0),),
    "tʃ": (("ч", 0.0),), "dʒ": (("дж", 0.0),), "ts": (("ц", 0.0), ("тс", 0.5)), "dz": (("дз", 0.0), ("з", 0.3), ("ц", 0.4)),
    "pf": (("пф", 0.0),), "ks": (("кс", 0.0),),
    "x": (("х", 0.0),), "ç": (("х", 0.0),), "h": (("х", 0.0),), "ɣ": (("г", 0.0),), "ʔ": (("", 0.0),),
    "θ": (("т", 0.0), ("с", 0.2)), "ð": (("з", 0.0), ("д", 0.2)),
    "m": (("м", 0.0),), "n": (("н", 0.0),), "ɲ": (("нь", 0.0),), "ŋ": (("нг", 0.0), ("н", 0.3)),
    "ŋk": (("нк", 0.0),), "ŋɡ": (("нг", 0.0),),
    "l": (("л", 0.0),), "ɫ": (("л", 0.0),), "ʎ": (("ль", 0.0),), "ɬ": (("л", 0.0),),
    "r": (("р", 0.0),), "ɾ": (("р", 0.0),), "ɹ": (("р", 0.0),), "ʁ": (("р", 0.0),), "ʀ": (("р", 0.0),),
    "j": (("й", 0.0), ("и", 0.3), ("ь", 0.4)), "ʝ": (("й", 0.0),), "w": (("в", 0.0), ("у", 0.3)), "ɥ": (("ю", 0.0),),
    # vowels
    "a": (("а", 0.0),), "ɑ": (("а", 0.0),), "ɐ": (("R", 0.0),), "æ": (("Э", 0.0), ("а", 0.4)),
    "ʌ": (("а", 0.0), ("R", 0.2)), "ɒ": (("о", 0.0),), "ɔ": (("о", 0.0),), "o": (("о", 0.0),),
    "e": (("Э", 0.0),), "ɛ": (("Э", 0.0),), "ɜ": (("R", 0.0), ("Э", 0.1)), "ə": (("R", 0.0),),
    "ɚ": (("R", 0.0),), "ᵻ": (("R", 0.0), ("и", 0.2)),
    "i": (("и", 0.0),), "ɪ": (("и", 0.0), ("R", 0.3)), "y": (("ю", 0.0), ("у", 0.3)), "ʏ": (("ю", 0.0), ("у", 0.3)),
    "u": (("у", 0.0),), "ʊ": (("у", 0.0),), "ø": (("Э", 0.0),), "œ": (("Э", 0.0),),
    "ɑ̃": (("ан", 0.0), ("ам", 0.5), ("он", 0.4)), "ɛ̃": (("ен", 0.0), ("ан", 0.4)), "ɔ̃": (("он", 0.0),), "œ̃": (("ен", 0.0),),
    # diphthongs
    "aɪ": (("ай", 0.0),), "aʊ": (("ау", 0.0),), "eɪ": (("Эй", 0.0),), "oʊ": (("оу", 0.2), ("о", 0.0)),
    "əʊ": (("оу", 0.2), ("о", 0.0)), "ɔɪ": (("ой", 0.0),), "ɔø": (("ой", 0.0),), "ɔʏ": (("ой", 0.0),),
    "ai": (("ай", 0.0),), "au": (("ау", 0.0),), "ei": (("Эй", 0.0),), "oi": (("ой", 0.0),), "ou": (("оу", 0.0), ("у", 0.3)),
    "ɪə": (("иа", 0.0), ("ия", 0.2)), "eə": (("Эа", 0.0), ("Эр", 0.3)), "ʊə": (("уа", 0.0), ("ур", 0.3)),
    "ju": (("ю", 0.0), ("ью", 0.3)), "jʊ": (("ю", 0.0), ("ью", 0.3)),
    # marks: stress and syllabicity are dropped; length is read in _tokens
    "ˈ": (("", 0.0),), "ˌ": (("", 0.0),), "̩": (("", 0.0),), " ": ((" ", 0.0),), "-": (("", 0.0),),
}  # fmt: skip
# Where a language's eSpeak output means something else: American English writes the flapped
# t / d of "Toyota", "Dutti" as ɾ, which every other voice uses for r.
# French /w/ before a vowel is "у" in Russian (Bourjois -> буржуа), English /w/ mostly "в".
# Castilian θ (c, z) is "с" in Russian, by the spelling of Spanish names (Zaragoza -> сарагоса).
LANGUAGE_OVERRIDES: dict[str, dict[str, _X]] = {
    "en": {"ɾ": (("т", 0.0), ("д", 0.1), ("р", 0.5))},
    "fr": {"w": (("у", 0.0), ("в", 0.3))},
    "es": {"θ": (("с", 0.0), ("ц", 0.3))},
}
_SYMBOL_LENGTHS = sorted({len(s) for s in IPA_TABLE}, reverse=True)
_VOWEL_SYMBOLS = frozenset("aɑɐæʌɒɔoeɛɜəɚᵻiɪyʏuʊøœ")
# (IPA vowel, spelled Russian vowel) written as spelled first: American English says the "o"
# of closed syllables as ɑ ("hot", "tom", "dog"), which Russian writes о, after British /ɒ/.
_SPELLED_FIRST = frozenset({("ɑ", "о")})
# Reduced vowels written by the spelling: the letter's Russian vowel.
_LETTER_VOWEL = {"a": "а", "e": "Э", "i": "и", "o": "о", "u": "у", "y": "и", "ä": "Э", "ö": "Э", "ü": "ю", "é": "Э"}
# A schwa spelled "a" is also written "е", as Russian writes the English "-land", "-man".
_SCHWA_OF_A: _X = (("Э", 0.3),)
_REDUCED_FALLBACK: _X = (("а", 0.0), ("Э", 0.1), ("о", 0.2), ("и", 0.3))
# ɜ is the r-coloured vowel of English "ur / ir / er" (bird) and German final "-er" (Lehrer):
# written as spelled, r included, like ɚ.
_R_FALLBACK: dict[str, _X] = {
    "ɚ": (("Эр", 0.0), ("ор", 0.1), ("ар", 0.2)), "ɐ": (("а", 0.0), ("Эр", 0.1)), "ɜ": (("Эр", 0.0), ("Э", 0.1))
}
# Latin doubled consonants -> the Russian letter doubled (Gucci -> гуччи, Lavazza -> лавацца).
_DOUBLES = {"bb": "б", "cc": "кч", "dd": "д", "ff": "ф", "gg": "гж", "kk": "к", "ll": "л", "mm": "м",
            "nn": "н", "pp": "п", "rr": "р", "ss": "с", "tt": "т", "zz": "цз"}  # fmt: skip
_DOUBLE_RE = re.compile("|".join(_DOUBLES))
# Spelled voiced ending -> the Russian letter it keeps (the devoiced reading -> the voiced one).
# A spelled final s said /z/ (the English plural) is written "с" too (Huggies -> хаггис).
_VOICED_END = {
    "d": ("т", "д"), "b": ("п", "б"), "g": ("к", "г"), "v": ("ф", "в"), "z": ("с", "з"), "s": ("з", "с"),
}  # fmt: skip
# /j/ between a consonant and a vowel is written "ь" + iotated vowel (Garnier -> гарньер).
_CJV_RE = re.compile("(?<=[бвгдзклмнпрстфхц])й(?=[аэеоуи])")
# Languages whose "l" before a consonant or at the end is written soft ("ль").
_SOFT_L_LANGUAGES = ("fr", "de", "it", "es")
_SOFT_L_RE = re.compile(r"л(?=[бвгджзйкмнпрстфхцчшщ]|$)")
_HARD_L_RE = re.compile(r"ль(?=[^аеёиоуыэюя]|$)")
_FINAL_IA_RE = re.compile("[иэе]а$")
_LATIN_WORD_RE = re.compile(r"[a-zßäöüéñ]+")


@dataclass
class G2PStats:
    """What the reader did. ``as_dict`` (for data/stats) holds only what the input decides:
    (word, language) pairs read, IPA the table could not map, words eSpeak could not read
    (counted, never raised). How many came from the process-wide cache is kept apart, since
    it depends on what the process read before."""

    readings: int = 0
    unmapped: int = 0  # (word, language) pairs whose IPA held a symbol outside the table
    unreadable_words: list[str] = field(default_factory=list)
    unread_brands: list[str] = field(default_factory=list)  # Latin brands with such a word
    capped_words: list[str] = field(default_factory=list)  # е / э spellings cut at max_e_variants
    phonemized: int = 0  # asked of eSpeak
    cache_hits: int = 0  # served from the cache

    def as_dict(self) -> dict:
        return {"word_language_pairs": self.readings, "unmapped_readings": self.unmapped,
                "unreadable_words": len(self.unreadable_words),
                "capped_words": len(self.capped_words)}  # fmt: skip


_CACHE: dict[tuple[str, str], str] = {}


@cache
def _backend(language: str):  # noqa: ANN202 - phonemizer's backend class is imported lazily
    """One eSpeak backend per language, on the library and data that espeakng-loader ships
    (no system package). Imported here so that the other strategies run without it."""
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()
    # remove-flags: eSpeak switches language inside words it knows ("(en)stɪhl(fr)").
    return EspeakBackend(language, language_switch="remove-flags", logger=_ESPEAK_LOG)


def phonemize(words: Sequence[str], language: str, stats: G2PStats) -> dict[str, str]:
    """IPA of each (lowercase Latin) word in ``language``: cached ones from the cache, the rest
    in one call to eSpeak."""
    todo = sorted({w for w in words if (w, language) not in _CACHE})
    stats.readings += len(set(words))
    stats.cache_hits += len(set(words)) - len(todo)
    if todo:
        ipa = _backend(language).phonemize(todo, strip=True, njobs=1)
        if len(ipa) != len(todo):
            raise RuntimeError(f"espeak returned {len(ipa)} phonemizations for {len(todo)} words ({language})")
        _CACHE.update({(w, language): p for w, p in zip(todo, ipa, strict=True)})
        stats.phonemized += len(todo)
    return {w: _CACHE[(w, language)] for w in words}


def _tokens(ipa: str) -> list[str] | None:
    """IPA -> table symbols, longest first; None if a symbol is not in the table. Length marks
    go, and eSpeak's doubled consonants are merged: doubling follows the spelling."""
    out: list[str] = []
    i = 0
    while i < len(ipa):
        if ipa[i] == "ː":
            i += 1
            continue
        # Longest symbol first, by slicing: a scan over the whole table per position is slow.
        symbol = next((ipa[i : i + n] for n in _SYMBOL_LENGTHS if ipa[i : i + n] in IPA_TABLE), None)
        if symbol is None:
            return None
        i += len(symbol)
        if out and out[-1] == symbol and not _is_vowel(symbol):
            continue
        out.append(symbol)
    return out


# A vowel group of the spelling (the umlauts and é that normalise_latin keeps included); "y"
# before a vowel is a consonant (yoga, loyal, mayor).
_VOWEL_GROUP_RE = re.compile(r"(?:[aeiouäöüé]|y(?![aeiouäöüé]))+")


def _vowel_groups(word: str) -> list[tuple[str, bool]]:
    """(first letter, followed by r) of each vowel group of the spelling, a silent final e left out."""
    groups = [(m.group(0)[0], word[m.end() : m.end() + 1] == "r") for m in _VOWEL_GROUP_RE.finditer(word)]
    if len(groups) > 1 and re.search(r"[^aeiouy]les?$", word):
        # Syllabic l of "-le(s)" is said with a schwa and written without a vowel (Google -> гугл,
        # puzzle -> пазл). Checked before the silent final e, which would otherwise take the e of
        # "-le" and leave one group for two vowels.
        return [*groups[:-1], ("", False)]
    if len(groups) > 1 and re.search(r"[^aeiouy]e$", word):
        groups = groups[:-1]
    return groups


def _is_vowel(symbol: str) -> bool:
    return any(ch in _VOWEL_SYMBOLS for ch in symbol)


def _reduced(word: str, symbols: list[str], spelled: list[str | None]) -> list[_X]:
    """Per symbol, how the spelling writes it if it is a reduced vowel: the letter of the
    matching vowel group (plus "р" for ɚ / ɐ spelled vowel + r: Energizer, Kinder). Without a
    one-to-one match of vowels and vowel letters, the fallbacks are left to the language model.
    ``spelled`` receives each matched vowel's letter reading (None elsewhere)."""
    nuclei = [i for i, s in enumerate(symbols) if _is_vowel(s)]
    groups = _vowel_groups(word)
    out: list[_X] = [_R_FALLBACK.get(s, _REDUCED_FALLBACK) for s in symbols]
    if len(nuclei) != len(groups):
        return out
    for idx, (letter, before_r) in zip(nuclei, groups, strict=True):
        vowel = _LETTER_VOWEL.get(letter, "") if letter else ""
        out[idx] = ((vowel + "р", 0.0),) if symbols[idx] in _R_FALLBACK and before_r else ((vowel, 0.0),)
        if vowel == "а" and symbols[idx] == "ə":
            out[idx] = (*out[idx], *_SCHWA_OF_A)
        spelled[idx] = vowel
    return out


def _double_as_spelled(word: str, text: str) -> str:
    """Double the Russian letters of the spelling's doubled consonants, in order. The letter
    doubled is the one the doubled consonant is read as, found after as many of its readings as
    the spelling has that consonant before it: sassa -> сасса (not ссаса), chacco -> чакко."""
    pos, after = 0, 0  # in the reading and in the spelling, past the last double placed
    for m in _DOUBLE_RE.finditer(word):
        letters = _DOUBLES[m.group(0)]
        skip = word.count(m.group(0)[0], after, m.start())
        after = m.end()
        hits = [i for i in range(pos, len(text)) if text[i] in letters]
        hit = hits[min(skip, len(hits) - 1)] if hits else None
        if hit is None:
            break
        # "cc" said k + s is two sounds already (success -> саксесс): nothing to double.
        two_sounds = m.group(0) == "cc" and text[hit : hit + 2] == "кс"
        if not two_sounds and text[hit + 1 : hit + 2] != text[hit]:
            text = text[: hit + 1] + text[hit] + text[hit + 1 :]
        pos = hit + 2
    return text


def _voice_as_spelled(ending_letters: str, form: str) -> str:
    """Final devoicing left as spelled, through a final cluster: grobs -> гробс (not гропс),
    Hochland -> хохланд. ``ending_letters`` are the spelling's final consonants, last first."""
    for back, letter in enumerate(ending_letters, start=1):
        if letter not in _VOICED_END or len(form) < back or form[-back] not in _VOICED_END[letter]:
            break
        form = form[: len(form) - back] + _VOICED_END[letter][1] + form[len(form) - back + 1 :]
    return form


def _finish(word: str, text: str, language: str, cfg: G2PConfig) -> list[tuple[str, float]]:
    """Spelling conventions on a whole reading: doubles, final voicing, soft l, orthography."""
    out: list[tuple[str, float]] = []
    doubled = _double_as_spelled(word, text)
    forms = [(doubled, 0.0)] + ([(text, cfg.undoubled_cost)] if doubled != text else [])
    # The spelling's last two letters, when consonants: the final cluster, voiced as spelled.
    ending = re.search(r"[^aeiouy]{1,2}$", word.rstrip("e"))
    ending_letters = ending.group(0)[::-1] if ending else ""
    if word.startswith("h") and not text.startswith("х"):
        # French, Italian and Spanish do not say h; Russian spelling mostly keeps it (Helly ->
        # хелли; Hermes -> эрмес as said).
        forms += [("х" + f, c) for f, c in forms]
    for form, cost in forms:
        form = _CJV_RE.sub("ь", form)
        form = _voice_as_spelled(ending_letters, form)
        soft = language.split("-")[0] in _SOFT_L_LANGUAGES
        hard_l, soft_l = _HARD_L_RE.sub("л", form), _SOFT_L_RE.sub("ль", form)
        first, second = (soft_l, hard_l) if soft else (hard_l, soft_l)
        out.append((first, cost))
        if second != first:
            out.append((second, cost + cfg.soft_l_cost))
    # Final -ia / -ea are written -ия / -ея (Columbia -> коламбия, Nivea -> нивея).
    out += [(form[:-1] + "я", cost) for form, cost in out if _FINAL_IA_RE.search(form)]
    fixed: dict[str, float] = {}
    for form, cost in out:
        form = fix_orthography(form)
        if form and cost < fixed.get(form, float("inf")):
            fixed[form] = cost
    return list(fixed.items())


def read_ipa(
    word: str, ipa: str, language: str, cfg: G2PConfig, stats: G2PStats | None = None
) -> list[tuple[str, float]] | None:
    """Russian spellings of one word's IPA in one language, cheapest first (None: unmapped);
    a word whose е / э spellings hit ``cfg.max_e_variants`` is listed in ``stats.capped_words``."""
    symbols = _tokens(ipa)
    if symbols is None:
        return None
    letters: list[str | None] = [None] * len(symbols)
    spelled = _reduced(word, symbols, letters)
    table = IPA_TABLE | LANGUAGE_OVERRIDES.get(language.split("-")[0], {})
    beam: list[tuple[float, str]] = [(0.0, "")]
    for symbol, by_spelling, letter in zip(symbols, spelled, letters, strict=True):
        options = table[symbol]
        if (symbol, letter) in _SPELLED_FIRST:
            # The sound's own spelling becomes the alternative, at the spelled-vowel cost.
            options = ((letter, 0.0), *((piece, extra + cfg.spelled_vowel_cost) for piece, extra in options))
        elif letter and not any(piece == "R" for piece, _ in options):
            # A full vowel may still be written as spelled (Galina -> галина).
            options = (*options, (letter, cfg.spelled_vowel_cost))
        if len(options) == 1 and options[0][0] != "R":
            # Most symbols have one spelling: extend every partial reading, nothing to rank.
            piece, extra = options[0]
            beam = [(cost + extra, text + piece) for cost, text in beam]
            continue
        grown: dict[str, float] = {}
        for cost, text in beam:
            for piece, extra in options:
                for p, c in by_spelling if piece == "R" else ((piece, 0.0),):
                    new_text, new_cost = text + p, cost + extra + c
                    if new_cost < grown.get(new_text, float("inf")):
                        grown[new_text] = new_cost
        beam = heapq.nsmallest(cfg.beam_width, ((c, t) for t, c in grown.items()))
    resolved: dict[str, float] = {}
    for cost, text in beam:
        # The whole word's "Э"s at once: capped at max_e_variants (a long word would hold 2**n).
        forms, capped = resolve_e("", text, cfg.e_after_consonant_cost, cfg.max_e_variants)
        if capped and stats is not None and word not in stats.capped_words:
            stats.capped_words.append(word)
        for form, e_cost in forms:
            if cost + e_cost < resolved.get(form, float("inf")):
                resolved[form] = cost + e_cost
    # Only the cheapest readings get the spelling conventions (each yields a few forms).
    cheapest = heapq.nsmallest(cfg.finished_per_language, ((c, t) for t, c in resolved.items()))
    best: dict[str, float] = {}
    for cost, text in cheapest:
        for form, extra in _finish(word, text, language, cfg):
            if cost + extra < best.get(form, float("inf")):
                best[form] = cost + extra
    return sorted(best.items(), key=lambda x: (x[1], x[0]))


def read_words(
    words: Iterable[str], cfg: G2PConfig, stats: G2PStats | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Readings of each word in every candidate language, its prior added, cheapest first, at
    most ``max_candidates_per_word``. A word eSpeak cannot read (no Latin letters: emoji, CJK,
    digits) or whose IPA cannot be mapped gets no readings and is counted in ``stats``."""
    stats = stats if stats is not None else G2PStats()
    words = list(dict.fromkeys(words))
    normal = {w: normalise_latin(w) for w in words}
    readable = sorted({n for n in normal.values() if _LATIN_WORD_RE.fullmatch(n)})
    found: dict[str, dict[str, float]] = {n: {} for n in readable}
    items = [
        (norm, ipa, language)
        for language in sorted(cfg.languages)
        for norm, ipa in phonemize(readable, language, stats).items()
    ]
    for norm, ipa, language in items:
        readings = read_ipa(norm, ipa, language, cfg, stats)
        prior = cfg.languages[language]
        if readings is None:
            stats.unmapped += 1
            continue
        cue = LANGUAGE_CUES.get(language.split("-")[0])
        # A spelling cue of the language ("eau", "sch", "cci") makes its reading likelier.
        word_prior = max(prior - cfg.language_cue_bonus, 0.0) if cue and cue.search(norm) else prior
        for text, cost in readings:
            if word_prior + cost < found[norm].get(text, float("inf")):
                found[norm][text] = word_prior + cost
    for norm in readable:
        if not re.search("[aeiouy]", norm) and len(norm) <= cfg.spell_out_max_letters:
            # No vowel to say: an acronym, said letter by letter (HP -> эйчпи).
            found[norm]["".join(LETTER_NAMES.get(ch, ch) for ch in norm)] = 0.0
    out: dict[str, list[tuple[str, float]]] = {}
    for word in words:
        options = found.get(normal[word], {})
        if not options:
            stats.unreadable_words.append(word)
        out[word] = sorted(options.items(), key=lambda x: (x[1], x[0]))[: cfg.max_candidates_per_word]
    return out
