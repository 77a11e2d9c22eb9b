"""The demo corpus: shape, determinism, invariants, and the difficulty it is meant to carry."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from wb_embedder.config import CorpusConfig, Params, load_params
from wb_embedder.corpus import generate_corpus
from wb_embedder.corpus.brands import BRANDS, NO_BRAND, is_latin
from wb_embedder.corpus.catalog import CODE_PREFIXES, LINES
from wb_embedder.corpus.qa import MENTION_FIELDS
from cues import MIN_SUPPORT, find_cues, format_cues, is_punctuation, text_tokens
from wb_embedder.corpus.morph import agree
from wb_embedder.corpus.noise import wrong_layout
from wb_embedder.corpus.vocab import SUBJECT_BY_NAME, SUBJECTS

TINY = CorpusConfig(n_products=120, queries_per_product=3.0, reviews_per_product=2.0, qa_per_product=1.0,
                    n_support_facts=20, questions_per_fact=4)
DEFAULT = CorpusConfig(n_products=2500, queries_per_product=4.0, reviews_per_product=2.5, qa_per_product=1.2,
                       n_support_facts=60, questions_per_fact=8)

STR, INT, BOOL = "str", "int64", "bool"
SCHEMA = {
    "cards": {
        "aggregated_charc_values": STR, "title": STR, "description": STR, "subjectname": STR, "brandname": STR,
        "parentname": STR, "colornames_list": STR, "isadult": BOOL, "isdeleted": BOOL, "nmid": INT, "query": STR,
        "show_cl_cnt": INT, "view_cl_cnt": INT, "cart_cl_cnt": INT,
    },
    "reviews": {"review_id": INT, "nmid": INT, "text": STR, "rating": INT, "reason": STR},
    "product_qa": {"qa_id": INT, "nmid": INT, "question": STR, "answer": STR},
    "support": {"fact_id": INT, "intent": STR, "fact": STR, "question": STR},
}
CARD_FIELDS = ["aggregated_charc_values", "title", "description", "subjectname", "brandname", "parentname",
               "colornames_list", "isadult", "isdeleted"]


@pytest.fixture(scope="module")
def tiny() -> dict[str, pd.DataFrame]:
    return generate_corpus(TINY, seed=7)


@pytest.fixture(scope="module")
def full() -> dict[str, pd.DataFrame]:
    return generate_corpus(DEFAULT, seed=42)


@pytest.fixture(scope="module")
def products(full: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per card, characteristics parsed."""
    cards = full["cards"].drop_duplicates("nmid").reset_index(drop=True)
    cards["chars"] = [json.loads(x) for x in cards["aggregated_charc_values"]]
    cards["colours"] = [json.loads(x) for x in cards["colornames_list"]]
    return cards


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_frames(tiny: dict[str, pd.DataFrame]) -> None:
    again = generate_corpus(TINY, seed=7)
    assert set(again) == {"cards", "reviews", "product_qa", "support"}
    for name, frame in tiny.items():
        pd.testing.assert_frame_equal(frame, again[name], check_exact=True)


def test_different_seed_gives_different_frames(tiny: dict[str, pd.DataFrame]) -> None:
    other = generate_corpus(TINY, seed=8)
    for name, frame in tiny.items():
        assert not frame.equals(other[name]), name


_DIGEST = (
    "import pandas as pd; from wb_embedder.config import CorpusConfig; from wb_embedder.corpus import generate_corpus; "
    "t = generate_corpus(CorpusConfig(n_products=60, queries_per_product=2.0, reviews_per_product=1.0, "
    "qa_per_product=1.0, n_support_facts=12, questions_per_fact=3), seed=3); "
    "print(' '.join(str(int(pd.util.hash_pandas_object(t[k], index=True).sum())) for k in sorted(t)))"
)


def test_output_does_not_depend_on_string_hashing() -> None:
    # str hash() is salted per process; a generator that iterates over a set of strings or
    # keys anything on hash() would give different corpora in these two processes.
    digests = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        done = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1]
    assert len(digests[0].split()) == 4


# --- schema and invariants ---------------------------------------------------------------------

@pytest.mark.parametrize("table", list(SCHEMA))
def test_columns_order_and_dtypes(tiny: dict[str, pd.DataFrame], table: str) -> None:
    frame = tiny[table]
    assert list(frame.columns) == list(SCHEMA[table])
    for column, dtype in SCHEMA[table].items():
        assert frame[column].dtype == dtype, (column, frame[column].dtype)
        assert not frame[column].isna().any(), column
    assert len(frame) > 0


