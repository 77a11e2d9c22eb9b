"""Customer reviews whose rating has to be read from the whole text, not from one word.

A review is a reason clause (what the ``reason`` tag summarises, phrased many ways), some
pros and cons, and a verdict. Ratings 4 and 5 share their vocabulary, as do 1 and 2; they
differ in how many reservations the buyer makes and how harsh they are, which is what a
reader (and a model) has to weigh. Clauses are rendered against the product noun, so
adjectives and past-tense verbs agree with it ("кроссовки сели", "футболка села").

No single token gives the rating or the reason away (tests/test_corpus.py measures it with
the give-away test in `tests/cues.py`): buyers quote other reviews and agree or disagree ("в отзывах
писали: «сильный запах» — у меня такого нет"), happy reviews reuse complaint words ("думала,
будет ужас, а оказалось отлично") and unhappy ones praise words, aspect remarks about size or
defects appear in reviews tagged with something else, and smileys only lean with the mood.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .brands import NO_BRAND
from .catalog import Product
from .morph import agree, noun_form, past_verb, render, short_form
from .noise import drop_yo, typo_in_text
from .rand import chance, pick, poisson, sample, weighted

logger = logging.getLogger(__name__)

RATINGS = (1, 2, 3, 4, 5)
RATING_WEIGHTS = (0.18, 0.11, 0.13, 0.24, 0.34)
SIZE_REASONS = ("маломерит", "большемерит", "в размер")

# reason -> weight for ratings 1..5. Neighbouring ratings (1 and 2, 4 and 5) get nearly the
# same mix: what separates them is tone and reservations, not the topic.
REASON_WEIGHTS: dict[str, tuple[float, ...]] = {
    "маломерит": (1.0, 1.0, 1.5, 1.0, 0.6),
    "большемерит": (0.8, 0.8, 1.2, 0.8, 0.5),
    "в размер": (0.1, 0.3, 0.5, 1.5, 1.5),
    "брак": (1.7, 1.7, 0.4, 0.15, 0.05),
    "быстрая доставка": (0.2, 0.3, 0.6, 2.0, 2.0),
    "долгая доставка": (0.7, 0.7, 0.8, 0.5, 0.3),
    "хорошее качество": (0.1, 0.3, 0.5, 3.0, 3.0),
    "плохое качество": (2.0, 2.0, 1.2, 0.3, 0.0),
    "соответствует описанию": (0.1, 0.3, 0.5, 2.0, 2.0),
    "не соответствует описанию": (1.6, 1.6, 1.0, 0.3, 0.05),
    "плохая упаковка": (0.7, 0.7, 0.8, 0.5, 0.3),
    "цена/качество": (0.4, 0.6, 1.2, 2.0, 2.0),
    "запах": (0.9, 0.9, 1.0, 0.5, 0.2),
    "цвет не совпадает": (0.9, 0.9, 1.0, 0.4, 0.2),
    "подделка": (0.8, 0.8, 0.2, 0.1, 0.05),
    "не тот товар": (0.8, 0.8, 0.2, 0.1, 0.05),
    "удобство": (0.1, 0.3, 0.4, 1.5, 1.5),
}


# How a review of each rating is put together. ``tone``: which phrasing of the reason;
# ``pros``/``cons``: how many generic remarks; ``verdict``: which closing. The shares overlap
# between neighbours so that no single word gives the rating away.
@dataclass(frozen=True)
class _Plan:
    tone: tuple[tuple[str, float], ...]
    pros: tuple[int, int]
    pros_p: float
    cons: tuple[int, int]
    cons_p: float
    soften_p: float
    harsh_p: float
    verdict: tuple[tuple[str, float], ...]
    verdict_p: float = 1.0


PLANS = {
    5: _Plan((("pos", 0.75), ("mid", 0.25)), (0, 2), 1.0, (1, 1), 0.25, 0.8, 0.0,
             (("pos", 0.5), ("pos_hedged", 0.45), ("mid", 0.05)), verdict_p=0.8),
    4: _Plan((("pos", 0.8), ("mid", 0.2)), (0, 2), 1.0, (1, 2), 1.0, 0.35, 0.0,
             (("pos", 0.45), ("pos_hedged", 0.4), ("mid", 0.15))),
    3: _Plan((("pos", 0.3), ("mid", 0.35), ("neg", 0.35)), (1, 1), 1.0, (1, 2), 1.0, 0.15, 0.15,
             (("mid", 0.45), ("pos_hedged", 0.2), ("neg_hedged", 0.2), ("pos", 0.05), ("neg", 0.1))),
    2: _Plan((("mid", 0.15), ("neg", 0.85)), (1, 1), 0.8, (0, 2), 1.0, 0.3, 0.45,
             (("neg", 0.5), ("neg_hedged", 0.35), ("mid", 0.15))),
    1: _Plan((("mid", 0.3), ("neg", 0.7)), (1, 1), 0.6, (0, 1), 1.0, 0.25, 0.4,
             (("neg", 0.5), ("neg_hedged", 0.45), ("mid", 0.05)), verdict_p=0.85),
}

# Each reason, phrased for a satisfied buyer ("pos", ratings 4-5), a lukewarm one ("mid", 3)
# and an unhappy one ("neg", 1-2). {n}/{N} is the product noun, {V:}/{S:}/{A:} agree with it,
# {R:} agrees with the reviewer.
REASONS: dict[str, dict[str, tuple[str, ...]]] = {
    "маломерит": {
        "pos": ("Маломерит, {R:брал} на размер больше — {V:сел} отлично.", "Берите на размер больше, {n} немного {S:маленький}, но после обмена всё хорошо.",
                "Размер чуть меньше заявленного, {R:заказал} на размер больше и не {R:прогадал}.", "Идёт в притык, учитывайте это при выборе размера."),
        "mid": ("Маломерит, на свой размер {V:сел} впритык.", "{R:брал} на размер больше и то мало.", "{N} {S:маленький}, пришлось менять на размер больше.",
                "Сидит тесновато, маломерит минимум на размер."),
        "neg": ("{V:сел} впритык, тесно, {R:вернул}.", "Размер не соответствует: на свой размер даже не {V:налез}.", "{R:брал} на размер больше и то мало, {n} в возврат.",
                "Маломерит на два размера, носить невозможно."),
    },
    "большемерит": {
        "pos": ("Немного большемерит, {R:взял} на размер меньше — идеально.", "{N} {S:большой} на размер, учитывайте.", "Размер с запасом, но мне так даже удобнее."),
        "mid": ("Большемерит, {V:сел} мешком.", "{N} {S:большой} на размер, пришлось менять.", "Размер больше заявленного, болтается."),
        "neg": ("Огромный размер, {V:сел} как мешок, {R:вернул}.", "Большемерит на два размера, болтается, носить невозможно.", "На свой размер {N} {S:большой}, пришлось вернуть."),
    },
    "в размер": {
        "pos": ("Размер в размер, {V:сел} хорошо.", "По размеру {V:подошёл} идеально.", "Соответствует размеру, {R:брал} свой обычный.", "{V:сел} по фигуре, размер стандартный."),
        "mid": ("По размеру {V:подошёл}, но в остальном так себе.", "Размер соответствует, тут претензий нет."),
        "neg": ("Размер соответствует, но это единственный плюс.",),
    },
    "брак": {
        "pos": ("Был небольшой брак, продавец быстро заменил.", "Попался брак, но обменяли без проблем."),
        "mid": ("{V:пришёл} с браком: {defect}. Пользоваться можно.", "Есть брак: {defect}, но пользоваться можно."),
        "neg": ("{V:пришёл} с браком: {defect}.", "Брак: {defect}. {R:оформил} возврат.", "Бракованный товар, {defect}.", "{defect}, явный брак."),
    },
    "быстрая доставка": {
        "pos": ("Доставка быстрая, {V:пришёл} за два дня.", "{V:пришёл} раньше срока.", "Заказ пришёл на следующий день, очень быстро.", "Доставили быстро."),
        "mid": ("Доставка быстрая, это плюс.", "{V:пришёл} быстро, но в остальном средне."),
        "neg": ("Доставка быстрая, но толку от этого никакого.",),
    },
    "долгая доставка": {
        "pos": ("Долго шла доставка, почти три недели, но {n} того {V:стоил}.", "{R:ждал} долго, но результатом {RS:довольный}."),
        "mid": ("Доставка заняла почти три недели.", "{R:ждал} очень долго, {n} {V:пришёл} через месяц.", "Доставку переносили два раза."),
        "neg": ("{R:ждал} месяц, доставку постоянно переносили.", "Доставка заняла больше трёх недель, а в итоге ещё и это.", "Очень долгая доставка."),
    },
    "хорошее качество": {
        "pos": ("Качество отличное, швы ровные.", "Материал приятный, качество на высоте.", "Качество хорошее для такой цены.", "{N} {A:качественный}, видно сразу.",
                "Сделано добротно, ничего не торчит."),
        "mid": ("Качество нормальное, не более.", "По качеству претензий нет, но и восторга тоже."),
        "neg": ("Качество вроде нормальное, но это не спасает.",),
    },
    "плохое качество": {
        "pos": ("Качество могло быть и лучше, но за эти деньги сойдёт.",),
        "mid": ("Качество так себе.", "Материал тонкий, качество среднее.", "Качество на троечку."),
        "neg": ("Качество ужасное.", "Материал тонкий и дешёвый, через неделю {V:потерял} вид.", "Качество отвратительное, {n} {V:развалился} почти сразу.",
                "Очень плохое качество, всё кривое."),
    },
    "соответствует описанию": {
        "pos": ("Всё как на фото и в описании.", "Полностью {Q:соответствует|соответствуют} описанию.", "{N} точно как на картинке."),
        "mid": ("Вроде соответствует описанию, но {R:ожидал} другого.",),
        "neg": ("Формально соответствует описанию, но качество никакое.",),
    },
    "не соответствует описанию": {
        "pos": ("Немного отличается от описания, но мне подошло.",),
        "mid": ("Не совсем соответствует описанию.", "В описании заявлено одно, по факту немного другое."),
        "neg": ("Не соответствует описанию.", "Заявлено: {mat}, а по факту совсем другое.", "На фото выглядит совсем иначе, в жизни ничего общего.",
                "В описании одно, пришло другое."),
    },
    "плохая упаковка": {
        "pos": ("Упаковка была помята, но {n} {S:целый}.", "Коробка пришла мятая, хотя на содержимом это не сказалось.",
                "Упаковали так себе, но всё целое."),
        "mid": ("Упаковка порвана, коробка мятая.", "Пришло в пакете без коробки, всё помято."),
        "neg": ("Упаковали ужасно, коробка разорвана.", "Пришло в рваном пакете, без коробки, всё помятое.", "Упаковки никакой, просто пакет."),
    },
    "цена/качество": {
        "pos": ("За свои деньги отличный вариант.", "Цена соответствует качеству.", "Для такой цены очень достойно.", "{R:брал} по скидке, за эти деньги супер."),
        "mid": ("За эти деньги нормально, но не более.", "Цена соответствует качеству, то есть средне."),
        "neg": ("За такие деньги {R:ожидал} большего.", "Цена завышена, качество не стоит этих денег.", "Переплата за бренд, не стоит своих денег."),
    },
    "запах": {
        "pos": ("Был небольшой запах, но выветрился за день.", "Поначалу пахло, после стирки запах ушёл."),
        "mid": ("Есть химический запах, до сих пор выветривается.", "Пахнет резиной, надеюсь, выветрится."),
        "neg": ("Сильный химический запах, не выветривается уже неделю.", "Воняет так, что невозможно находиться рядом.", "Запах ужасный, пришлось вернуть."),
    },
    "цвет не совпадает": {
        "pos": ("Цвет немного отличается от фото, но так даже лучше.", "Оттенок чуть темнее, чем на картинке, но смотрится хорошо."),
        "mid": ("Цвет отличается от фото.", "{R:заказывал} {colour}, а пришёл другой оттенок."),
        "neg": ("Цвет совсем не тот, что на фото.", "{R:заказывал} {colour}, а пришло что-то совсем другое по цвету.", "Цвет не совпадает с карточкой."),
    },
    "подделка": {
        "pos": ("{R:сомневался} в оригинальности, но вроде всё в порядке.",),
        "mid": ("Похоже на копию, хотя носить можно.",),
        "neg": ("Это подделка, не оригинал {brand}.", "Оригинальностью и не пахнет, логотип кривой.", "Явная реплика под видом оригинала."),
    },
    "не тот товар": {
        "pos": ("Сначала прислали не тот товар, но быстро поменяли.",),
        "mid": ("Прислали не тот цвет, пришлось менять.",),
        "neg": ("Пришёл совсем другой товар.", "Прислали не то, что {R:заказывал}.", "Вместо заказанного пришла какая-то ерунда."),
    },
    "удобство": {
        "pos": ("Очень {A:удобный}, пользуюсь каждый день.", "Удобно, ничего не мешает.", "{N} {A:удобный} и {A:лёгкий}."),
        "mid": ("Удобно, но есть вопросы к качеству.",),
        "neg": ("Удобно, но на этом плюсы заканчиваются.",),
    },
}

DEFECTS = {
    "clothes": ("торчат нитки и шов разошёлся", "дырка на рукаве", "пятно на ткани", "молния не застёгивается", "затяжки по всей ткани"),
    "shoes": ("подошва отклеилась через неделю", "один ботинок больше другого", "клей по краям подошвы", "порез на носке", "разные по цвету пары"),
    "device": ("не включается", "не заряжается", "трещина на корпусе", "не держит заряд", "греется и отключается", "кнопка залипает"),
    "consumable": ("вскрытая упаковка", "протёк флакон", "истёк срок годности", "сломана крышка", "половина содержимого просыпалась", "подтекает дозатор", "нет защитной плёнки"),
    "thing": ("царапины и сколы", "не хватает деталей", "погнутые детали", "потёртости на видном месте", "отломана деталь"),
}

# Remarks on one aspect: they fit a review of any rating ("цвет насыщенный" in a 1-star review
# about the size).
PROS = (
    "Выглядит дорого.", "Смотрится красиво.", "{N} {A:красивый}.", "Цвет насыщенный.", "Качество нормальное.",
    "Продавец на связи, ответили быстро.", "Доставка быстрая.", "{V:понравился} сразу.", "Хорошо сделано.",
    "Красивый цвет.", "Приятный материал.", "Выглядит лучше, чем на фото.", "Пришло целым.",
    "Полное соответствие фото.", "Пришло за три дня.", "Ничего общего с дешёвыми аналогами.",
    "Швы ровные.", "Материал тонкий, но прочный.", "Отличный вариант для подарка.", "Свои задачи выполняет.",
    "Выглядит не как дешёвый товар.", "{N} {A:качественный}.", "Цвет супер.", "По факту всё как заявлено.",
    "Ничего не помято, всё целое.", "{N} {A:лёгкий}.", "Похоже на оригинал.", "С браком не {R:столкнулся}.",
    "Всё ровное, ничего не кривое.", "{R:оформил} заказ вечером, утром уже {R:забрал}.", "Упаковано отлично.", "Цена приятная.", "Цвета соответствуют фото.", "Не подделка, проверено.", "Всё совпадает с карточкой.", "Явный плюс — цена.", "{R:боялся}, что придёт бракованный, но всё в порядке.", "Материал натуральный на ощупь.", "В остальном всё хорошо.",
)
# Praise of the whole purchase: only in happy reviews. Many reuse the words of complaints
# ("думала, будет ужас, а оказалось отлично"), so those words do not mark a bad review.
PRAISE = (
    "Всё отлично.", "Всё понравилось.", "Вообще не {R:ожидал} такого качества.", "Обидно, что не {R:купил} раньше.",
    "{R:думал}, будет ужас, а оказалось отлично.", "Отличное соотношение цены и качества.",
    "{R:хотел} возвращать, но потом {R:распробовал}.",
    "Обычно лень писать отзывы, но тут пишу только потому, что {n} правда {S:хороший}.",
    "Через месяц всё как новое.", "Ни разу не {R:пожалел} о покупке.", "Не {V:развалился} через неделю, как писали.",
    "Пользуюсь до сих пор.", "Полностью {RS:довольный}.", "Совсем другое дело, чем прошлый заказ.",
    "Одно удовольствие пользоваться.", "{R:думал}, качество будет ужасное, а нет.",
    "{R:читал} про отвратительное качество, но мне повезло.", "Именно то, что хотелось.", "Сплошное удовольствие.",
    "Про возврат даже не {R:думал}.", "С выбором не {R:прогадал}.", "Ещё куплю обязательно.",
    "Плохо только то, что не {R:купил} два.", "Ни разу не {R:разочаровался}.", "Невозможно не полюбить.", "Смотрится идеально.",
    "Наконец-то удалось найти то, что нужно.",
)
CONS = (
    "Немного дороговато.", "Были торчащие нитки, пришлось обрезать.", "Коробка приехала помятая.", "Долго {R:ждал}.",
    "Цвет чуть темнее, чем на фото.", "Инструкция только на английском.", "Немного пахнет.", "Есть мелкие недочёты.",
    "Мелкие потёртости.", "{R:ожидал} качество получше.", "Есть к чему придраться.", "Видно, что сделано дёшево.",
    "Есть вопросы к качеству.", "Швы не очень ровные.", "В жизни цвет чуть иначе, чем на фото.", "Не очень {A:удобный}.",
    "Сервис не на высоте.", "{R:ожидал} чего-то другого.", "Качество хорошее, но не для такой цены.", "Упаковка на троечку.",
    "Восторга нет, но и претензий тоже.", "Немного {V:потерял} вид после первого использования.",
    "Кое-где торчит нитка, хотя в целом сделано добротно.", "Пришлось два раза ходить на пункт.",
    "Немного пахнет резиной, надеюсь, выветрится.", "Качество среднее, но для такой цены нормально.",
    "Не очень удобно.", "Доставили в последний день срока.", "Бирка была порвана.", "Выглядит достойно, но не более.",
    "Отправили только на следующий день после заказа.", "Фото отличное, а в жизни чуть хуже.", "Если придираться, есть мелкие недочёты.",
    "Полностью устраивает всё, кроме цены.", "Запах не самый приятный.", "Освещение на фото плохое, цвет не разглядеть.",
    "Коробка похожа на копию, но сам товар нормальный.",
    "{R:думал}, будет лучше.", "Раньше было дешевле.", "Цена кусается.", "На картинке ярче.", "Был сильный химический запах, но выветривается быстро.", "Пользуюсь редко, не очень удобно.",
)
HARSH = (
    "Вообще не то.", "Полное разочарование.", "Совсем не понравилось.", "Ужас.", "Даже обидно.", "Через день {R:пожалел} о покупке.",
    "Совсем не как на фото.", "Даже для такой цены так себе.", "Уже через два дня {R:пожалел}.",
    "Даже как вариант для подарка не годится.", "По качеству не дотягивает.", "{R:ждал} совсем другого.", "Ещё и пахнет.",
    "{R:думал}, будет отлично, а оказалось наоборот.", "Полностью {R:разочаровался}.", "Сразу видно, что дёшево.",
    "Даже не средне, а плохо.", "Раньше у этого продавца было лучше.", "Больше не куплю, тем более за такую цену.",
    "Выглядит добротно, а внутри всё торчит.", "Спасибо, не надо такого.", "Качество не на высоте.", "Претензий много.",
    "Второй раз беру и второй раз жалею.", "Хорошее только фото.", "Пользуюсь через силу.", "На следующий день {V:сломался}.", "Выглядит достойно только на фото.", "Удовольствие сомнительное.", "Отличное описание, но товар не тот.", "Нюансы такие, что пользоваться нельзя.",
)
# A small con is waved off in unhappy reviews too: the main complaint is elsewhere.
SOFTENERS = ("Но это мелочь.", "В целом не критично.", "Но это не страшно.")
# said of sized goods whatever the review is about, so the size words are not the "в размер" tag's alone
FIT_REMARKS = ("По размеру {V:подошёл}.", "Размер стандартный.", "{V:сел} по фигуре.", "С размером {R:угадал}.",
               "Соответствует размеру.", "Не маломерит и не большемерит.", "{R:брал} свой обычный размер.",
               "{R:думал}, будет мало, но нет.", "Не велика и не мала.", "Впритык не сидит, всё свободно.", "Не тесно, сидит хорошо.",
               "{R:взял} свой размер — не мешком и не в обтяжку.", "Небольшой запас по длине, так даже удобнее.",
               "Берите свой размер, не ошибётесь.", "Подошло сразу, без обмена.", "Сидит свободно, не тесновато.",
               "Не болтается и не жмёт.", "Идёт в размер.", "При выборе размера {R:смотрел} таблицу, всё совпало.",
               "Не {S:маленький} и не {S:большой}.", "Сидит не в притык, запас минимум в палец.",
               "{R:заказывал} два размера, подошли оба.",
               "Легко {V:налез}, по длине {V:подошёл}.", "{R:брал} с запасом, но не понадобилось.", "Не огромный и не мешок, сидит аккуратно.")
# Said of a product of each group in reviews about something else: the defect words are not the
# "брак" tag's alone.
GROUP_REMARKS = {
    "clothes": ("Ткани плотные, приятные.", "Пятно на ткани отстиралось сразу."),
    "shoes": ("Подошва мягкая.", "Клей по краям подошвы не видно."),
    "device": ("Заряд держит хорошо.", "Корпус не греется."),
    "consumable": ("Упаковка не вскрытая, срок годности нормальный.", "Крышка плотная, ничего не протекло.",
                   "Половина содержимого уже израсходована."),
    "thing": ("Всех деталей хватает.", "Ни одна деталь не отломана.", "{R:искал} царапины и сколы — нет.", "Детали не погнутые, всё ровно.",
              "На видном месте ни одного дефекта."),
}
HEDGES = ("В целом", "Но в целом", "Хотя в целом", "Если не придираться,")

# Verdicts are shared by neighbouring ratings on purpose: "рекомендую" ends 4s and 5s alike.
VERDICTS = {
    "pos": ("Рекомендую!", "Однозначно рекомендую.", "Буду заказывать ещё.", "{RS:довольный} покупкой.", "Спасибо продавцу!",
            "Советую к покупке.", "Беру уже второй раз.", "Покупкой {RS:довольный}.", "Рекомендую к покупке.",
            "Спасибо продавцу за быструю отправку!", "Точно возьму ещё.", "{R:думал}, будет разочарование, а зря."),
    "pos_hedged": ("В целом рекомендую.", "В целом {RS:довольный}.", "За свою цену отлично.", "Покупкой {RS:довольный}, но есть нюансы.",
                   "Неплохо, но есть к чему стремиться.", "Рекомендую, но с оговорками.", "Спасибо продавцу, но есть нюансы."),
    "mid": ("Так себе покупка.", "Ни рыба ни мясо.", "Рекомендовать не могу, но и ругать не за что.", "{R:ожидал} большего, но пользоваться можно.",
            "Оставлю себе, но больше брать не буду.", "Нормально, но не отлично.", "Средне."),
    "neg": ("Не рекомендую.", "Однозначно не рекомендую!", "Деньги на ветер!", "{R:оформил} возврат.", "Никому не советую!",
            "Больше заказывать не буду.", "Сплошное разочарование.", "Не советую.", "{R:вернул}.",
            "Покупкой не {RS:довольный}.", "Спасибо продавцу за быструю отправку, но покупкой не {RS:довольный}.",
            "К покупке не рекомендую.", "Точно больше не куплю."),
    "neg_hedged": ("Не рекомендую, есть варианты лучше за эти деньги.", "{R:оставил} себе только потому, что лень возвращать.",
                   "{R:ожидал} большего, {R:разочаровался}.", "Не совсем то, что хотелось, не советую.", "Больше брать не буду, хотя не всё так плохо.",
                   "В целом не рекомендую.", "В целом не {RS:довольный}, есть нюансы посерьёзнее.", "За свою цену можно найти лучше.",
                   "Выглядит неплохо, но пользоваться невозможно.", "{R:думал}, будет лучше, но нет.", "Не рекомендую даже с оговорками.", "Продавцу есть к чему стремиться."),
}

OPENERS = (
    "{R:заказал} себе.", "{R:брал} в подарок.", "{R:покупал} ребёнку.", "{R:заказал} по скидке.", "{R:брал} мужу.",
    "Долго {R:выбирал} и вот {R:заказал}.", "Это мой второй заказ у этого продавца.", "{R:брал} на пробу.",
)

_R = re.compile(r"\{R(S?):([^{}]+)\}")


# Asides that quote what other buyers wrote, then agree or disagree with it. They put every
# reason's and every mood's words into reviews of other reasons and moods ("в отзывах писали:
# «сильный химический запах» — у меня такого нет"), so the tag and the rating have to be read
# from what the buyer says about their own purchase, not from which words occur.
ASIDE_P = {"pos": 0.4, "mid": 0.45, "neg": 0.7}
AGREE_P = {"pos": 0.5, "mid": 0.5, "neg": 0.35}
ASIDE_INTROS = ("В отзывах писали: «{q}»", "Многие пишут: «{q}»", "{R:читал} в отзывах: «{q}»", "По отзывам: «{q}»",
                "Перед покупкой {R:читал}: «{q}»", "Кто-то писал: «{q}»")
ASIDE_AGREE = ("так и есть.", "подтверждаю.", "{RS:согласный}.", "у меня так же.", "всё верно.", "и это правда.")
ASIDE_DISAGREE = ("у меня не так.", "не подтверждаю.", "у меня такого нет.", "не мой случай.", "не {RS:согласный}.",
                  "это не про мой заказ.")
OPPOSITE = {"pos": ("neg",), "neg": ("pos",), "mid": ("pos", "neg")}
# Which verdict pools a quoted verdict of each mood comes from.
VERDICT_MOODS = {"pos": ("pos", "pos_hedged"), "mid": ("mid",), "neg": ("neg", "neg_hedged")}

# How often each end-of-text mark follows a review of each mood (pos: 4-5, mid: 3, neg: 1-2).
SMILEYS: dict[str, dict[str, float]] = {
    ")))": {"pos": 0.4, "mid": 0.3, "neg": 0.3},
    ")": {"pos": 0.2, "mid": 0.15, "neg": 0.1},
    "...": {"pos": 0.15, "mid": 0.3, "neg": 0.25},
    "(((": {"pos": 0.1, "mid": 0.25, "neg": 0.4},
    "!!!": {"pos": 0.1, "mid": 0.0, "neg": 0.1},
}


def _mood(rating: int) -> str:
    return "pos" if rating >= 4 else "neg" if rating <= 2 else "mid"




def _group(p: Product) -> str:
    kind = p.subject.kind
    if kind in ("clothes", "shoes"):
        return kind
    if kind in ("tech", "appliance", "tools", "health"):
        return "device"
    if kind in ("beauty", "food", "petfood", "auto", "garden"):
        return "consumable"
    return "thing"


def _choose(rnd: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return weighted(rnd, [o for o, _ in options], [w for _, w in options])


def _reasons_for(p: Product) -> list[str]:
    """The reasons a review of ``p`` can have (size only for sized goods, colour only if it has one)."""
    names = [r for r in REASON_WEIGHTS if r not in SIZE_REASONS or p.fit]
    return [r for r in names if r != "цвет не совпадает" or p.colours]


def _aside(p: Product, reason: str, rating: int, rnd: random.Random) -> str:
    """What other buyers wrote about another aspect, and whether this buyer agrees."""
    mood = _mood(rating)
    agrees = chance(rnd, AGREE_P[mood])
    quoted_mood = mood if agrees else pick(rnd, OPPOSITE[mood])
    if chance(rnd, 0.8):
        other = pick(rnd, [r for r in _reasons_for(p) if r != reason])
        quote = pick(rnd, REASONS[other][quoted_mood])
    else:
        quote = pick(rnd, VERDICTS[pick(rnd, VERDICT_MOODS[quoted_mood])])
    quote = quote.rstrip(".!")
    tail = pick(rnd, ASIDE_AGREE if agrees else ASIDE_DISAGREE)
    return pick(rnd, ASIDE_INTROS).replace("{q}", quote) + " — " + tail


def _reason(p: Product, rating: int, rnd: random.Random) -> str:
    names = _reasons_for(p)
    weights = []
    for r in names:
        w = REASON_WEIGHTS[r][rating - 1]
        # The size complaints follow how the product really fits.
        if (r, p.fit) in (("маломерит", "small"), ("большемерит", "large"), ("в размер", "true")):
            w *= 3.0
        weights.append(w)
    return weighted(rnd, names, weights)


def _render(template: str, p: Product, referent: tuple[str, str], reviewer: str, rnd: random.Random) -> str:
    word, gram = referent
    text = _R.sub(lambda m: (short_form if m.group(1) else past_verb)(m.group(2), reviewer), template)
    mat = p.chars.get("Состав") or p.chars.get("Материал верха") or p.chars.get("Материал") or ["натуральный материал"]
    colour = p.colours[0] if p.colours else "черный"
    values = {
        "N": word[:1].upper() + word[1:],
        "n": word,
        "defect": pick(rnd, DEFECTS[_group(p)]),
        "mat": ", ".join(mat),
        "colour": agree(colour, p.gram, "accs") + " " + noun_form(p.subject.noun, p.gram, "accs"),
        "brand": p.brand if p.brand != NO_BRAND else "бренда",
    }
    return render(text, gram, values)


def _review(p: Product, rating: int, rnd: random.Random) -> tuple[str, str]:
    reason = _reason(p, rating, rnd)
    reviewer = "femn" if chance(rnd, 0.75) else "masc"
    wearable = p.subject.kind in ("clothes", "shoes", "acc")
    if chance(rnd, 0.6):
        referent = (p.subject.noun if not p.subject.pre else f"{agree(p.subject.pre, p.gram)} {p.subject.noun}", p.gram)
    else:
        referent = pick(rnd, [("товар", "masc"), ("вещь", "femn") if wearable else ("товар", "masc"), ("модель", "femn")])

    def say(template: str) -> str:
        return _render(template, p, referent, reviewer, rnd)

    plan = PLANS[rating]
    tone = _choose(rnd, plan.tone)
    core = say(pick(rnd, REASONS[reason][tone]))
    pool = PROS + PRAISE if rating >= 4 else PROS
    if not p.colours:
        pool = tuple(x for x in pool if "цвет" not in x.lower() and "красив" not in x)
    pros = sample(rnd, pool, rnd.randint(*plan.pros)) if chance(rnd, plan.pros_p) else []
    cons = sample(rnd, CONS, rnd.randint(*plan.cons)) if chance(rnd, plan.cons_p) else []
    if cons and chance(rnd, plan.soften_p):
        cons[-1] = f"{cons[-1]} {pick(rnd, SOFTENERS)}"
    if p.fit and reason not in SIZE_REASONS and chance(rnd, 0.4):
        pros.append(pick(rnd, FIT_REMARKS))
    if reason != "брак" and chance(rnd, 0.15):
        pros.append(pick(rnd, GROUP_REMARKS[_group(p)]))
    if chance(rnd, plan.harsh_p):
        cons.append(pick(rnd, HARSH))
    pros = [say(x) for x in pros]
    cons = [say(x) for x in cons]
    verdict = pick(rnd, VERDICTS[_choose(rnd, plan.verdict)]) if chance(rnd, plan.verdict_p) else ""
    # hedges soften a verdict either way: "в целом рекомендую", "но в целом не рекомендую"
    hedgeable = verdict in VERDICTS["pos"] or verdict in VERDICTS["pos_hedged"] or verdict.startswith("Не ")
    if hedgeable and rating != 3 and chance(rnd, 0.25) and not verdict.startswith(("В целом", "Но")):
        verdict = f"{pick(rnd, HEDGES)} {verdict[:1].lower()}{verdict[1:]}"
    verdict = say(verdict) if verdict else ""

    opener = [say(pick(rnd, OPENERS))] if chance(rnd, 0.25) else []
    aside = say(_aside(p, reason, rating, rnd)) if chance(rnd, ASIDE_P[_mood(rating)]) else ""
    if aside:
        (pros if chance(rnd, 0.5) else cons).append(aside)
    if chance(rnd, 0.2):
        # the marketplace form: separate fields for pros, cons and a comment
        good = " ".join(pros) or (core if tone == "pos" else "нет")
        comment = (verdict or "нет") if good == core else f"{core} {verdict}".strip()
        text = f"Достоинства: {good} Недостатки: {' '.join(cons) or 'нет'} Комментарий: {comment}"
    else:
        body = [*opener, core, *pros, *cons] if chance(rnd, 0.6) else [*opener, *pros, core, *cons]
        if len(body) > 2 and chance(rnd, 0.3):
            head, tail = body[:1], body[1:]
            rnd.shuffle(tail)
            body = head + tail
        text = " ".join([*body, verdict] if verdict else body)
    return _style(text, rating, rnd), reason


def _style(text: str, rating: int, rnd: random.Random) -> str:
    """How people actually type reviews: lowercase, no full stops, brackets for smiles."""
    if chance(rnd, 0.15):
        text = text.lower()
    if chance(rnd, 0.1):
        text = text.replace(".", "")
    if chance(rnd, 0.15):
        # smileys lean with the mood but people put ")))" on a grumble too ("ну такое)))"),
        # so no bracket run reads off the rating
        marks = list(SMILEYS)
        text = text.rstrip(".!") + weighted(rnd, marks, [SMILEYS[m][_mood(rating)] for m in marks])
    if chance(rnd, 0.1):
        text = typo_in_text(text, rnd)
    if chance(rnd, 0.6):
        text = drop_yo(text)
    return text


def build_reviews(products: list[Product], reviews_per_product: float, rnd: random.Random) -> pd.DataFrame:
    """Reviews for a Poisson number per product (popular products get more); counts come from
    ``rnd`` too, keeping one stream per table."""
    ids: list[int] = []
    nmids: list[int] = []
    texts: list[str] = []
    ratings: list[int] = []
    reasons: list[str] = []
    next_id = 10_000_000 + rnd.randrange(1_000_000)
    for p in products:
        for _ in range(poisson(rnd, reviews_per_product)):
            rating = weighted(rnd, RATINGS, RATING_WEIGHTS)
            text, reason = _review(p, rating, rnd)
            next_id += rnd.randint(1, 40)
            ids.append(next_id)
            nmids.append(p.nmid)
            texts.append(text)
            ratings.append(rating)
            reasons.append(reason)
    logger.info("reviews: %d", len(ids))
    return pd.DataFrame({
        "review_id": np.array(ids, dtype=np.int64),
        "nmid": np.array(nmids, dtype=np.int64),
        "text": pd.array(texts, dtype="str"),
        "rating": np.array(ratings, dtype=np.int64),
        "reason": pd.array(reasons, dtype="str"),
    })
