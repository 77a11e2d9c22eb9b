"""A character n-gram model of Russian spelling, trained and queried with numpy only.

Words are modelled one at a time, padded with a boundary symbol on both sides, so "ьа" at the
start of a word or "йй" at its end cost what they cost in real Russian text. Probabilities are
add-k estimates of every order 1..n, linearly interpolated. Scoring is vectorised over all the
candidate strings at once: candidates are the hot path (hundreds of thousands per run).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from wb_embedder.words import russian_words

from .schema import LanguageModelConfig

log = logging.getLogger(__name__)

# id 0: the word boundary; 1..32: а..я (ё is folded into е); 33: anything else.
_LETTERS = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
BOUNDARY = 0
OTHER = len(_LETTERS) + 1
VOCAB = len(_LETTERS) + 2
# Memory/speed trade-offs only (the results do not depend on them): letters counted per chunk
# while training, strings scored per batch.
_CHUNK_CHARS = 2_000_000
_SCORE_BATCH = 200_000

_CODEPOINT_IDS = np.full(0x460, OTHER, dtype=np.int8)
for _i, _ch in enumerate(_LETTERS, start=1):
    _CODEPOINT_IDS[ord(_ch)] = _i
_CODEPOINT_IDS[ord("ё")] = _LETTERS.index("е") + 1

# Fallback training text for a tiny corpus: everyday Russian and the loanwords of a marketplace
# catalogue, which carry the spelling habits of borrowed names ("-инг", "дж", "-ейн"). No brand
# names: the model must not know the answers of the evaluation list.
BUILTIN_WORDS = """
и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь год от так
о для ты же все тот мочь вы человек такой его сказать только или еще бы себя один как уже до время
если сам когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень два
день ее новый рука даже во со раз где там под можно ну какой после их работа без самый потом надо
хотеть ли слово идти большой должен место иметь ничто то сейчас тут лицо каждый друг нет теперь ни
глаз тоже тогда видеть вопрос через да здесь дом да сторона думать сделать страна жить чем мир об
последний случай голова более делать что-то смотреть ребенок просто конечно сила российский конец
перед несколько вид система всегда работать между три продукт товар цена доставка заказ скидка
размер цвет черный белый красный синий зеленый серый розовый бежевый коричневый желтый оранжевый
фиолетовый голубой бордовый хаки мужской женский детский унисекс новинка хит распродажа качество
материал хлопок полиэстер кожа замша текстиль шерсть вискоза эластан нейлон акрил спандекс трикотаж
флис деним велюр бархат атлас шелк лен одежда обувь аксессуары платье юбка блузка рубашка футболка
майка топ свитер джемпер кардиган пуловер худи толстовка свитшот лонгслив водолазка куртка пуховик
пальто плащ жилет пиджак жакет брюки джинсы шорты леггинсы лосины комбинезон костюм пижама халат
белье трусы бюстгальтер носки колготки гольфы шапка шарф перчатки варежки кепка бейсболка панама
берет ремень сумка рюкзак кошелек клатч портмоне чемодан зонт очки часы браслет кольцо серьги
цепочка кулон кроссовки кеды ботинки сапоги туфли босоножки сандалии шлепанцы сланцы тапочки
мокасины лоферы слипоны угги ботильоны полусапожки балетки эспадрильи дутики челси броги оксфорды
дерби косметика парфюм парфюмерия духи туалетная вода шампунь бальзам кондиционер маска крем лосьон
тоник сыворотка гель мусс пенка скраб пилинг помада тушь тени пудра румяна консилер праймер
хайлайтер бронзер карандаш подводка лак ногти волосы кожа лицо тело руки ноги губы глаза ресницы
брови дезодорант антиперспирант бритва станок лезвие зубная щетка паста нить ополаскиватель
прокладки тампоны подгузники трусики салфетки бумага полотенце мыло жидкое электроника смартфон
телефон планшет ноутбук компьютер монитор клавиатура мышь наушники колонка зарядка кабель адаптер
чехол стекло пленка аккумулятор флешка карта памяти роутер телевизор приставка джойстик консоль
геймпад камера фотоаппарат объектив штатив видеорегистратор холодильник морозильник стиральная
машина сушильная посудомоечная плита духовка микроволновка пылесос робот утюг отпариватель фен
плойка выпрямитель триммер машинка блендер миксер мясорубка кофеварка кофемашина чайник тостер
мультиварка соковыжималка хлебопечка вентилятор обогреватель кондиционер увлажнитель очиститель
воздуха весы термометр тонометр дом сад кухня посуда кастрюля сковорода нож вилка ложка тарелка
кружка чашка стакан бокал контейнер ланчбокс термос бутылка органайзер корзина вешалка полка шкаф
стол стул кресло диван кровать матрас подушка одеяло плед покрывало постельное наволочка простыня
пододеяльник штора тюль ковер коврик лампа светильник люстра гирлянда свеча ваза рамка зеркало часы
инструмент дрель шуруповерт перфоратор болгарка лобзик пила отвертка молоток ключ набор бита сверло
уровень рулетка степлер клей герметик краска кисть валик перчатки лопата грабли шланг игрушка
конструктор кукла машинка пазл мяч настольная игра кубик мозаика раскраска пластилин фломастеры
карандаши ручка тетрадь блокнот ежедневник пенал рюкзак ранец альбом спорт фитнес тренировка гантели
гиря штанга эспандер скакалка коврик йога велосипед самокат ролики скейтборд сноуборд лыжи коньки
палатка спальник горелка фонарь рыбалка удочка катушка продукты кофе чай какао шоколад конфеты
печенье вафли мармелад зефир орехи сухофрукты мед варенье соус кетчуп майонез макароны крупа рис
гречка мука сахар соль специи масло молоко сыр йогурт кефир творог сок вода газировка лимонад
энергетик снеки чипсы сухарики попкорн корм кошка собака котенок щенок лакомство наполнитель лоток
миска поводок ошейник когтеточка аптека витамины бады пластырь бинт маска антисептик градусник
хороший плохой отличный быстрый удобный мягкий теплый легкий прочный красивый стильный модный
маленький средний огромный длинный короткий широкий узкий высокий низкий тонкий толстый качественный
недорогой дешевый дорогой оригинальный настоящий подделка брак возврат обмен размерный сетка
маломерит большемерит соответствует описание фото рекомендую пришел доставили упаковка курьер пункт
выдачи отзыв оценка покупка продавец магазин бренд марка фирма модель коллекция серия линейка версия
выпуск сезон зима весна лето осень демисезон джем джаз джип джойстик джунгли имидж менеджер пейджер
бюджет стилист дизайн дизайнер шоппинг маркетинг кемпинг паркинг тренинг фитнес брифинг лизинг
рейтинг пирсинг кастинг смокинг шейкер спикер кулер тюнер принтер сканер плеер бойлер лайнер тостер
блендер кекс кетчуп бейдж кейс лайфхак лайк хайп блогер стример геймер хакер сейф сейл фейк трейлер
лейбл грейпфрут кейтеринг дедлайн онлайн офлайн лайм лайнер флайер файл майнинг тайм-аут шоу шорт
бутик шарм шик шифон шопер шейп шелк шелковый шоколадный шампанское шансон кафе кофейня ресторан
меню пицца паста суши роллы бургер хот-дог сэндвич салат десерт сервис офис экран эффект эксперт
экспорт экология экономика экскурсия эскалатор эскиз эмаль интернет компания клиент проект процесс
результат программа технология информация университет студент профессор доктор медицина клиника
пациент пакет ракета планета космос музыка гитара пианино концерт театр кино фильм сериал журнал
газета книга роман поэзия автомобиль двигатель колесо шина диск фара бампер стекло зеркало руль
сиденье багажник фотография видео аудио радио стерео моно цифровой аналоговый беспроводной
портативный квадрат круг треугольник линия точка угол центр база пульс ритм темп стиль электрический
механический автоматический профессиональный классический спортивный
""".split()


def _word_arrays(words: Sequence[str], order: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of all words laid end to end with order-1 boundary pads before each word and one
    boundary after it; plus the mask of positions that are predicted (letters and the end)."""
    pad = "\x00" * (order - 1)
    joined = pad + ("\x00" + pad).join(words) + "\x00"
    codepoints = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    ids = _CODEPOINT_IDS[np.minimum(codepoints, len(_CODEPOINT_IDS) - 1)]
    ids[codepoints >= len(_CODEPOINT_IDS)] = OTHER
    ids[codepoints == 0] = BOUNDARY
    is_boundary = ids == BOUNDARY
    target = ~is_boundary
    # The first boundary after a word is the "end of word" event; the pads after it are not.
    target[1:] |= is_boundary[1:] & ~is_boundary[:-1]
    target[: order - 1] = False
    return ids, target