def test_counters_are_ordered(full: dict[str, pd.DataFrame]) -> None:
    cards = full["cards"]
    assert (cards["cart_cl_cnt"] >= 0).all()
    assert (cards["view_cl_cnt"] >= cards["cart_cl_cnt"]).all()
    assert (cards["show_cl_cnt"] >= cards["view_cl_cnt"]).all()
    assert cards["cart_cl_cnt"].sum() > 0


def test_ids_and_references(full: dict[str, pd.DataFrame]) -> None:
    cards, reviews, qa = full["cards"], full["reviews"], full["product_qa"]
    nmids = set(cards["nmid"])
    assert set(reviews["nmid"]) <= nmids
    assert set(qa["nmid"]) <= nmids
    assert reviews["review_id"].is_unique
    assert qa["qa_id"].is_unique
    assert reviews["rating"].between(1, 5).all()
    assert set(reviews["rating"]) == {1, 2, 3, 4, 5}
    assert reviews["reason"].nunique() >= 12
    assert not cards.duplicated(["query", "nmid"]).any()
    assert cards["nmid"].between(100_000, 999_999_999).all()


def test_card_fields_are_one_per_nmid(full: dict[str, pd.DataFrame]) -> None:
    per_nmid = full["cards"].groupby("nmid")[CARD_FIELDS].nunique()
    assert (per_nmid == 1).all().all()


def test_row_counts_follow_config(full: dict[str, pd.DataFrame], products: pd.DataFrame) -> None:
    assert len(products) == DEFAULT.n_products
    per_product = len(full["cards"]) / DEFAULT.n_products
    assert 0.8 * DEFAULT.queries_per_product <= per_product <= 1.2 * DEFAULT.queries_per_product
    assert 0.8 * DEFAULT.reviews_per_product <= len(full["reviews"]) / DEFAULT.n_products <= 1.2 * DEFAULT.reviews_per_product
    assert 0.7 * DEFAULT.qa_per_product <= len(full["product_qa"]) / DEFAULT.n_products <= 1.2 * DEFAULT.qa_per_product
    assert len(full["support"]) == DEFAULT.n_support_facts * DEFAULT.questions_per_fact


def test_json_fields_parse(products: pd.DataFrame) -> None:
    for chars, colours in zip(products["chars"], products["colours"], strict=True):
        assert isinstance(chars, dict) and chars
        assert all(isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in chars.items())
        assert isinstance(colours, list) and all(isinstance(c, str) for c in colours)
    assert not any("\\u04" in x for x in products["aggregated_charc_values"])  # ensure_ascii=False


# --- diversity ---------------------------------------------------------------------------------

def test_catalogue_is_diverse(products: pd.DataFrame) -> None:
    assert products["parentname"].nunique() >= 20
    assert products["subjectname"].nunique() >= 80
    brands = set(products["brandname"])
    assert len(brands) >= 150
    assert sum(is_latin(b) for b in brands) >= 30
    assert sum(not is_latin(b) for b in brands) >= 30


def test_gender_and_age_in_characteristics(products: pd.DataFrame) -> None:
    genders = collections.Counter(c["Пол"][0] for c in products["chars"] if "Пол" in c)
    ages = collections.Counter(c["Возраст"][0] for c in products["chars"] if "Возраст" in c)
    assert set(genders) == {"Женский", "Мужской", "Унисекс"}
    assert set(ages) == {"Взрослый", "Детский"}
    assert sum(genders.values()) >= 0.3 * len(products)


def test_gender_is_often_but_not_always_in_the_text(products: pd.DataFrame) -> None:
    words = re.compile(r"женск|мужск|для женщин|для мужчин|девоч|мальчик|детск|унисекс|для детей|малыш|мужчин|женщин")
    gendered = products[["Пол" in c for c in products["chars"]]]
    said = np.mean([bool(words.search(f"{t} {d}".lower())) for t, d in zip(gendered["title"], gendered["description"])])
    assert 0.4 <= said <= 0.95


