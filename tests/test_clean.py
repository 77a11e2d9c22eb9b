"""The clean stage: normalisation, dedupe, filters, the split, and no leakage into training."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rawdata import card, raw_tables

from wb_embedder.clean import TEST, TRAIN, TextNormalizer, clean_tables
from wb_embedder.config import CleanConfig, DataConfig, load_params
from wb_embedder.contract import ContractError


@pytest.fixture
def clean_cfg(repo_root: Path) -> CleanConfig:
    return load_params(repo_root / "params.yaml").clean


def _write_raw(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> DataConfig:
    paths = {}
    for name, frame in tables.items():
        paths[name] = str(tmp_path / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)
    return DataConfig(**paths)


def test_normaliser_strips_html_entities_yo_and_whitespace(clean_cfg: CleanConfig) -> None:
    norm = TextNormalizer(clean_cfg)
    assert norm("  Ёлка<br>зелёная&nbsp;<b>180</b>\u00a0см\t\n ") == "Елка зеленая 180 см"
    assert norm("ＸＬ размер") == "XL размер"  # NFKC folds full-width letters
    keep_yo = TextNormalizer(clean_cfg.model_copy(update={"replace_yo": False, "strip_html": False}))
    assert keep_yo("Ёлка <b>x</b>") == "Ёлка <b>x</b>"
    lower = TextNormalizer(clean_cfg.model_copy(update={"lowercase": True}))
    assert lower("Nike Air") == "nike air"


def test_duplicate_deleted_and_adult_cards(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=10)
    extra = [
        card(900_001, "кроссовки дубль", title="Кроссовки модель 1", description="Удобная модель на каждый день."),
        card(900_002, "удаленный", deleted=True),
        card(900_003, "для взрослых", adult=True, parent="Для взрослых"),
    ]
    # 900_001 duplicates card 100_001's title and description: its rows merge into 100_001.
    tables["cards"] = pd.concat([tables["cards"], pd.DataFrame(extra)], ignore_index=True)
    tables["cards"].loc[tables["cards"]["nmid"] == 100_001, "title"] = "Кроссовки модель 1"
    tables["reviews"] = pd.concat(
        [tables["reviews"], pd.DataFrame([{"review_id": 99, "nmid": 900_001, "text": "дубль хорош", "rating": 5,
                                            "reason": "хорошее качество"},
                                           {"review_id": 98, "nmid": 900_002, "text": "удален", "rating": 1,
                                            "reason": "брак"}])],
        ignore_index=True,
    )
    out, stats = clean_tables(_write_raw(tmp_path, tables), clean_cfg)
    products = out["products"]
    assert set(products["nmid"]).isdisjoint({900_001, 900_002, 900_003})
    assert stats["products"]["dropped"] == {"adult_card": 1, "deleted_card": 1, "duplicate_card": 1}
    assert stats["products"]["rows_out"] == len(products) == 10
    log = out["search_log"]
    # The duplicate's only query follows it to the card it was merged into.
    assert "кроссовки дубль" in set(log.loc[log["nmid"] == 100_001, "query"])
    reviews = out["reviews"]
    assert 100_001 in set(reviews.loc[reviews["text"] == "дубль хорош", "nmid"])
    assert stats["reviews"]["dropped"] == {"product_missing_or_dropped": 1}
    assert products.loc[products["nmid"] == 100_001, "gender"].item() == "Женский"
    assert json.loads(products["characteristics"].iat[0])["Состав"] == ["текстиль"]


def test_split_is_deterministic_and_near_the_configured_fraction(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    data = _write_raw(tmp_path, raw_tables(n_products=400))
    first, _ = clean_tables(data, clean_cfg)
    second, _ = clean_tables(data, clean_cfg)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    share = (first["products"]["split"] == TEST).mean()
    assert abs(share - clean_cfg.test_fraction) < 0.06
    other_salt, _ = clean_tables(data, clean_cfg.model_copy(update={"split_salt": "another"}))
    assert not first["products"]["split"].equals(other_salt["products"]["split"])


def assert_no_leakage(tables: dict[str, pd.DataFrame]) -> None:
    """No evaluation product, query, review, question or fact reaches the training split."""
    products = tables["products"]
    test_ids = set(products.loc[products["split"] == TEST, "nmid"])
    assert test_ids, "no test products at all"
    for name, columns in {
        "products": ["title"],
        "search_log": ["query"],
        "reviews": ["text"],
        "product_qa": ["question"],
        "support": ["question", "fact"],
    }.items():
        frame = tables[name]
        train, test = frame[frame["split"] == TRAIN], frame[frame["split"] == TEST]
        assert len(test) and len(train), name
        for column in columns:
            overlap = set(train[column].str.lower()) & set(test[column].str.lower())
            assert not overlap, f"{name}.{column}: test texts in train: {sorted(overlap)[:3]}"
        if "nmid" in frame and name != "products":
            assert not set(train["nmid"]) & test_ids, f"{name}: train rows point at test products"
            assert set(test["nmid"]) <= test_ids, f"{name}: test rows point at train products"


def test_no_leakage_on_adversarial_rows(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=200)
    # One query shown for every product, a review text and a question repeated on every product,
    # and a support question shared by two facts: each must end up on one side only.
    tables["cards"] = pd.concat(
        [tables["cards"], pd.DataFrame([card(100_000 + i, "кроссовки", shows=5, views=1, carts=0)
                                        for i in range(200)])], ignore_index=True)
    tables["reviews"].loc[::2, "text"] = "Все отлично"
    tables["product_qa"].loc[::2, "question"] = "Есть ли размер 40?"
    tables["support"].loc[tables["support"]["fact_id"] < 6, "question"] = "где мой заказ"
    out, stats = clean_tables(_write_raw(tmp_path, tables), clean_cfg)
    assert_no_leakage(out)
    assert stats["reviews"]["dropped"]["test_text_seen_in_train"] > 0
    assert stats["search_log"]["dropped"]["query_product_split_mismatch"] > 0


def _run_clean_stage(tmp_path: Path, repo_root: Path, tables: dict[str, pd.DataFrame]) -> subprocess.CompletedProcess:
    """The clean stage script on ``tables`` written as CSV under raw/, in a project at ``tmp_path``."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, frame in tables.items():
        frame.to_csv(raw / f"{name}.csv", index=False)
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    params["data"] = {name: f"raw/{name}.csv" for name in tables}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, str(repo_root / "stages" / "clean.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_stage_failure_names_file_row_column_and_writes_nothing(tmp_path: Path, repo_root: Path) -> None:
    tables = raw_tables(n_products=20)
    tables["cards"] = tables["cards"].astype({"cart_cl_cnt": object})
    tables["cards"].loc[4, "cart_cl_cnt"] = 99
    result = _run_clean_stage(tmp_path, repo_root, tables)
    assert result.returncode == 1
    assert "raw/cards.csv: row 5, column 'cart_cl_cnt': cart_cl_cnt (99) > view_cl_cnt" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "clean").exists()
    assert not (tmp_path / "data" / "stats").exists()


def test_header_only_table_stops_the_stage_naming_the_file(tmp_path: Path, repo_root: Path) -> None:
    tables = raw_tables(n_products=20)
    tables["product_qa"] = tables["product_qa"].iloc[:0]
    result = _run_clean_stage(tmp_path, repo_root, tables)
    assert result.returncode == 1
    assert "raw/product_qa.csv: no data rows (header only)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "clean").exists()


def test_a_table_too_small_for_the_benchmarks_names_its_file(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=40)
    # One valid review: it lands in one split, so either training or the review benchmarks get none.
    tables["reviews"] = tables["reviews"].iloc[:1]
    data = _write_raw(tmp_path, tables)
    with pytest.raises(ContractError, match=rf"{re.escape(data.reviews)}: too few rows to build the benchmarks: "
                                            r"after cleaning, reviews has 1 rows and none in the (train|test) split"):
        clean_tables(data, clean_cfg)
