"""Buyers' questions on a card and the seller's answers, grounded in the card's characteristics.

Each question is about one aspect (material, size, colour, season, origin, a spec, gender,
originality...). The answer states what the characteristics say, so "из чего сделано?" is
answered with the actual composition and "какой размер брать при росте 170?" with sizes the
card really has. Yes/no questions are answered yes or no depending on the card.

Most questions also name what a shopper names of the product they look at: its type, brand,
model, a size or colour it comes in ("хочу взять кроссовки Nike 42 размера. маломерят?"), so
the product can be found from the question. Every such mention is recorded as (field, value)
(see :data:`MENTION_FIELDS`); the record travels beside the table, not in it, because the raw
contract's product_qa has exactly four columns.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable

import numpy as np
import pandas as pd

from .brands import NO_BRAND
from .catalog import Product
from .morph import agree, phrase
from .noise import drop_yo, typo_in_text
from .rand import chance, pick, poisson, weighted

logger = logging.getLogger(__name__)

SYNTHETIC = frozenset({"полиэстер", "нейлон", "акрил", "эластан", "полиамид", "экокожа", "искусственная замша",
                       "искусственный мех", "ЭВА", "ПВХ", "TPU", "пластик"})
GREETINGS = ("Здравствуйте! ", "Добрый день! ", "Здравствуйте, ", "Добрый день, ", "Спасибо за вопрос! ", "")
CLOSINGS = ("", "", " Приятных покупок!", " Будем рады вашему заказу!", " Спасибо за интерес к нашему товару.",
            " Если остались вопросы — пишите.")

QA = tuple[str, str]
MENTIONS = "mentions"  # working column of build_qa's frame; split off by split_mentions
# which aspect each question builder asks about, so the product is not named by that same aspect twice
_ASKED = {"_size_qa": "size", "_colour_qa": "colour"}
Mention = tuple[str, str]
# What of the product a question can name: the product type (its noun), the brand, the model,
# a size it comes in, a colour it comes in, a characteristic value (material, season).
MENTION_FIELDS = ("type", "brand", "model", "size", "colour", "attribute")
# Share of questions that get the product named when the asked aspect did not already name it.
NAME_PRODUCT_P = 0.88


def _materials(p: Product) -> list[str]:
    return p.chars.get("Состав") or p.chars.get("Материал верха") or p.chars.get("Металл") or p.chars.get("Материал") or []


def _material_qa(p: Product, rnd: random.Random) -> QA:
    mats = _materials(p)
    text = ", ".join(mats)
    main = mats[0].rsplit(" ", 1)[0] if mats[0].endswith("%") else mats[0]
    kind = p.subject.kind
    if kind == "shoes" or (kind == "acc" and "кож" in text) or chance(rnd, 0.15):
        q = pick(rnd, ["Это натуральная кожа?", "Кожа настоящая?", "Верх из натуральной кожи или экокожа?", "натур кожа?"])
        if any("натуральная кожа" in m for m in mats):
            return q, pick(rnd, ["Да, натуральная кожа.", f"Да, материал — {text}.", "Да, кожа натуральная, это указано в характеристиках."])
        return q, pick(rnd, [f"Нет, материал — {text}.", f"Нет, это не натуральная кожа: {text}.", f"Нет. Материал: {text}."])
    if kind == "jewelry":
        q = pick(rnd, ["Это настоящее серебро?", "Какая проба?", "Металл какой?", "Не потемнеет?"])
        return q, pick(rnd, [f"Металл: {text}.", f"Изделие из металла {text}, есть клеймо.", f"{text[:1].upper()}{text[1:]}, проба подтверждена."])
    if kind == "clothes" and chance(rnd, 0.4):
        q = pick(rnd, ["Ткань не синтетика?", "Синтетики много в составе?", "Натуральная ткань?", "Это хлопок или синтетика?"])
        synthetic = [m for m in mats if m.rsplit(" ", 1)[0] in SYNTHETIC]
        if not synthetic:
            return q, f"Синтетики нет, состав: {text}."
        if main in SYNTHETIC:
            return q, pick(rnd, [f"Да, основа синтетическая: {text}.", f"Состав: {text}, то есть в основном синтетика."])
        return q, pick(rnd, [f"В основном {main}, синтетики немного: {text}.", f"Основа — {main}. Полный состав: {text}."])
    n = p.subject.noun
    if kind == "clothes":
        asks = ["Из чего сделано?", "Какой состав?", "Состав ткани какой?", "Подскажите, пожалуйста, состав.", "Ткань какая?"]
    else:
        asks = ["Из чего сделано?", f"Из какого материала {n}?", "материал какой?", "Из чего изготовлено изделие?", "Что за материал?"]
    q = pick(rnd, asks)
    return q, pick(rnd, [f"Состав: {text}.", f"Материал — {text}.", f"Изделие выполнено из материала: {text}.", f"{text[:1].upper()}{text[1:]}."])


_ADULT_HEIGHT = {"W": ((150, 158, 42), (159, 165, 44), (166, 172, 46), (173, 180, 48)),
                 "M": ((160, 170, 48), (171, 178, 50), (179, 186, 52), (187, 195, 54))}


def _size_qa(p: Product, rnd: random.Random) -> QA:
    sizes = p.sizes
    listed = ", ".join(sizes)
    fit_note = {"small": " Модель маломерит, советуем взять на размер больше.",
                "large": " Модель большемерит, можно взять на размер меньше.",
                "true": " Размер соответствует стандартной сетке.", "": ""}[p.fit]
    kind = p.subject.kind
    kid = p.chars.get("Возраст") == ["Детский"]
    roll = rnd.random()
    if roll < 0.3:
        q = pick(rnd, ["Маломерит?", "Размер соответствует?", "В размер?", "Идёт в размер или брать больше?", "Размерная сетка стандартная?"])
        return q, (fit_note.strip() or "Да, размер соответствует.") + f" В наличии: {listed}."
    if roll < 0.6:
        wanted = pick(rnd, sizes) if chance(rnd, 0.6) else str(int(float(sizes[0].split("-")[0])) + pick(rnd, [-2, 12]))
        q = pick(rnd, [f"На {wanted} подойдёт?", f"Будет {wanted} размер?", f"{wanted} есть?", f"Есть {wanted} размер?"])
        if wanted in sizes:
            return q, f"Да, размер {wanted} есть в наличии.{fit_note}"
        return q, f"К сожалению, размера {wanted} нет. Доступны размеры: {listed}."
    if kind == "shoes":
        foot = pick(rnd, [22.5, 23.0, 23.5, 24.0, 24.5, 25.0, 25.5, 26.0, 26.5, 27.0, 27.5]) if not kid else pick(rnd, [14.5, 16.0, 17.5, 19.0, 20.5])
        size = round(foot * 1.5 + 1.5) if not kid else round(foot * 1.5 + 1)
        cm = f"{foot:g}".replace(".", ",")
        q = pick(rnd, [f"Какой размер брать на стопу {cm} см?", f"Длина стопы {cm} см, какой размер?", f"стопа {cm} см какой брать"])
    elif kid:
        age = rnd.randint(2, 11)
        size = 86 + (age - 1) * 6 + 6
        q = pick(rnd, [f"На ребёнка {age} лет какой размер?", f"Сыну {age} лет, какой размер взять?", f"Дочке {age} лет, какой размер?"])
    else:
        height = rnd.randint(152, 192)
        table = _ADULT_HEIGHT["M" if p.gender == "M" else "W"]
        size = next((s for lo, hi, s in table if lo <= height <= hi), table[-1][2] if height > 170 else table[0][2])
        q = pick(rnd, [f"Какой размер брать при росте {height}?", f"Рост {height}, какой размер?", f"рост {height} вес {rnd.randint(48, 95)} какой размер",
                       f"Подскажите размер на рост {height} см"])
    nearest = min(sizes, key=lambda s: abs(_num(s) - size))
    if str(size) in sizes:
        return q, f"Рекомендуем размер {size}, он есть в наличии.{fit_note}"
    return q, f"Обычно подходит {size}, в этой модели ближайший — {nearest}. В наличии: {listed}.{fit_note}"


def _num(size: str) -> float:
    try:
        return float(size.split("-")[0].replace(",", "."))
    except ValueError:
        return 0.0


def _colour_qa(p: Product, rnd: random.Random) -> QA:
    colours = ", ".join(p.colours)
    if chance(rnd, 0.5):
        q = pick(rnd, ["Цвет как на фото?", "Цвет соответствует фото?", "Реальный цвет такой же?", "цвет не отличается?"])
        return q, pick(rnd, [f"Да, цвет {colours}, как на фото.", f"Цвет соответствует фото: {colours}.",
                             f"Да. Возможна небольшая разница из-за настроек экрана, цвет — {colours}."])
    other = pick(rnd, ["черный", "белый", "бежевый", "синий", "красный", "серый", "розовый"])
    q = pick(rnd, [f"Есть в {agree(other, 'masc', 'loct')} цвете?", f"А {other} есть?", f"Будет {other} цвет?"])
    if other in p.colours:
        return q, f"Да, эта карточка как раз в цвете {other}."
    return q, f"В этой карточке цвет {colours}. Другие цвета ищите в соседних карточках бренда {p.brand}." if p.brand != NO_BRAND \
        else f"Нет, только {colours}."


def _season_qa(p: Product, rnd: random.Random) -> QA:
    season = p.chars["Сезон"][0]
    asked = pick(rnd, ["зиму", "лето", "осень"])
    n = p.subject.noun
    q = pick(rnd, [f"На {asked} подойдёт?", f"Можно носить на {asked}?", f"{n} {agree('тёплый', p.gram)}?",
                   "Какой сезон?", f"на {asked} пойдет?"])
    answers = {
        "зима": "Да, модель зимняя, утеплённая.",
        "демисезон": "Модель демисезонная: на осень и весну, на сильный мороз не рассчитана.",
        "лето": "Это летняя модель, для холодной погоды не подойдёт." if asked != "лето" else "Да, модель летняя.",
        "круглогодичный": "Модель круглогодичная, подходит для любого сезона.",
        "всесезон": "Модель всесезонная.",
    }
    return q, f"Сезон: {season}. {answers.get(season, '')}".strip()


def _country_qa(p: Product, rnd: random.Random) -> QA:
    q = pick(rnd, ["Где производят?", "Страна производства?", "Чьё производство?", "Это Китай?", "Где сделано?"])
    country = p.chars.get("Страна производства")
    if not country:
        return q, "Страна производства не указана производителем, товар сертифицирован."
    if q == "Это Китай?":
        return q, "Да, производство Китай." if country == ["Китай"] else f"Нет, производство: {country[0]}."
    return q, pick(rnd, [f"Производство: {country[0]}.", f"Страна производства — {country[0]}.", f"{country[0]}."])


_EXTRA_QUESTIONS: dict[str, tuple[str, ...]] = {
    "Объем встроенной памяти": ("Сколько памяти?", "Память какая?", "Сколько гигов?"),
    "Объем оперативной памяти": ("Сколько оперативки?", "Оперативная память какая?"),
    "Диагональ экрана": ("Какая диагональ?", "Размер экрана какой?"),
    "Гарантийный срок": ("Есть гарантия?", "Какая гарантия?", "Сколько гарантия?"),
    "Мощность": ("Какая мощность?", "Мощный?", "Сколько ватт?"),
    "Объем": ("Какой объём?", "Сколько мл?", "Объём какой?"),
    "Вес товара": ("Сколько весит?", "Вес упаковки?", "Какой вес?"),
    "Вкус": ("Какой вкус?", "С каким вкусом?"),
    "Время работы": ("Сколько держит заряд?", "Сколько работает без подзарядки?"),
    "Совместимость": ("На какую модель телефона?", "Подойдёт на мой телефон?", "Для какой модели?"),
    "Количество деталей": ("Сколько деталей?", "Сколько деталей в наборе?"),
    "Обложка": ("Обложка твёрдая?", "Какая обложка?"),
    "Размер": ("Какой размер?", "Размеры какие?"),
    "Размеры": ("Какие размеры?", "Габариты какие?"),
    "Длина": ("Какая длина?", "Длина какая?"),
    "Количество в упаковке": ("Сколько штук в упаковке?", "Сколько в пачке?"),
    "Тип кожи": ("Для какого типа кожи?", "Подойдёт для сухой кожи?"),
    "Тип волос": ("Для каких волос?", "Подойдёт для окрашенных волос?"),
}


def _extra_qa(p: Product, rnd: random.Random) -> QA:
    keys = [k for k in p.chars if k in _EXTRA_QUESTIONS]
    key = pick(rnd, keys)
    value = ", ".join(p.chars[key])
    q = pick(rnd, _EXTRA_QUESTIONS[key])
    return q, pick(rnd, [f"{key}: {value}.", f"{key} — {value}.", f"{value}, это указано в характеристиках."])


def _gender_qa(p: Product, rnd: random.Random) -> QA:
    pol = p.chars["Пол"][0]
    kid = p.chars.get("Возраст") == ["Детский"]
    asked = pick(rnd, ["мужская", "женская"])
    if kid:
        q = pick(rnd, ["Это на девочку или мальчика?", "Подойдёт сыну?", "Подойдёт дочке?", "Для мальчика подойдёт?"])
    else:
        q = pick(rnd, [f"Это {asked} модель?", "Подойдёт мужу?", "Это женская или мужская модель?", "Можно подарить парню?"])
    if pol == "Унисекс":
        return q, "Модель унисекс, подойдёт и мужчинам, и женщинам." if not kid else "Модель унисекс, подойдёт и девочкам, и мальчикам."
    if kid:
        return q, "Модель для девочек." if pol == "Женский" else "Модель для мальчиков."
    return q, "Это женская модель." if pol == "Женский" else "Это мужская модель."


def _original_qa(p: Product, rnd: random.Random) -> QA:
    q = pick(rnd, ["Это оригинал?", "Оригинал или копия?", "Не подделка?", "оригинал?"])
    if p.brand == NO_BRAND:
        return q, "Товар без бренда, фабричное производство, качество проверяем перед отправкой."
    return q, pick(rnd, [f"Да, оригинальная продукция {p.brand}, есть сертификаты.", f"Оригинал {p.brand}, работаем напрямую с поставщиком."])


def _book_qa(p: Product, rnd: random.Random) -> QA:
    key = pick(rnd, ["Количество страниц", "Год выпуска", "Автор", "Возрастные ограничения"])
    value = p.chars.get(key, ["не указано"])[0]
    q = {"Количество страниц": pick(rnd, ["Сколько страниц?", "Толстая книга?"]),
         "Год выпуска": pick(rnd, ["Какой год издания?", "Новое издание?"]),
         "Автор": pick(rnd, ["Кто автор?", "Автор какой?"]),
         "Возрастные ограничения": pick(rnd, ["С какого возраста?", "Ребёнку можно читать?"])}[key]
    return q, f"{key}: {value}."


def _aspects(p: Product) -> list[tuple[Callable[[Product, random.Random], QA], float]]:
    out: list[tuple[Callable[[Product, random.Random], QA], float]] = []
    if p.subject.kind == "book":
        return [(_book_qa, 3.0), (_extra_qa, 1.0), (_original_qa, 0.3)]
    if _materials(p):
        out.append((_material_qa, 2.0))
    if p.sizes and p.subject.sizes in ("clothes", "shoes"):
        out.append((_size_qa, 3.0))
    if p.colours:
        out.append((_colour_qa, 1.0))
    if "Сезон" in p.chars and p.subject.kind in ("clothes", "shoes", "acc"):
        out.append((_season_qa, 1.0))
    out.append((_country_qa, 0.5))
    if any(k in _EXTRA_QUESTIONS for k in p.chars):
        out.append((_extra_qa, 1.5))
    if "Пол" in p.chars:
        out.append((_gender_qa, 0.6))
    out.append((_original_qa, 0.5))
    return out


def _style_question(q: str, rnd: random.Random) -> str:
    if chance(rnd, 0.2):
        q = pick(rnd, ["Здравствуйте! ", "Добрый день, ", "Подскажите, ", "Скажите, пожалуйста, "]) + q[:1].lower() + q[1:]
    if chance(rnd, 0.35):
        q = q.lower()
    if chance(rnd, 0.25):
        q = q.rstrip("?")
    if chance(rnd, 0.08):
        q = typo_in_text(q, rnd)
    if chance(rnd, 0.7):
        q = drop_yo(q)
    return q


def _own_values(p: Product, q: str) -> list[Mention]:
    """Values of ``p`` the aspect's own question already names ("есть 42 размер?" of a card
    that has 42, "это натуральная кожа?" of a leather one)."""
    low = q.lower().replace("ё", "е")
    found: list[Mention] = []
    for size in p.sizes:
        if any(w == size for w in low.replace("?", " ").replace(",", " ").split()):
            found.append(("size", size))
    # stems of at least 4 letters: "бел" of "белый" would find "бельё", "ча" of "чай" "часы"
    for colour in p.colours:
        stem = colour.replace("ё", "е")[:-2]
        if len(stem) >= 4 and f" {stem}" in f" {low}":
            found.append(("colour", colour))
    for mat in _materials(p):
        value = mat.rsplit(" ", 1)[0] if mat.endswith("%") else mat
        if len(value) >= 6 and value.replace("ё", "е")[:-2] in low:
            found.append(("attribute", value))
    noun = p.subject.noun.replace("ё", "е")
    if len(noun) >= 5 and f" {noun[:-1]}" in f" {low}":
        found.append(("type", p.subject.noun))
    return found


def _object(p: Product, case: str, rnd: random.Random, asked: str) -> tuple[str, list[Mention]]:
    """The product as a shopper names it, in ``case``: always its type, often more of it."""
    s = p.subject
    slot = "plur" if s.gram == "plur" else s.gram
    mentions: list[Mention] = [("type", s.noun)]
    words = []
    if p.colours and asked != "colour" and chance(rnd, 0.3):
        words.append(agree(p.colours[0], slot, case))
        mentions.append(("colour", p.colours[0]))
    words.append(phrase(s.pre, s.noun, s.post, s.gram, case))
    if p.brand != NO_BRAND and chance(rnd, 0.55):
        words.append(p.brand)
        mentions.append(("brand", p.brand))
    if p.model and chance(rnd, 0.7):
        words.append(p.model)
        mentions.append(("model", p.model))
    if p.sizes and asked != "size" and s.sizes in ("clothes", "shoes") and chance(rnd, 0.3):
        size = pick(rnd, p.sizes)
        words.append(f"{size} размера")
        mentions.append(("size", size))
    return " ".join(words), mentions


def _lower_first(q: str) -> str:
    return q[:1].lower() + q[1:]


def _name_product(p: Product, q: str, asked: str, rnd: random.Random) -> tuple[str, list[Mention]]:
    """``q`` with the product named the way shoppers do, and what was named."""
    own = _own_values(p, q)
    if not chance(rnd, NAME_PRODUCT_P if not own else 0.3):
        return q, own
    form = rnd.randrange(4)
    if form == 0:
        # the instrumental, not "хочу взять" + accusative: pymorphy takes some goods for
        # animate nouns ("взять шуруповёрта")
        obj, mentions = _object(p, "ablt", rnd, asked)
        q = f"Интересуюсь {obj}. {q}"
    elif form == 1:
        obj, mentions = _object(p, "datv", rnd, asked)
        q = f"Присматриваюсь к {obj}. {q}"
    elif form == 2:
        obj, mentions = _object(p, "datv", rnd, asked)
        q = f"Подскажите по {obj}: {_lower_first(q)}"
    else:
        obj, mentions = _object(p, "nomn", rnd, asked)
        q = f"{obj[:1].upper()}{obj[1:]}: {_lower_first(q)}"
    return q, own + [m for m in mentions if m not in own]


def build_qa(products: list[Product], qa_per_product: float, rnd: random.Random) -> pd.DataFrame:
    """Questions with seller answers for a Poisson number of them per product."""
    ids: list[int] = []
    nmids: list[int] = []
    questions: list[str] = []
    answers: list[str] = []
    mentions: list[str] = []
    next_id = 5_000_000 + rnd.randrange(1_000_000)
    for p in products:
        count = poisson(rnd, qa_per_product)
        if not count:
            continue
        aspects = _aspects(p)
        asked: set[str] = set()
        for _ in range(count):
            make = weighted(rnd, [a for a, _ in aspects], [w for _, w in aspects])
            q, a = make(p, rnd)
            if q in asked:
                continue
            asked.add(q)
            greeting = pick(rnd, GREETINGS)
            if greeting.endswith(", "):
                a = a[:1].lower() + a[1:]
            answer = greeting + a + pick(rnd, CLOSINGS)
            q, named = _name_product(p, q, _ASKED.get(make.__name__, ""), rnd)
            next_id += rnd.randint(1, 25)
            ids.append(next_id)
            nmids.append(p.nmid)
            questions.append(_style_question(q, rnd))
            mentions.append(json.dumps(named, ensure_ascii=False))
            answers.append(answer if chance(rnd, 0.5) else drop_yo(answer))
    logger.info("product QA: %d pairs", len(ids))
    return pd.DataFrame({
        "qa_id": np.array(ids, dtype=np.int64),
        "nmid": np.array(nmids, dtype=np.int64),
        "question": pd.array(questions, dtype="str"),
        "answer": pd.array(answers, dtype="str"),
        MENTIONS: pd.array(mentions, dtype="str"),
    })


def split_mentions(qa: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the product_qa table of the raw contract, the mention record: one row per (qa_id,
    field, value) named in the question; questions naming nothing have no row)."""
    rows = [(qa_id, nmid, field, value)
            for qa_id, nmid, named in zip(qa["qa_id"], qa["nmid"], qa[MENTIONS], strict=True)
            for field, value in json.loads(named)]
    record = pd.DataFrame({
        "qa_id": np.array([r[0] for r in rows], dtype=np.int64),
        "nmid": np.array([r[1] for r in rows], dtype=np.int64),
        "field": pd.array([r[2] for r in rows], dtype="str"),
        "value": pd.array([r[3] for r in rows], dtype="str"),
    })
    return qa.drop(columns=[MENTIONS]), record