def test_special_cards_exist_in_plausible_shares(products: pd.DataFrame) -> None:
    assert 0.005 <= products["isdeleted"].mean() <= 0.05
    assert 0.003 <= products["isadult"].mean() <= 0.03
    assert (products.loc[products["isadult"], "parentname"] == "Для взрослых").all()
    duplicated = products.duplicated(["title", "description"], keep=False)
    assert 0.005 <= duplicated.mean() <= 0.05


def test_descriptions_carry_noise_for_the_clean_stage(products: pd.DataFrame) -> None:
    text = products["description"]
    assert text.str.contains(r"<br|&nbsp;|<b>|<p>", regex=True).mean() > 0.05
    assert text.str.contains("ё").mean() > 0.05
    assert products["title"].str.contains("ё").any()
    assert text.str.contains(r"  |\t|\r\n", regex=True).mean() > 0.05
    lengths = text.str.len()
    assert lengths.min() < 120 and lengths.max() > 600


def test_product_families_exist(products: pd.DataFrame) -> None:
    sizes = products.groupby(["subjectname", "brandname"])["nmid"].nunique()
    assert (sizes >= 3).sum() >= 50


def test_title_adjectives_agree_with_the_noun(products: pd.DataFrame) -> None:
    checked = 0
    for title, subject in zip(products["title"], products["subjectname"], strict=True):
        s = SUBJECT_BY_NAME[subject]
        for word in re.findall(r"\b(женск\w+|мужск\w+)\b", title.lower()):
            lemma = "женский" if word.startswith("женск") else "мужской"
            assert word == agree(lemma, s.gram), (title, s.gram)
            checked += 1
    assert checked > 200


def test_every_title_adjective_lemma_is_known_to_pymorphy() -> None:
    plural = {s.name: [a for a in s.adjs if " " not in a and a.endswith(("ый", "ий", "ой"))] for s in SUBJECTS}
    for name, lemmas in plural.items():
        for lemma in lemmas:
            assert agree(lemma, "plur") != lemma, (name, lemma)


# --- queries -----------------------------------------------------------------------------------

def test_queries_differ_from_titles(full: dict[str, pd.DataFrame]) -> None:
    cards = full["cards"]
    inside = np.mean([q in t.lower() for q, t in zip(cards["query"], cards["title"], strict=True)])
    assert inside < 0.3
    assert (cards["query"] == cards["query"].str.lower()).all()
    assert cards.groupby("query")["nmid"].nunique().mean() > 2.5


def test_brand_scopes_name_known_parents_or_subjects() -> None:
    """A scope that names no parent or subject (a typo in the brand table) would silently keep
    the brand off every card."""
    from wb_embedder.corpus.vocab import PARENTS

    known = set(PARENTS) | set(SUBJECT_BY_NAME) | {"*"}
    assert [f"{b.name}: {s}" for b in BRANDS for s in b.scope if s not in known] == []


def test_cyrillic_brand_queries(full: dict[str, pd.DataFrame]) -> None:
    cards = full["cards"]
    typed = {b.name: [t for t in b.typed if not t.isascii()] for b in BRANDS if is_latin(b.name)}
    hits = 0
    for query, brand in zip(cards["query"], cards["brandname"], strict=True):
        if any(re.search(rf"\b{re.escape(t)}\b", query) for t in typed.get(brand, [])):
            hits += 1
    assert hits >= 30
    assert cards["query"].str.contains(r"\b(?:найк|адидас|сяоми|самсунг)\b", regex=True).any()


def test_corpus_slips_type_on_the_shared_keyboard() -> None:
    """The corpus plants wrong-layout text and typos on the keyboard gen_synonyms types brands on
    (wb_embedder.keyboard), keeping its own narrower choice: lowercase letter keys, same-row slips."""
    from wb_embedder.corpus.noise import _NEIGHBOURS
    from wb_embedder.keyboard import neighbours, to_jcuken, to_qwerty

    assert wrong_layout("кроссовки найк") == to_qwerty("кроссовки найк") == "rhjccjdrb yfqr"
    assert wrong_layout("rhjccjdrb yfqr") == to_jcuken("rhjccjdrb yfqr") == "кроссовки найк"
    assert wrong_layout("ёлка, Жук.") == "`krf, Жer."  # capitals and Russian punctuation as typed
    assert _NEIGHBOURS["к"] == "уе" and _NEIGHBOURS["ю"] == "б" and "ё" not in _NEIGHBOURS
    staggered = neighbours("jcuken", across_rows=True)  # the synonyms' slips include the corpus's
    assert all(set(near) <= set(staggered[letter]) for letter, near in _NEIGHBOURS.items())


