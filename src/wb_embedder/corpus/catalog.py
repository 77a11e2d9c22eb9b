"""Products: families of near-identical cards with characteristics, titles and descriptions."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace

from . import descriptions as D
from .brands import NO_BRAND, SUBJECT_BRANDS, Brand, is_latin
from .morph import agree, phrase, render
from .noise import drop_yo, htmlify, messy_whitespace
from .rand import chance, pick, sample, weighted
from .vocab import (
    ADULT_PARENT,
    COUNTRIES,
    GENDER_CHARS,
    KIDS,
    PALETTES,
    PARENT_WEIGHTS,
    SUBJECTS,
    Subject,
)

logger = logging.getLogger(__name__)

DELETED_SHARE = 0.02
DUPLICATE_SHARE = 0.01
# Probability of each gender among those a subject allows (renormalised per subject).
GENDER_WEIGHTS = {"W": 0.46, "M": 0.3, "U": 0.08, "G": 0.07, "B": 0.06, "K": 0.03}
FAMILY_SIZES = (1, 2, 3, 4, 5, 6)
FAMILY_SIZE_WEIGHTS = (0.38, 0.24, 0.16, 0.1, 0.07, 0.05)
SOLES = ("ЭВА", "резина", "полиуретан", "ТЭП", "термопластичная резина")
LININGS = ("текстиль", "натуральная кожа", "искусственный мех", "натуральный мех", "байка")


@dataclass
class Product:
    """One card. ``mods`` are the modifier lemmas of its title, reused by the query log."""

    nmid: int
    family: int
    subject: Subject
    brand: str
    gender: str
    colours: list[str]
    sizes: list[str]
    chars: dict[str, list[str]]
    mods: list[str]
    model: str
    fit: str
    title: str = ""
    description: str = ""
    isadult: bool = False
    isdeleted: bool = False
    book: tuple[str, str] | None = None
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def gram(self) -> str:
        return self.subject.gram


# --- sizes ----------------------------------------------------------------------------------------

def _run(rnd: random.Random, ladder: list[str], lo: int, hi: int) -> list[str]:
    """A consecutive run of ``lo``..``hi`` sizes from a size ladder, as sellers list them."""
    count = min(len(ladder), rnd.randint(lo, hi))
    start = rnd.randrange(len(ladder) - count + 1)
    return ladder[start : start + count]


def _sizes(rnd: random.Random, scheme: str, gender: str) -> list[str]:
    kid = gender in KIDS
    if scheme == "clothes":
        if kid:
            return _run(rnd, [str(h) for h in range(86, 171, 6)], 3, 5)
        return _run(rnd, [str(s) for s in range(40, 62, 2)], 3, 6)
    if scheme == "shoes":
        if kid:
            return _run(rnd, [str(s) for s in range(22, 38)], 4, 7)
        low, high = {"W": (35, 42), "M": (39, 47)}.get(gender, (36, 46))
        return _run(rnd, [str(s) for s in range(low, high)], 4, 7)
    if scheme == "ring":
        return _run(rnd, ["15", "15.5", "16", "16.5", "17", "17.5", "18", "18.5", "19", "19.5", "20"], 3, 6)
    if scheme == "socks":
        return _run(rnd, ["16-18", "20-22", "23-25", "25-27", "27-29", "29-31"][3 if not kid else 0 :], 1, 2)
    if scheme == "bra":
        return _run(rnd, ["70A", "70B", "75A", "75B", "75C", "80B", "80C", "85C", "85D", "90D"], 3, 5)
    if scheme == "bedding":
        return [pick(rnd, ["1,5-спальный", "2-спальный", "евро", "семейный"])]
    if scheme == "bed":
        return [pick(rnd, ["90х200", "120х200", "140х200", "160х200", "180х200"])]
    if scheme == "hat":
        return _run(rnd, ["50-52", "52-54", "54-56", "56-58", "58-60"], 1, 2)
    if scheme == "gloves":
        return _run(rnd, ["6", "6.5", "7", "7.5", "8", "8.5", "9", "10"], 2, 4)
    return []


def _composition(rnd: random.Random, mats: tuple[str, ...]) -> list[str]:
    main = pick(rnd, mats)
    if chance(rnd, 0.35):
        return [f"{main} 100%"]
    share = rnd.randrange(60, 100, 5)
    others = [m for m in mats if m != main]
    second = "эластан" if share >= 90 and "эластан" in mats and main != "эластан" else pick(rnd, others)
    if share <= 80 and chance(rnd, 0.35):
        third = pick(rnd, [m for m in others if m != second] or [second])
        if third != second:
            tail = rnd.randrange(5, 100 - share, 5) if 100 - share > 5 else 0
            if tail:
                return [f"{main} {share}%", f"{second} {100 - share - tail}%", f"{third} {tail}%"]
    return [f"{main} {share}%", f"{second} {100 - share}%"]


# Model codes and product lines are not a category's own: "Pro" is a phone, a trimmer and a
# running shoe, "HX-2200" a kettle or a drill. Drawn from shared pools so that no code prefix or
# line word marks one top category (an appliance code used to start with its brand's letters).
CODE_PREFIXES = ("RK", "HT", "VT", "PL", "SX", "MX", "KT", "HX", "DS", "TR")
LINES = ("Pro", "Max", "Lite", "Plus", "Neo", "GT", "Air", "Ultra", "Sport", "Classic", "Note")
# goods sold in sets say so in brackets, as book titles say "(подарочное издание)"
PACKED_KINDS = ("food", "beauty", "petfood", "home", "office", "garden", "toy")
PACKS = ("2 шт", "3 шт", "набор", "упаковка 5 шт", "комплект")
CODED_KINDS = {"tools": 0.8, "health": 0.7, "auto": 0.6, "garden": 0.5, "toy": 0.5, "home": 0.3}
LINED_KINDS = {"shoes": 0.3, "sport": 0.35, "clothes": 0.12, "beauty": 0.2, "acc": 0.15, "office": 0.3}


def _model(rnd: random.Random, subject: Subject, brand: str) -> str:
    if subject.kind in CODED_KINDS:
        return f"{pick(rnd, CODE_PREFIXES)}-{rnd.randint(100, 9999)}" if chance(rnd, CODED_KINDS[subject.kind]) else ""
    if subject.kind in LINED_KINDS:
        if not chance(rnd, LINED_KINDS[subject.kind]):
            return ""
        return pick(rnd, LINES) + pick(rnd, ["", "", f" {rnd.randint(2, 99)}", f" {pick(rnd, LINES)}"])
    if subject.kind not in ("tech", "appliance") or subject.name in ("Чехлы", "Защитные стекла"):
        return ""
    if subject.name == "Смартфоны":
        if brand == "Apple":
            return f"iPhone {rnd.randint(11, 16)}{pick(rnd, ['', ' Pro', ' Pro Max', ' Plus'])}"
        if brand == "Samsung":
            return pick(rnd, [f"Galaxy A{rnd.randint(1, 7)}{rnd.randint(0, 9)}", f"Galaxy S{rnd.randint(21, 25)}"])
        if brand == "Xiaomi":
            return pick(rnd, [f"Redmi Note {rnd.randint(11, 14)}{pick(rnd, ['', ' Pro'])}", f"Redmi {rnd.randint(10, 14)}C"])
    if brand == "Apple":
        return pick(rnd, {"Наушники": ["AirPods 3", "AirPods Pro 2", "AirPods Max"], "Умные часы": ["Watch SE", "Watch Series 9"],
                          "Планшеты": ["iPad 10.9", "iPad Air", "iPad mini"], "Ноутбуки": ["MacBook Air 13", "MacBook Pro 14"]}
                    .get(subject.name, ["20W USB-C"]))
    if subject.kind == "appliance" or not is_latin(brand):
        return f"{pick(rnd, CODE_PREFIXES)}-{rnd.randint(100, 9999)}"
    series = pick(rnd, ["X", "S", "A", "Z", "K", "M"] + [f"{line} " for line in LINES])
    return f"{series}{rnd.randint(2, 99)}{pick(rnd, ['', '', ' Pro', ' Plus', ' Lite', 'i'])}"


# --- titles ---------------------------------------------------------------------------------------

def _gender_words(rnd: random.Random, gender: str) -> tuple[str, str]:
    """(agreeing adjective lemma, fixed tail phrase) that say the gender in a title."""
    if gender == "W":
        return ("женский", "") if chance(rnd, 0.8) else ("", "для женщин")
    if gender == "M":
        return ("мужской", "") if chance(rnd, 0.8) else ("", "для мужчин")
    if gender == "U":
        return "", "унисекс"
    if gender in ("G", "B"):
        tail = "для девочки" if gender == "G" else "для мальчика"
        return ("детский", tail) if chance(rnd, 0.4) else ("", tail)
    if gender == "K":
        return pick(rnd, [("детский", ""), ("детский", ""), ("", "для детей"), ("", "для малышей")])
    return "", ""


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _head(subject: Subject, case: str = "nomn") -> str:
    return phrase(subject.pre, subject.noun, subject.post, subject.gram, case)


@dataclass(frozen=True)
class _TitlePlan:
    """Family-level choices so that variants get near-identical titles."""

    style: str
    say_gender: bool
    gender_lemma_first: bool
    with_colour: bool
    with_brand: bool
    with_spec: bool
    quotes: tuple[str, str] | tuple[()] = ()


def _title(p: Product, plan: _TitlePlan, rnd: random.Random) -> str:
    s = p.subject
    slot = s.gram
    if s.kind == "book":
        return _book_title(p, rnd)
    head = _head(s)
    mods = [agree(m, slot) for m in p.mods]
    colour = agree(p.colours[0], slot) if plan.with_colour and p.colours else ""
    brand = p.brand if p.brand != NO_BRAND else ""
    if s.kind in ("tech", "appliance"):
        parts = [_cap(head)]
        if brand and plan.with_brand:
            parts.append(brand)
        if p.model:
            parts.append(p.model)
        if mods:
            parts.append(mods[0])
        spec = next(iter(p.extras.values()), "")
        if plan.with_spec and spec:
            parts.append(spec)
        if colour:
            parts.append(colour)
        return " ".join(parts)
    g_adj, g_tail = _gender_words(rnd, p.gender) if plan.say_gender else ("", "")
    g_adj = agree(g_adj, slot) if g_adj else ""
    if plan.style == "head_first":
        parts = [_cap(head), g_adj, g_tail if not g_adj else "", *mods, colour, g_tail if g_adj else ""]
    else:
        # only a real adjective can stand before the noun ("летние кроссовки", not "на платформе кроссовки")
        lead = [m for m in mods[:1] if " " not in m and m.endswith(("ый", "ий", "ой", "ые", "ие", "ая", "яя", "ое", "ее"))]
        rest = [m for m in mods if m not in lead]
        first = [g_adj, *lead] if plan.gender_lemma_first else [*lead, g_adj]
        parts = [*first, head, *rest, colour, g_tail]
        parts = [w for w in parts if w]
        parts[0] = _cap(parts[0])
    if plan.with_brand and brand:
        # Russian trade marks are often put in quotes by sellers ("Мёд «Сёмушка»")
        parts.append(f"{plan.quotes[0]}{brand}{plan.quotes[1]}" if plan.quotes and not is_latin(brand) else brand)
    if p.model:
        parts.append(p.model)
    title = " ".join(w for w in parts if w)
    if s.kind in ("food", "beauty", "petfood", "auto", "clothes", "sport") and plan.with_spec and p.extras:
        title += pick(rnd, [", ", ", ", " | ", " / "]) + next(iter(p.extras.values()))
    if s.kind in PACKED_KINDS and chance(rnd, 0.12):
        title += f" ({pick(rnd, PACKS)})"
    return title


def _book_title(p: Product, rnd: random.Random) -> str:
    assert p.book is not None
    name, author = p.book
    if p.subject.name == "Учебники":
        return name
    surname = author.split(",")[0].split()[-1]
    initial = author.split()[0][0]
    return pick(rnd, [name, f"{name}. {author}", f"{surname} {initial}. {name}", f"Книга «{name}» {author}", f'Книга "{name}" {author}',
                      f"{name} | {surname}", f"{name} (подарочное издание)"])


# --- descriptions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _DescPlan:
    length: str  # short / medium / long
    html: bool
    bullets: bool
    messy: bool
    keep_yo: bool
    seo_tail: bool
    seed: int


def _variant_sentence(p: Product, axis: str, rnd: random.Random) -> str:
    if axis == "colour" and p.colours:
        return pick(rnd, D.COLOUR_SENTENCES).format(colour=", ".join(p.colours))
    if axis == "size" and p.sizes:
        return f"Размер: {', '.join(p.sizes)}."
    if axis in p.extras:
        return f"{axis}: {p.extras[axis]}."
    return ""


def _description(p: Product, plan: _DescPlan, axis: str, family_brand_line: bool) -> str:
    # Same seed for every variant of a family: the sentences match, only variant facts differ.
    rnd = random.Random(plan.seed)
    s = p.subject
    values = {
        "N": _cap(_head(s)),
        "n": lambda case: _head(s, case),
        "brand": p.brand if p.brand != NO_BRAND else "",
        "mat": ", ".join(p.chars.get("Состав") or p.chars.get("Материал верха") or p.chars.get("Материал") or []),
        "sole": ", ".join(p.chars.get("Материал подошвы", [])),
        "sizes": ", ".join(p.sizes),
        "season": ", ".join(p.chars.get("Сезон", [])),
        "country": ", ".join(p.chars.get("Страна производства", ["Россия"])),
    }
    openers = list(D.OPENERS) + (list(D.WARDROBE_OPENERS) if s.kind in D.WARDROBE_KINDS else [])
    openers = [t for t in openers if "{brand}" not in t or values["brand"]]
    opener = _cap(render(pick(rnd, openers), s.gram, values))
    if s.kind == "book" and p.book is not None:
        opener = f"{p.book[0]} — {pick(rnd, D.BOOK_SENTENCES[s.name]).lower()[:-1]}. Автор: {p.book[1]}."
    body: list[str] = []
    if p.gender and chance(rnd, 0.5):
        body.append(pick(rnd, D.GENDER_SENTENCES[p.gender]))
    if values["mat"] and chance(rnd, 0.7):
        table = D.MATERIAL_SENTENCES.get(s.kind if s.kind in ("clothes", "shoes") else "default")
        body.append(pick(rnd, table).format(**values))
    pool = list(dict.fromkeys(D.KIND_SENTENCES.get(s.kind, ()) + s.features))
    if s.kind == "book":
        pool += list(D.BOOK_SENTENCES[s.name])
    body += sample(rnd, pool, rnd.randint(1, 4))
    if p.fit and chance(rnd, 0.75):
        body.append(pick(rnd, D.FIT_SENTENCES[p.fit]))
    if p.sizes and axis != "size" and chance(rnd, 0.5):
        body.append(pick(rnd, D.SIZE_SENTENCES).format(**values))
    if values["season"] and chance(rnd, 0.35):
        body.append(pick(rnd, D.SEASON_SENTENCES).format(**values))
    if chance(rnd, 0.3):
        body.append(pick(rnd, D.COUNTRY_SENTENCES).format(**values))
    if family_brand_line and values["brand"] and chance(rnd, 0.3):
        body.append(f"Оригинальная продукция {values['brand']}.")
    fluff = sample(rnd, D.FLUFF, rnd.randint(0, 2))
    variant = _variant_sentence(p, axis, rnd)

    if plan.length == "short":
        sentences = [opener] + ([variant] if variant else [])
        paragraphs = [" ".join(sentences)]
    else:
        rnd.shuffle(body)
        if plan.length == "medium":
            body = body[:4]
        # the variant's own colour/size/volume always makes it into the text: variants of a
        # family are near-identical, not identical
        if variant:
            body.insert(rnd.randint(0, len(body)), variant)
        if plan.length == "medium":
            paragraphs = [" ".join([opener, *body, *fluff[:1]])]
        else:
            cut = max(1, len(body) // 2)
            first, second = body[:cut], body[cut:]
            if plan.bullets:
                paragraphs = [opener, "\n".join("✔ " + x for x in first)]
            else:
                paragraphs = [" ".join([opener, *first])]
            if second:
                paragraphs.append(" ".join(second))
            if s.kind == "clothes" and chance(rnd, 0.5):
                paragraphs.append("Уход: " + pick(rnd, D.CARE))
            if chance(rnd, 0.45):
                # sellers paste the characteristics once more, as a list
                bullet = pick(rnd, ["", "- ", "• "])
                lines = [f"{bullet}{k}: {', '.join(v)}" for k, v in p.chars.items()]
                paragraphs.append("Характеристики:\n" + "\n".join(lines))
            if fluff:
                paragraphs.append(" ".join(fluff))
    if plan.seo_tail:
        words = [_head(s)] + [w for w, _ in s.syn[:3]]
        paragraphs.append("Ключевые слова: " + ", ".join(words))
    if plan.html:
        text = htmlify(paragraphs, rnd)
    else:
        text = pick(rnd, ["\n\n", "\n", " "]).join(paragraphs)
    if plan.messy:
        text = messy_whitespace(text, rnd)
    return text if plan.keep_yo else drop_yo(text)


# --- families -------------------------------------------------------------------------------------

def _variant_axis(s: Subject) -> str:
    if PALETTES[s.palette]:
        return "colour"
    if s.kind == "book":
        return "Обложка"
    if s.extras:
        return s.extras[0][0]
    if s.sizes:
        return "size"
    return ""


def _pick_brand(rnd: random.Random, s: Subject) -> Brand:
    brands = SUBJECT_BRANDS[s.name]
    return weighted(rnd, brands, [b.weight for b in brands])


def _pick_gender(rnd: random.Random, s: Subject) -> str:
    if not s.genders:
        return ""
    codes = list(s.genders)
    return weighted(rnd, codes, [GENDER_WEIGHTS[c] for c in codes])


def _book(rnd: random.Random, s: Subject) -> tuple[str, str]:
    if s.name == "Учебники":
        title = f"{pick(rnd, D.SCHOOL_SUBJECTS)}. {rnd.randint(1, 11)} класс. {pick(rnd, D.SCHOOL_KINDS)}"
        if chance(rnd, 0.3):
            title += f". Часть {rnd.randint(1, 2)}"
        return title, pick(rnd, ["Моро М.И.", "Канакина В.П.", "Ваулина Ю.Е.", "Мерзляк А.Г.", "Плешаков А.А.",
                                 "Пасечник В.В.", "Перышкин А.В."])
    table = {"Художественная литература": D.BOOKS_FICTION, "Детская литература": D.BOOKS_KIDS}
    return pick(rnd, table.get(s.name, D.BOOKS_BUSINESS))


def _family(rnd: random.Random, s: Subject, family_id: int, size: int) -> list[Product]:
    brand = _pick_brand(rnd, s).name
    gender = _pick_gender(rnd, s)
    palette = PALETTES[s.palette]
    axis = _variant_axis(s)
    # food modifiers name the product type (гречневая, рисовая): one per title, not three
    n_mods = weighted(rnd, [0, 1, 2, 3], [0.2, 0.35, 0.3, 0.15])
    mods = sample(rnd, s.adjs, min(n_mods, 1) if s.kind == "food" else n_mods)
    extras = {k: pick(rnd, vals) for k, vals in s.extras}
    if axis and axis not in ("colour", "size"):
        options = dict(s.extras).get(axis, ("твердая", "мягкая"))
        size = min(size, len(options))
    sizes = _sizes(rnd, s.sizes, gender)
    if axis == "size":
        size = min(size, len(sizes))
    season = pick(rnd, s.seasons) if s.seasons else ""
    country = weighted(rnd, [c for c, _ in COUNTRIES], [w for _, w in COUNTRIES])
    model = _model(rnd, s, brand)
    fit = weighted(rnd, ["true", "small", "large"], [0.6, 0.25, 0.15]) if s.sizes in ("clothes", "shoes") else ""
    book = _book(rnd, s) if s.kind == "book" else None
    if s.kind == "clothes":
        material = _composition(rnd, s.mats)
    elif s.mats:
        material = sample(rnd, s.mats, 1 if chance(rnd, 0.7) else 2)
    else:
        material = []
    # Some families are the same model in a men's and a women's version: hard negatives.
    gender_pair = gender in ("W", "M") and "W" in s.genders and "M" in s.genders and size >= 2 and chance(rnd, 0.15)

    colours_seen: list[str] = []
    axis_values = list(dict(s.extras).get(axis, ("твердая", "мягкая"))) if axis not in ("", "colour", "size") else []
    rnd.shuffle(axis_values)
    title_plan = _TitlePlan(
        style="head_first" if chance(rnd, 0.75) else "adj_first",
        say_gender=chance(rnd, 0.55),
        gender_lemma_first=chance(rnd, 0.7),
        with_colour=chance(rnd, 0.3),
        # one rate for every kind: a rate that differed by kind (tech always, clothes rarely)
        # made a brand mark a category more surely than what the brand sells does
        with_brand=chance(rnd, 0.5),
        with_spec=chance(rnd, 0.6),
        quotes=weighted(rnd, [(), ("«", "»"), ('"', '"')], [0.6, 0.25, 0.15]),
    )
    desc_plan = _DescPlan(
        length=weighted(rnd, ["short", "medium", "long"], [0.15, 0.45, 0.4]),
        html=chance(rnd, 0.2),
        bullets=chance(rnd, 0.15),
        messy=chance(rnd, 0.25),
        keep_yo=chance(rnd, 0.3),
        seo_tail=chance(rnd, 0.06),
        seed=rnd.getrandbits(63),
    )
    title_seed = rnd.getrandbits(63)
    out = []
    for i in range(size):
        v_gender = ("M" if gender == "W" else "W") if gender_pair and i % 2 else gender
        colours: list[str] = []
        if palette:
            names = [c for c, _ in palette if c not in colours_seen] or [c for c, _ in palette]
            weights = [w for c, w in palette if c in names]
            colours = [weighted(rnd, names, weights)]
            if chance(rnd, 0.15):
                second = weighted(rnd, [c for c, _ in palette], [w for _, w in palette])
                if second != colours[0]:
                    colours.append(second)
            colours_seen.append(colours[0])
        v_extras = dict(extras)
        if axis_values:
            v_extras[axis] = axis_values[i % len(axis_values)]
        v_sizes = sizes if axis != "size" else [sizes[i]]
        if axis == "colour" and i and chance(rnd, 0.2) and len(sizes) > 2:
            v_sizes = sizes[:-1]
        chars = _chars(s, v_gender, material, v_sizes, season, v_extras, country, model, book, rnd)
        p = Product(nmid=0, family=family_id, subject=s, brand=brand, gender=v_gender, colours=colours,
                    sizes=v_sizes, chars=chars, mods=list(mods), model=model, fit=fit, book=book, extras=v_extras,
                    isadult=s.parent == ADULT_PARENT)
        p.title = _title(p, title_plan, random.Random(title_seed))
        if not desc_plan.keep_yo:
            p.title = drop_yo(p.title)
        p.description = _description(p, desc_plan, axis, family_brand_line=size > 1)
        out.append(p)
    return out


def _chars(s: Subject, gender: str, material: list[str], sizes: list[str], season: str, extras: dict[str, str],
           country: str, model: str, book: tuple[str, str] | None, rnd: random.Random) -> dict[str, list[str]]:
    chars: dict[str, list[str]] = {}
    if gender:
        pol, age = GENDER_CHARS[gender]
        chars["Пол"] = [pol]
        chars["Возраст"] = [age]
    if book is not None:
        chars["Автор"] = [book[1]]
        chars["Количество страниц"] = [str(rnd.randrange(96, 720, 8))]
        chars["Год выпуска"] = [str(rnd.randint(2018, 2025))]
        chars["Язык"] = ["русский"]
    if model:
        chars["Модель"] = [model]
    if s.kind == "clothes":
        chars["Состав"] = material
    elif s.kind == "shoes":
        chars["Материал верха"] = material[:1]
        chars["Материал подошвы"] = [pick(rnd, SOLES)]
        chars["Материал подкладки"] = [pick(rnd, LININGS)]
    elif s.kind == "jewelry":
        chars["Металл"] = material[:1]
    elif material:
        chars["Материал"] = material
    if sizes:
        chars["Размер"] = list(sizes)
    if season:
        chars["Сезон"] = [season]
    for key, value in extras.items():
        chars[key] = [value]
    if chance(rnd, 0.9):
        chars["Страна производства"] = [country]
    return chars


def _subject_order(rnd: random.Random, n_products: int) -> list[Subject]:
    """Subjects for successive families: a first round over all subjects, then by weight.

    The first round guarantees every category shows up in a default-size catalogue; tiny
    test catalogues skip it and draw by weight only.
    """
    first = list(SUBJECTS) if n_products >= 3 * len(SUBJECTS) else []
    rnd.shuffle(first)
    return first


def _draw_subject(rnd: random.Random, parents: list[str], by_parent: dict[str, list[Subject]]) -> Subject:
    parent = weighted(rnd, parents, [PARENT_WEIGHTS[p] for p in parents])
    subjects = by_parent[parent]
    return weighted(rnd, subjects, [s.weight for s in subjects])


def build_catalog(n_products: int, rnd: random.Random) -> list[Product]:
    """``n_products`` cards: families of variants, ~1% exact duplicates, ~2% deleted."""
    by_parent: dict[str, list[Subject]] = {}
    for s in SUBJECTS:
        by_parent.setdefault(s.parent, []).append(s)
    parents = list(by_parent)
    n_dups = int(n_products * DUPLICATE_SHARE) if n_products >= 50 else 0
    target = n_products - n_dups
    products: list[Product] = []
    first_round = _subject_order(rnd, n_products)
    family_id = 0
    while len(products) < target:
        s = first_round[family_id] if family_id < len(first_round) else _draw_subject(rnd, parents, by_parent)
        size = weighted(rnd, FAMILY_SIZES, FAMILY_SIZE_WEIGHTS)
        if family_id < len(first_round):
            size = min(size, 2)
        size = min(size, target - len(products))
        products.extend(_family(rnd, s, family_id, size))
        family_id += 1
    products = products[:target]
    # Resellers copy a card word for word under a new article number.
    for src in sample(rnd, products, n_dups):
        products.append(replace(src, chars=dict(src.chars), colours=list(src.colours), sizes=list(src.sizes)))
    order = list(range(len(products)))
    rnd.shuffle(order)
    products = [products[i] for i in order]
    taken: set[int] = set()
    for p in products:
        nmid = rnd.randrange(100_000, 400_000_000)
        while nmid in taken:
            nmid = rnd.randrange(100_000, 400_000_000)
        taken.add(nmid)
        p.nmid = nmid
        p.isdeleted = chance(rnd, DELETED_SHARE)
    logger.info("catalog: %d products in %d families, %d duplicates", len(products), family_id, n_dups)
    return products
