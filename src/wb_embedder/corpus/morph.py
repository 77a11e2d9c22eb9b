"""Russian agreement and inflection on top of pymorphy3, cached.

pymorphy3 parsing costs tens of microseconds per call and the generator asks for the same
few hundred (lemma, grammemes) pairs hundreds of thousands of times, so every public helper
is memoised. pymorphy3 always answers with "ё"; callers decide whether to keep it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache

import pymorphy3

@lru_cache(maxsize=1)
def analyzer() -> pymorphy3.MorphAnalyzer:
    """One shared analyzer: loading the dictionaries takes a while and a lot of memory."""
    return pymorphy3.MorphAnalyzer()


def _same(a: str, b: str) -> bool:
    return a.replace("ё", "е") == b.replace("ё", "е")


@cache
def _adjective_parse(lemma: str) -> pymorphy3.analyzer.Parse | None:
    parses = [p for p in analyzer().parse(lemma) if p.tag.POS in ("ADJF", "PRTF")]
    for p in parses:
        if {"masc", "sing", "nomn"} <= p.tag.grammemes and _same(p.word, lemma):
            return p
    # Some lemmas ("беспроводной") exist only as other forms of a differently spelled lemma;
    # any adjectival parse still inflects to the right paradigm.
    return parses[0] if parses else None


def _agreement_tags(gram: str, case: str) -> set[str]:
    # Catalogue nouns are inanimate: their accusative adjective looks like the nominative.
    animacy = {"inan"} if case == "accs" and gram in ("masc", "plur") else set()
    if gram == "plur":
        return {"plur", case} | animacy
    return {gram, "sing", case} | animacy


@cache
def agree(lemma: str, gram: str, case: str = "nomn") -> str:
    """Adjective or participle ``lemma`` (masc. nominative) agreed with a noun of ``gram``.

    Multi-word phrases ("на платформе", "с длинным рукавом") and indeclinable words
    ("миди", "хаки") come back unchanged.
    """
    if " " in lemma or not lemma:
        return lemma
    if "-" in lemma and lemma.split("-")[-1] == "":
        return lemma
    parse = _adjective_parse(lemma)
    if parse is None or "Fixd" in parse.tag:
        return lemma
    form = parse.inflect(_agreement_tags(gram, case))
    return form.word if form is not None else lemma


@cache
def short_form(lemma: str, gram: str) -> str:
    """Short adjective agreeing with the noun: маленький -> мал / мала / мало / малы."""
    parse = _adjective_parse(lemma)
    if parse is None:
        return lemma
    form = parse.inflect({"ADJS", "plur"} if gram == "plur" else {"ADJS", gram, "sing"})
    return form.word if form is not None else lemma


@cache
def past_verb(verb: str, gram: str) -> str:
    """Past-tense verb (given in masc.) agreeing with the subject noun: пришёл -> пришла."""
    parses = [p for p in analyzer().parse(verb) if p.tag.POS == "VERB" and "past" in p.tag]
    if not parses:
        return verb
    form = parses[0].inflect({"plur"} if gram == "plur" else {gram, "sing"})
    return form.word if form is not None else verb


@cache
def noun_form(noun: str, gram: str, case: str = "nomn", plural: bool | None = None) -> str:
    """``noun`` (nominative, in the number ``gram`` implies) put in ``case`` and number.

    ``plural`` None keeps the number of the dictionary form. Multi-word and unknown nouns come
    back unchanged, which is what shoppers do with them anyway.
    """
    if " " in noun:
        return noun
    number = "plur" if (plural if plural is not None else gram == "plur") else "sing"
    own = "plur" if gram == "plur" else "sing"
    candidates = [p for p in analyzer().parse(noun) if p.tag.POS == "NOUN" and "nomn" in p.tag]
    chosen = next((p for p in candidates if own in p.tag and _same(p.word, noun)), None)
    if chosen is None or "Fixd" in chosen.tag:
        return noun
    if "Pltm" in chosen.tag:
        number = "plur"
    form = chosen.inflect({case, number})
    return form.word if form is not None else noun


@cache
def guess_gram(phrase: str) -> str:
    """Gender/number slot of a noun phrase: that of its first word read as a nominative noun.

    Shoppers put the head noun first ("брюки карго") or after its adjectives ("спортивная
    обувь"); in both cases the first noun is the head.
    """
    for word in phrase.split():
        parses = analyzer().parse(word)
        if parses[0].tag.POS != "NOUN":
            continue
        for p in parses:
            if p.tag.POS == "NOUN" and "nomn" in p.tag:
                if "plur" in p.tag:
                    return "plur"
                for g in ("masc", "femn", "neut"):
                    if g in p.tag:
                        return g
    return "masc"


def phrase(pre: str, noun: str, post: str, gram: str, case: str = "nomn", plural: bool | None = None) -> str:
    """``[pre-adjective] noun [fixed tail]`` in a case/number, the adjective agreeing."""
    plural_now = plural if plural is not None else gram == "plur"
    slot = "plur" if plural_now else gram
    head = noun_form(noun, gram, case, plural)
    words = [agree(pre, slot, case)] if pre else []
    words.append(head)
    if post:
        words.append(post)
    return " ".join(words)


_FIELD = re.compile(r"\{(\w+)(?:([.:])([^{}]+))?\}")


def render(template: str, gram: str, values: Mapping[str, str | Callable[[str], str]]) -> str:
    """Fill a template whose adjectives and verbs agree with a noun of slot ``gram``.

    ``{A:удобный}`` agreeing adjective, ``{S:маленький}`` short adjective, ``{V:пришёл}`` past
    verb, ``{P:nom}``/``{P:acc}`` pronoun, ``{Q:станет|станут}`` singular or plural verb,
    ``{key}`` a plain value, ``{key.case}`` a value that is a callable taking a case name
    (a noun phrase).
    """

    def fill(match: re.Match[str]) -> str:
        key, sep, arg = match.group(1), match.group(2), match.group(3)
        if sep == ":":
            if key == "A":
                return agree(arg, gram)
            if key == "S":
                return short_form(arg, gram)
            if key == "V":
                return past_verb(arg, gram)
            if key == "P":
                return _PRONOUNS[arg][gram]
            if key == "Q":
                singular, _, plural_form = arg.partition("|")
                return plural_form if gram == "plur" else singular
        value = values[key]
        if callable(value):
            return value(arg or "nomn")
        return value

    return _FIELD.sub(fill, template)


_PRONOUNS = {
    "nom": {"masc": "он", "femn": "она", "neut": "оно", "plur": "они"},
    "acc": {"masc": "его", "femn": "её", "neut": "его", "plur": "их"},
    "this": {"masc": "этот", "femn": "эта", "neut": "это", "plur": "эти"},
    "such": {"masc": "такой", "femn": "такая", "neut": "такое", "plur": "такие"},
}