def test_wrong_layout_queries(full: dict[str, pd.DataFrame]) -> None:
    nouns = {s.noun[:5] for s in SUBJECTS if len(s.noun) >= 5}
    queries = full["cards"]["query"].drop_duplicates()
    latin = queries[queries.str.fullmatch(r"[a-z\[\];',.`0-9 ]+")]
    decoded = [wrong_layout(q) for q in latin]
    readable = sum(any(n in d for n in nouns) for d in decoded)
    assert readable >= 15
    assert 0.01 <= len(latin) / len(queries) <= 0.15


def _rates(rows: pd.DataFrame) -> tuple[float, float]:
    return rows["view_cl_cnt"].sum() / rows["show_cl_cnt"].sum(), rows["cart_cl_cnt"].sum() / max(rows["view_cl_cnt"].sum(), 1)


def test_counters_reward_matching_products(full: dict[str, pd.DataFrame]) -> None:
    cards = full["cards"].copy()
    gender = [json.loads(x).get("Пол", [""])[0] for x in cards["aggregated_charc_values"]]
    cards["gender"] = gender
    asks_women = cards["query"].str.contains(r"\bженск", regex=True)
    match = cards[asks_women & (cards["gender"] == "Женский")]
    miss = cards[asks_women & (cards["gender"] == "Мужской")]
    assert len(match) > 50 and len(miss) > 10
    (view_match, cart_match), (view_miss, cart_miss) = _rates(match), _rates(miss)
    assert view_match > 1.5 * view_miss
    assert cart_match > 2 * cart_miss
    # near misses are shown and sometimes clicked, but rarely bought
    assert miss["view_cl_cnt"].sum() > 0


# --- reviews, QA, support ----------------------------------------------------------------------

def test_no_single_word_gives_the_rating_away(full: dict[str, pd.DataFrame]) -> None:
    counts: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for text, rating in zip(full["reviews"]["text"], full["reviews"]["rating"], strict=True):
        for word in set(re.findall(r"\w+", text.lower())):
            counts[word][rating] += 1
    frequent = {w: c for w, c in counts.items() if sum(c.values()) >= 30}
    assert len(frequent) > 200
    worst = max(frequent, key=lambda w: frequent[w].most_common(1)[0][1] / sum(frequent[w].values()))
    share = frequent[worst].most_common(1)[0][1] / sum(frequent[worst].values())
    assert share < 0.8, (worst, dict(frequent[worst]))


def test_review_polarity_follows_rating(full: dict[str, pd.DataFrame]) -> None:
    reviews = full["reviews"]
    negative = reviews["text"].str.contains(r"не рекомендую|возврат|разочаров|брак|ужас", case=False, regex=True)
    assert negative[reviews["rating"] <= 2].mean() > 2 * negative[reviews["rating"] >= 4].mean()
    small = reviews[reviews["reason"] == "маломерит"]
    assert len(small) > 20
    assert small["text"].str.contains(r"мал|тесн|впритык|размер больше|притык|не налез", case=False, regex=True).mean() > 0.9


def test_answers_are_grounded_in_characteristics(full: dict[str, pd.DataFrame], products: pd.DataFrame) -> None:
    qa = full["product_qa"].merge(products[["nmid", "chars"]], on="nmid")
    material = qa[qa["question"].str.contains(r"из чего|состав|материал", case=False, regex=True)]
    assert len(material) > 50
    for answer, chars in zip(material["answer"], material["chars"], strict=True):
        values = chars.get("Состав") or chars.get("Материал верха") or chars.get("Металл") or chars.get("Материал") or []
        norm = answer.lower().replace("ё", "е")
        assert any(v.lower().replace("ё", "е") in norm for v in values), (answer, values)
    height = qa[qa["question"].str.contains(r"рост", case=False)]
    assert len(height) > 10
    for answer, chars in zip(height["answer"], height["chars"], strict=True):
        assert any(re.search(rf"\b{re.escape(s)}\b", answer) for s in chars["Размер"]), (answer, chars["Размер"])