def _codes(ids: np.ndarray, positions: np.ndarray, m: int) -> np.ndarray:
    """Code of the m-gram ending at each position (base VOCAB digits, oldest first)."""
    code = np.zeros(len(positions), dtype=np.int64)
    for back in range(m - 1, -1, -1):
        code = code * VOCAB + ids[positions - back].astype(np.int64)
    return code


class CharNgramLM:
    """Interpolated add-k character n-gram model over Russian words."""

    def __init__(self, cfg: LanguageModelConfig) -> None:
        self.cfg = cfg
        self.order = cfg.order
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._ctx_keys: list[np.ndarray] = []
        self._ctx_counts: list[np.ndarray] = []
        self.n_train_chars = 0
        self.used_builtin = False

    @staticmethod
    def words_of(texts: Iterable[str], max_chars: int) -> Iterator[list[str]]:
        """Russian words of ``texts`` in chunks of about _CHUNK_CHARS letters, at most
        ``max_chars`` letters in all."""
        chunk: list[str] = []
        chunk_chars = total = 0
        for text in texts:
            if total >= max_chars:
                break
            found = russian_words(text)
            n = sum(len(w) for w in found)
            chunk.extend(found)
            chunk_chars += n
            total += n
            if chunk_chars >= _CHUNK_CHARS:
                yield chunk
                chunk, chunk_chars = [], 0
        if chunk:
            yield chunk

    def _count(self, words: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(distinct m-gram codes, counts) for m = 1..order over one chunk of words."""
        ids, target = _word_arrays(words, self.order)
        positions = np.flatnonzero(target)
        return [np.unique(_codes(ids, positions, m), return_counts=True) for m in range(1, self.order + 1)]

    def fit(self, corpus_texts: Iterable[str]) -> CharNgramLM:
        # Counting chunk by chunk keeps memory flat on a large corpus; the result is the same.
        per_order: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(self.order)]
        n_chars = n_words = 0
        for words in self.words_of(corpus_texts, self.cfg.max_corpus_chars):
            n_chars += sum(len(w) for w in words)
            n_words += len(words)
            for m, counted in enumerate(self._count(words)):
                per_order[m].append(counted)
        if n_chars < self.cfg.min_corpus_chars:
            # Too little text for stable 3- and 4-gram estimates: lean on the built-in words.
            builtin = [w for chunk in self.words_of([" ".join(BUILTIN_WORDS)], _CHUNK_CHARS) for w in chunk]
            n_chars += sum(len(w) for w in builtin)
            n_words += len(builtin)
            for m, counted in enumerate(self._count(builtin)):
                per_order[m].append(counted)
            self.used_builtin = True
        self.n_train_chars = n_chars
        for chunks in per_order:
            codes = np.concatenate([c for c, _ in chunks])
            counts = np.concatenate([n for _, n in chunks])
            keys, inverse = np.unique(codes, return_inverse=True)
            merged = np.bincount(inverse, weights=counts, minlength=len(keys)).astype(np.int64)
            self._keys.append(keys)
            self._counts.append(merged)
            ctx_keys, ctx_inverse = np.unique(keys // VOCAB, return_inverse=True)
            self._ctx_keys.append(ctx_keys)
            self._ctx_counts.append(np.bincount(ctx_inverse, weights=merged, minlength=len(ctx_keys)).astype(np.int64))
        log.info("char %d-gram LM: %d words, %d letters%s", self.order, n_words, self.n_train_chars,
                 " (built-in word list added)" if self.used_builtin else "")
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, counts: np.ndarray, codes: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(keys, codes)
        idx = np.minimum(idx, len(keys) - 1)
        return np.where(keys[idx] == codes, counts[idx], 0).astype(np.float64)

    def mean_logprob(self, strings: Sequence[str]) -> np.ndarray:
        """Mean natural-log probability per predicted character (letters + end of word) of
        each string; spaces and hyphens split a string into words, each modelled separately."""
        if not self._keys:
            raise RuntimeError("fit() the model first")
        # Batches bound the size of the position arrays; every string is scored independently.
        parts = [self._mean_logprob(strings[i : i + _SCORE_BATCH]) for i in range(0, len(strings), _SCORE_BATCH)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)

    def _mean_logprob(self, strings: Sequence[str]) -> np.ndarray:
        # One row per word; remember which string each word belongs to.
        words: list[str] = []
        owner: list[int] = []
        for i, s in enumerate(strings):
            # An empty string still gets one (unlikely) word so every string has a score.
            parts = [p for p in re.split(r"[\s\-]+", s.lower()) if p] or ["?"]
            words.extend(parts)
            owner.extend([i] * len(parts))
        ids, target = _word_arrays(words, self.order)
        positions = np.flatnonzero(target)
        prob = np.zeros(len(positions), dtype=np.float64)
        k = self.cfg.add_k
        for m, weight in zip(range(1, self.order + 1), self.cfg.interpolation, strict=True):
            if weight == 0:
                continue
            codes = _codes(ids, positions, m)
            num = self._lookup(self._keys[m - 1], self._counts[m - 1], codes)
            den = self._lookup(self._ctx_keys[m - 1], self._ctx_counts[m - 1], codes // VOCAB)
            prob += weight * (num + k) / (den + k * VOCAB)
        logp = np.log(prob)
        # Each word contributes len(word) + 1 predicted positions, in order.
        per_word = np.array([len(w) + 1 for w in words], dtype=np.int64)
        word_of_pos = np.repeat(np.arange(len(words)), per_word)
        owner_arr = np.asarray(owner, dtype=np.int64)
        sums = np.bincount(owner_arr[word_of_pos], weights=logp, minlength=len(strings))
        lens = np.bincount(owner_arr, weights=per_word, minlength=len(strings))
        return sums / lens
