"""The leakage audit: it passes on clean data and fails, naming the benchmark and its share, on a
planted near-copy, a planted brand and a split product family."""

from __future__ import annotations

import pandas as pd
import pytest

from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import SPECS, Benchmark, ClassificationSet, RetrievalSet
from wb_embedder.leakage.audit import audit
from wb_embedder.leakage.schema import LeakageConfig
from wb_embedder.near_duplicates import has_near_duplicate, near_duplicate_groups

LIMITS = LeakageConfig(max_near_duplicate_share=0.05, max_brand_leak_share=0.0, max_split_family_share=0.0,
                       max_real_near_duplicate_share=0.0)
REVIEWS = [
    "Кроссовки сели по размеру, подошва мягкая, за месяц носки ничего не отклеилось, рекомендую",
    "Платье пришло мятое, ткань тонкая и просвечивает, в талии маломерит на размер, вернула",
    "Чайник закипает быстро, крышка открывается кнопкой, пластиком не пахнет, пользуемся каждый день",
    "Рюкзак вместительный, ноутбук влезает, лямки широкие и не давят на плечи даже с грузом",
]


@pytest.fixture(scope="module")
def clean_cfg(repo_root):
    return load_params(repo_root / "params.yaml").clean


def _classification(test_texts: list[str]) -> Benchmark:
    test = pd.DataFrame({"text": test_texts, "label": ["a"] * len(test_texts)})
    return Benchmark(SPECS["WBReviewsClassification"], classification=ClassificationSet(test, test))


def _brand_benchmark(variants: list[str]) -> Benchmark:
    queries = pd.DataFrame({"query_id": range(len(variants)), "text": variants})
    corpus = pd.DataFrame({"doc_id": [0], "text": ["Adidas"]})
    qrels = pd.DataFrame({"query_id": range(len(variants)), "doc_id": [0] * len(variants), "score": [1] * len(variants)})
    excluded = pd.DataFrame({"query_id": pd.Series(dtype="int64"), "doc_id": pd.Series(dtype="int64")})
    return Benchmark(SPECS["WBBrandSyns"], retrieval={"": RetrievalSet(queries, corpus, qrels, excluded)})


def _products(splits: list[str], titles: list[str]) -> pd.DataFrame:
    blank = [""] * len(titles)
    return pd.DataFrame({"nmid": range(1, len(titles) + 1), "title": titles, "brandname": blank,
                         "subjectname": blank, "characteristics_text": blank, "description": blank, "split": splits})


SYNONYMS = pd.DataFrame({"brand": ["Adidas", "Adidas", "Puma"], "variant": ["адидас", "addidas", "пума"],
                         "split": ["test", "test", "train"]})
PRODUCTS = _products(["train", "test"], ["Кружка керамическая белая", "Плед шерстяной клетчатый большой"])


def _run(train_texts: list[str], test_reviews: list[str], clean_cfg, products: pd.DataFrame = PRODUCTS):
    by_split = {"dev": {"WBReviewsClassification": _classification(REVIEWS[:1])},
                "test": {"WBReviewsClassification": _classification(test_reviews),
                         "WBBrandSyns": _brand_benchmark(["адидас", "addidas"])}}
    return audit(by_split, train_texts, SYNONYMS, products, clean_cfg, LIMITS)


def test_clean_data_passes(clean_cfg) -> None:
    stats, failures = _run(REVIEWS[2:] + ["кроссовки пума"], REVIEWS[1:2], clean_cfg)
    assert failures == [] and stats["passed"]
    assert stats["brands"]["test"] == {"brands": 1, "mentioned_in_training": [], "share": 0.0}


def test_a_planted_near_copy_fails_naming_the_benchmark_and_share(clean_cfg) -> None:
    near_copy = REVIEWS[1].replace("вернула", "вернула обратно")
    stats, failures = _run([near_copy, *REVIEWS[2:]], REVIEWS[1:2], clean_cfg)
    assert stats["near_copies"]["test"]["WBReviewsClassification"]["share"] == 1.0
    assert len(failures) == 1 and failures[0].startswith("WBReviewsClassification (test): 100.0% of its texts")
    assert "max_near_duplicate_share" in failures[0]


def test_a_planted_brand_fails(clean_cfg) -> None:
    stats, failures = _run([*REVIEWS[2:], "Кроссовки ADDIDAS беговые"], REVIEWS[1:2], clean_cfg)
    assert stats["brands"]["test"]["mentioned_in_training"] == ["Adidas"]
    assert failures == ["WBBrandSyns (test): 100.0% of its brands are mentioned in training texts (Adidas; "
                        "limit leakage.max_brand_leak_share = 0.0)"]


def test_a_split_family_fails(clean_cfg) -> None:
    title = "Кружка керамическая белая с ручкой объемом триста пятьдесят миллилитров для чая и кофе"
    products = _products(["train", "test"], [title, title + " подарочная"])
    stats, failures = _run(REVIEWS[2:], REVIEWS[1:2], clean_cfg, products)
    assert stats["families"]["split_across_train_and_eval"] == 1
    assert failures and failures[0].startswith("products: 100.0% of product families are split")


def test_near_duplicate_rule(clean_cfg) -> None:
    cfg = clean_cfg.near_duplicates
    texts = [REVIEWS[0], REVIEWS[0] + " всем", REVIEWS[1], REVIEWS[2]]
    assert near_duplicate_groups(texts, cfg) == [0, 0, 2, 3]
    assert has_near_duplicate([REVIEWS[0].upper(), REVIEWS[3]], REVIEWS[:2], cfg) == [True, False]
    assert has_near_duplicate(["x"], [], cfg) == [False]