def test_support_questions(full: dict[str, pd.DataFrame]) -> None:
    support = full["support"]
    assert support["intent"].nunique() >= 10
    assert (support.groupby("fact_id").size() == DEFAULT.questions_per_fact).all()
    assert (support.groupby("fact_id")["question"].nunique() == DEFAULT.questions_per_fact).all()
    assert (support.groupby("fact_id")["fact"].nunique() == 1).all()
    assert (support.groupby("intent")["fact_id"].nunique() >= 2).all()
    words = support["question"].str.split().str.len()
    assert (words <= 5).mean() > 0.15
    assert (words >= 12).mean() > 0.1
    sentences = support.drop_duplicates("fact_id")["fact"].str.count(r"[.!?](?:\s|$)")
    assert sentences.between(1, 3).all()


def test_too_many_support_facts_is_an_error() -> None:
    with pytest.raises(ValueError, match="n_support_facts"):
        generate_corpus(TINY.model_copy(update={"n_support_facts": 10_000}), seed=1)


# --- give-aways (issue 12) ---------------------------------------------------------------------

def test_text_tokens_see_punctuation_runs() -> None:
    assert text_tokens("Отлично!!))) Рекомендую") == {"отлично", "!!)))", ")))", "!!", "рекомендую"}
    assert is_punctuation("(((") and not is_punctuation("брак")


def test_find_cues_flags_a_planted_smiley_corpus() -> None:
    rnd = np.random.default_rng(0)
    words = [f"слово{i}" for i in range(40)]
    labels = [int(x) for x in rnd.integers(1, 6, size=600)]
    texts = [" ".join(rnd.choice(words, size=6)) for _ in labels]
    assert find_cues(texts, labels) == []  # words drawn independently of the label
    planted = [t + ")))" if label >= 4 and rnd.random() < 0.15 else t for t, label in zip(texts, labels, strict=True)]
    polarity = [label >= 4 for label in labels]
    cues = find_cues(planted, polarity)
    assert [(c.token, c.label) for c in cues] == [(")))", True)]
    assert cues[0].precision == 1.0 and cues[0].coverage >= 0.05


def test_find_cues_flags_smileys_planted_in_the_real_reviews(full: dict[str, pd.DataFrame]) -> None:
    reviews = full["reviews"]
    rnd = np.random.default_rng(1)
    texts = [t.rstrip(".!") + ")))" if r >= 4 and rnd.random() < 0.15 else t
             for t, r in zip(reviews["text"], reviews["rating"], strict=True)]
    kept = reviews["rating"] != 3
    cues = find_cues([t for t, k in zip(texts, kept, strict=True) if k], reviews.loc[kept, "rating"] >= 4)
    assert ")))" in {c.token for c in cues}, format_cues(cues)


def test_find_cues_thresholds() -> None:
    texts = ["редкое слово"] * 6 + ["обычный текст"] * 190
    labels = ["a"] * 6 + ["a", "b"] * 95  # the rare words: 6 of label a's 101 texts
    assert find_cues(texts, labels, min_support=MIN_SUPPORT) == []
    assert [c.token for c in find_cues(texts, labels, min_support=5)] == ["редкое", "слово"]
    with pytest.raises(ValueError, match="texts but"):
        find_cues(["a"], [])


@pytest.fixture(scope="module")
def default_params() -> Params:
    return load_params()


@pytest.fixture(scope="module")
def default_corpus(default_params: Params) -> dict[str, pd.DataFrame]:
    """The corpus of the default run (params.yaml), with the product-question mention record."""
    return generate_corpus(default_params.corpus, default_params.seed, record_mentions=True)


# Model words the generator draws for goods of any category; brand-specific lines (iPhone,
# Redmi) name the product type the way a noun does and are not judged.
GENERIC_MODEL_WORDS = {w.lower() for w in CODE_PREFIXES + LINES}


def _brand_judge(brands: pd.Series, labels: list[str]) -> Callable[[str], bool]:
    """Punctuation, generic model words, and the words of brands whose own range spans labels
    (no label holds 90% of the brand's cards): a brand that sells one category only (Apple)
    says the category as the product noun does, but a brand that sells several must not mark
    one of them in the titles."""
    by_brand: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for brand, label in zip(brands, labels, strict=True):
        by_brand[brand][label] += 1
    judged = set(GENERIC_MODEL_WORDS)
    for brand, counts in by_brand.items():
        if brand != NO_BRAND and counts.most_common(1)[0][1] / sum(counts.values()) < 0.9:
            judged |= text_tokens(brand)
    return lambda token: is_punctuation(token) or token in judged


def _classification_sets(
    corpus: dict[str, pd.DataFrame], params: Params
) -> dict[str, tuple[list[str], list, Callable[[str], bool] | None]]:
    """(texts, labels, judge) of every classification benchmark, built from the raw tables the
    way the benchmarks stage builds them (train and test together)."""
    rules = params.benchmarks
    reviews, support = corpus["reviews"], corpus["support"]
    polar = reviews[(reviews["rating"] >= rules.review_polarity.positive_min_rating)
                    | (reviews["rating"] <= rules.review_polarity.negative_max_rating)]
    short = support[support["question"].str.split().str.len() <= rules.support_short_max_words]
    cards = corpus["cards"].drop_duplicates("nmid")
    cards = cards[~cards["isdeleted"] & ~cards["isadult"]]
    gender = [", ".join(json.loads(c).get("Пол", [])) for c in cards["aggregated_charc_values"]]
    gendered = [g != "" for g in gender]
    return {
        "WBReviewsClassification": (list(reviews["text"]), list(reviews["rating"]), None),
        "WBReviewsPolarityClassification": (
            list(polar["text"]), list(polar["rating"] >= rules.review_polarity.positive_min_rating), None),
        "WBReviewsSummarizationClassification": (list(reviews["text"]), list(reviews["reason"]), None),
        "WBQASupportShort": (list(short["question"]), list(short["intent"]), None),
        "WBGoodsCategoriesClassification": (
            list(cards["title"]), list(cards["parentname"]), _brand_judge(cards["brandname"], list(cards["parentname"]))),
        "WBGenderClassification": (
            list(cards["title"][gendered]), [g for g in gender if g],
            _brand_judge(cards["brandname"][gendered], [g for g in gender if g])),
    }


BENCHMARKS = ("WBReviewsClassification", "WBReviewsPolarityClassification", "WBReviewsSummarizationClassification",
              "WBQASupportShort", "WBGoodsCategoriesClassification", "WBGenderClassification")


@pytest.mark.parametrize("benchmark", BENCHMARKS)
@pytest.mark.parametrize("corpus", ["default_corpus", "full"])
def test_no_token_gives_a_label_away(benchmark: str, corpus: str, default_params: Params,
                                    request: pytest.FixtureRequest) -> None:
    # Every token and punctuation run of review and support texts; for titles only punctuation,
    # generic model words and brands (the product noun and "женские" are what the label is).
    texts, labels, judge = _classification_sets(request.getfixturevalue(corpus), default_params)[benchmark]
    assert len(texts) >= 150
    cues = find_cues(texts, labels, judge=judge)
    assert not cues, f"{benchmark}: {len(cues)} give-away token(s):\n{format_cues(cues)}"


def test_product_questions_name_their_product(default_corpus: dict[str, pd.DataFrame]) -> None:
    qa, record = default_corpus["product_qa"], default_corpus["product_qa_mentions"]
    assert list(record.columns) == ["qa_id", "nmid", "field", "value"]
    assert set(record["field"]) <= set(MENTION_FIELDS)
    assert {"type", "brand", "model", "size", "colour"} <= set(record["field"])
    assert set(record["qa_id"]) <= set(qa["qa_id"])
    assert qa["qa_id"].isin(record["qa_id"]).mean() >= 0.8
    # the record is what the question says (a typo may have hit the value)
    said = dict(zip(qa["qa_id"], qa["question"].str.lower().str.replace("ё", "е"), strict=True))
    stems = [v.lower().replace("ё", "е")[: max(3, len(v) - 2)] for v in record["value"]]
    found = np.mean([stem in said[i] for i, stem in zip(record["qa_id"], stems, strict=True)])
    assert found >= 0.95
    # and it is of the question's own product
    nmid_of = dict(zip(qa["qa_id"], qa["nmid"], strict=True))
    assert (record["nmid"] == record["qa_id"].map(nmid_of)).all()


def test_mention_record_leaves_the_raw_tables_alone(tiny: dict[str, pd.DataFrame]) -> None:
    with_record = generate_corpus(TINY, seed=7, record_mentions=True)
    assert set(with_record) == {*tiny, "product_qa_mentions"}
    for name, frame in tiny.items():
        pd.testing.assert_frame_equal(frame, with_record[name], check_exact=True)
