"""The clean stage: normalisation, dedupe, filters, the split, and no leakage into training."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rawdata import card, raw_tables

from wb_embedder.clean import TextNormalizer, clean_tables, product_families
from wb_embedder.config import CleanConfig, DataConfig, load_params
from wb_embedder.contract import ContractError
from wb_embedder.splits import DEV, SPLITS, TEST, TRAIN, assign_splits


@pytest.fixture
def clean_cfg(repo_root: Path) -> CleanConfig:
    return load_params(repo_root / "params.yaml").clean


def _write_raw(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> DataConfig:
    """``tables`` as Parquet files under ``tmp_path``; a raw table not given is left out (null)."""
    paths: dict[str, str | None] = {name: None for name in ("reviews", "product_qa", "support")}
    for name, frame in tables.items():
        paths[name] = str(tmp_path / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)
    return DataConfig(folder=str(tmp_path), **paths)


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
    assert stats["reviews"]["dropped"] == {"product_dropped": 1}  # its card was dropped as deleted
    assert stats["reviews"]["dropped_by_column"] == {"product_dropped": {"nmid": 1}}
    assert products.loc[products["nmid"] == 100_001, "gender"].item() == "Женский"
    assert json.loads(products["characteristics"].iat[0])["Состав"] == ["текстиль"]


def test_split_is_deterministic_and_near_the_configured_fraction(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    data = _write_raw(tmp_path, raw_tables(n_products=400))
    first, _ = clean_tables(data, clean_cfg)
    second, _ = clean_tables(data, clean_cfg)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    shares = first["products"]["split"].value_counts(normalize=True)
    assert abs(shares[TEST] - clean_cfg.test_fraction) < 0.08
    assert abs(shares[DEV] - clean_cfg.dev_fraction) < 0.08
    assert set(shares.index) == set(SPLITS)
    other_salt, _ = clean_tables(data, clean_cfg.model_copy(update={"split_salt": "another"}))
    assert not first["products"]["split"].equals(other_salt["products"]["split"])


def assert_no_leakage(tables: dict[str, pd.DataFrame]) -> None:
    """The three splits are disjoint: no product, query, review, question or fact of one split
    appears in another (so no dev or test item reaches training, and dev and test never share)."""
    products = tables["products"]
    ids = {split: set(products.loc[products["split"] == split, "nmid"]) for split in SPLITS}
    assert all(ids.values()), f"a split has no products: { {s: len(v) for s, v in ids.items()} }"
    for name, columns in {
        "products": ["title"],
        "search_log": ["query"],
        "reviews": ["text"],
        "product_qa": ["question"],
        "support": ["question", "fact"],
    }.items():
        frame = tables[name]
        parts = {split: frame[frame["split"] == split] for split in SPLITS}
        assert all(len(part) for part in parts.values()), name
        for i, first in enumerate(SPLITS):
            for second in SPLITS[i + 1:]:
                for column in columns:
                    overlap = set(parts[first][column].str.lower()) & set(parts[second][column].str.lower())
                    assert not overlap, f"{name}.{column}: {second} texts in {first}: {sorted(overlap)[:3]}"
        if "nmid" in frame and name != "products":
            for split in SPLITS:
                assert set(parts[split]["nmid"]) <= ids[split], f"{name}: {split} rows point at other splits' products"


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
    dropped = stats["reviews"]["dropped"]
    assert dropped["test_text_seen_in_train"] > 0 and dropped["dev_text_seen_in_train"] > 0
    assert stats["search_log"]["dropped"]["query_product_split_mismatch"] > 0


def _run_clean_stage(tmp_path: Path, repo_root: Path, tables: dict[str, pd.DataFrame]) -> subprocess.CompletedProcess:
    """The clean stage script on ``tables`` written as CSV under raw/, in a project at ``tmp_path``."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, frame in tables.items():
        frame.to_csv(raw / f"{name}.csv", index=False)
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    params["data"] = {"folder": "raw", "reviews": None, "product_qa": None, "support": None,
                      **{name: f"raw/{name}.csv" for name in tables}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, str(repo_root / "stages" / "clean.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_stage_failure_names_file_row_column_and_writes_only_its_stats(tmp_path: Path, repo_root: Path) -> None:
    tables = raw_tables(n_products=20)
    tables["cards"] = tables["cards"].astype({"cart_cl_cnt": object})
    tables["cards"].loc[4, "cart_cl_cnt"] = 99
    result = _run_clean_stage(tmp_path, repo_root, tables)
    assert result.returncode == 1
    message = "raw/cards.csv: row 5, column 'cart_cl_cnt': cart_cl_cnt (99) > view_cl_cnt"
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "clean").exists()
    # clean.json says what was read and why the stage failed: the user has something to read.
    stats = json.loads((tmp_path / "data" / "stats" / "clean.json").read_text(encoding="utf-8"))
    assert message in stats["failed"] and stats["contract"]["cards"] == {"file": "raw/cards.csv"}
    assert not list((tmp_path / "data" / "stats").glob(".*"))  # written atomically: no temporary left


def test_header_only_table_stops_the_stage_naming_the_file(tmp_path: Path, repo_root: Path) -> None:
    tables = raw_tables(n_products=20)
    tables["product_qa"] = tables["product_qa"].iloc[:0]
    result = _run_clean_stage(tmp_path, repo_root, tables)
    assert result.returncode == 1
    assert "raw/product_qa.csv: no data rows (header only)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "clean").exists()


def test_a_split_left_empty_is_named_with_the_rule_that_emptied_it(
    tmp_path: Path, clean_cfg: CleanConfig, caplog: pytest.LogCaptureFixture
) -> None:
    tables = raw_tables(n_products=40)
    # One valid review: it lands in one split, so either training or the review benchmarks get none.
    tables["reviews"] = tables["reviews"].iloc[:1]
    data = _write_raw(tmp_path, tables)
    with caplog.at_level(logging.WARNING, logger="wb_embedder.clean"):
        _, stats = clean_tables(data, clean_cfg)
    (line,) = [w for w in stats["warnings"] if "reviews has 1 rows" in w]
    assert line.startswith(f"{data.reviews}: reviews has 1 rows after cleaning and none in the ")
    assert "a review follows its product's split" in line and line in caplog.messages
    # Products are what every split is built from: a split without any stops the stage, saying why.
    (tmp_path / "one").mkdir()
    one_card = _write_raw(tmp_path / "one", {"cards": tables["cards"][tables["cards"]["nmid"] == 100_000]})
    with pytest.raises(ContractError, match=r"cards.parquet: too few products to split: after cleaning, products has "
                                            r"1 rows \(1 families\) and none in the \w+ or \w+ split \(products are split"):
        clean_tables(one_card, clean_cfg)


def test_queries_of_every_split_land_in_train_and_the_warning_says_why(
    tmp_path: Path, clean_cfg: CleanConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """One honest query per product, the catalog page it was listed on: a category-wide query is
    shown with products of every split, goes where most of its shows went, and the dev and test
    splits of the search log are left without rows: the warning names the rule."""
    tables = raw_tables(n_products=60)
    cards = tables["cards"].drop_duplicates("nmid").copy()
    cards["query"] = "кроссовки"
    tables["cards"] = cards
    data = _write_raw(tmp_path, tables)
    with caplog.at_level(logging.WARNING, logger="wb_embedder.clean"):
        out, stats = clean_tables(data, clean_cfg)
    assert set(out["search_log"]["split"]) == {"train"}
    (line,) = [w for w in stats["warnings"] if "search_log has" in w]
    assert line.startswith(f"{data.cards}: search_log has ") and "of 1 queries" in line
    assert "none in the dev or test split" in line and "where most of its shows went" in line
    assert line in caplog.messages
    # ... and the rows it dropped to get there are a rule of their own, above the warning share.
    assert any("rule query_product_split_mismatch dropped" in w and "column 'query'" in w for w in stats["warnings"])


def test_splits_hash_test_first_so_dev_is_carved_from_train() -> None:
    keys = [f"k{i}" for i in range(2000)]
    without_dev = assign_splits(keys, 0.0, 0.2, "salt")
    with_dev = assign_splits(keys, 0.2, 0.2, "salt")
    assert ((without_dev == TEST) == (with_dev == TEST)).all()
    assert set(with_dev[without_dev == TRAIN]) == {TRAIN, DEV}
    with pytest.raises(ValueError, match="leave a training share"):
        assign_splits(keys, 0.5, 0.5, "salt")


def test_near_copy_products_are_one_family_and_one_split(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=120)
    description = ("Легкие беговые кроссовки с дышащим верхом из сетки, амортизирующей подошвой и "
                   "усиленным задником для долгих тренировок и прогулок по городу. Стелька повторяет форму "
                   "стопы, шнуровка держит ногу, а светоотражающие вставки видны в темноте.")
    # One description template under 30 titles that differ by colour: a family the title rule misses.
    family = [card(700_000 + i, f"кроссовки беговые {i}", title=f"Кроссовки беговые, цвет {i}",
                   description=description) for i in range(30)]
    tables["cards"] = pd.concat([tables["cards"], pd.DataFrame(family)], ignore_index=True)
    out, stats = clean_tables(_write_raw(tmp_path, tables), clean_cfg)
    products = out["products"]
    members = products[products["nmid"].between(700_000, 700_029)]
    assert len(members) == 30
    assert members["split"].nunique() == 1, members["split"].value_counts()
    families = product_families(products, clean_cfg)
    assert families[members.index].nunique() == 1
    assert stats["products"]["products_in_shared_families"] >= 30
    # With a threshold above their similarity (~0.87) the near-copy rule no longer joins them,
    # the 30 titles would scatter over the splits: the grouping is what keeps them together.
    loose = clean_cfg.model_copy(update={"near_duplicates": clean_cfg.near_duplicates.model_copy(update={"threshold": 0.95})})
    scattered, _ = clean_tables(_write_raw(tmp_path, tables), loose)
    loose_members = scattered["products"][scattered["products"]["nmid"].between(700_000, 700_029)]
    assert loose_members["split"].nunique() > 1


# --------------------------------------------------------------------------- rules checked again after cleaning


def _policies(cfg: CleanConfig, **rules: str) -> CleanConfig:
    return cfg.model_copy(update={"on_bad_rows": cfg.on_bad_rows.model_copy(update=rules)})


# Texts that are not empty as written, but hold nothing once markup, entities and invisible
# characters are gone.
EMPTY_ONCE_CLEANED = ["<br>", "&nbsp;", "<p></p>", "\u200b", "\u2060\ufeff\u200c\u2060", " <b> </b> &#8203; "]


def test_text_empty_only_after_cleaning_is_dropped_and_counted(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=60)
    cards = tables["cards"]
    for i, text in enumerate(EMPTY_ONCE_CLEANED):
        cards.loc[cards["nmid"] == 100_010 + i, "title"] = text  # both query rows of each card
    tables["support"].loc[3, "question"] = "<br/>"
    tables["reviews"].loc[[5, 6], "text"] = ["&nbsp;&nbsp;", "\ufeff"]
    tables["product_qa"].loc[7, "question"] = "<p>&#x200B;</p>"
    tables["product_qa"].loc[8, "answer"] = "<p>&#x200B;</p>"  # an answer may be empty: a question kept
    out, stats = clean_tables(_write_raw(tmp_path, tables), _policies(clean_cfg, empty_text="drop"))
    contract = stats["contract"]
    assert contract["cards"]["dropped"] == {"empty_text": 2 * len(EMPTY_ONCE_CLEANED)}
    assert contract["cards"]["dropped_by_column"] == {"empty_text": {"title": 2 * len(EMPTY_ONCE_CLEANED)}}
    assert contract["support"]["dropped"] == {"empty_text": 1}
    # The reviews and questions of the six cards dropped: unknown products, saying why.
    assert contract["reviews"]["dropped"] == {"empty_text": 2, "unknown_product": len(EMPTY_ONCE_CLEANED)}
    assert contract["reviews"]["examples"]["unknown_product"] == (
        f"row 11, column 'nmid': nmid 100010 is in no card of {tmp_path / 'cards.parquet'} "
        "(its card rows were dropped as bad rows)")
    assert contract["product_qa"]["dropped"] == {"empty_text": 1, "unknown_product": len(EMPTY_ONCE_CLEANED)}
    assert contract["product_qa"]["dropped_by_column"] == {"empty_text": {"question": 1},
                                                           "unknown_product": {"nmid": len(EMPTY_ONCE_CLEANED)}}
    assert (out["product_qa"]["answer"] == "").sum() == 1
    for name, columns in {"products": ["title"], "support": ["question"], "reviews": ["text"],
                          "product_qa": ["question"]}.items():
        for column in columns:
            assert (out[name][column].str.strip() != "").all(), (name, column)
    assert not set(out["products"]["nmid"]) & {100_010 + i for i in range(len(EMPTY_ONCE_CLEANED))}


def test_text_empty_after_cleaning_is_an_error_naming_file_row_and_column(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    tables = raw_tables(n_products=20)
    tables["reviews"].loc[4, "text"] = "<p></p>"
    data = _write_raw(tmp_path, tables)
    with pytest.raises(ContractError) as err:
        clean_tables(data, _policies(clean_cfg, empty_text="error"))
    message = str(err.value)
    assert f"{data.reviews}: row 5, column 'text': empty once cleaned ('<p></p>') [empty_text]" in message
    assert "clean.on_bad_rows.empty_text: drop" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [("Отзыв&#0;хороший", "U+FFFD"), ("Отзыв &#x202E;йынзерп", "U+202E"), ("Отзыв \u202eйынзерп", "U+202E"),
     ("Отзыв &#xD800; тут", "U+FFFD")],
)
def test_characters_that_unescaping_makes_undecodable_or_bidi_are_a_bad_encoding(
    tmp_path: Path, clean_cfg: CleanConfig, text: str, named: str
) -> None:
    """`&#0;` unescapes to U+FFFD and `&#x202E;` to a right-to-left override, after the raw text
    passed validation."""
    tables = raw_tables(n_products=20)
    tables["reviews"].loc[2, "text"] = text
    data = _write_raw(tmp_path, tables)
    with pytest.raises(ContractError) as err:
        clean_tables(data, _policies(clean_cfg, bad_encoding="error"))
    message = str(err.value)
    assert f"{data.reviews}: row 3, column 'text':" in message and named in message and "[bad_encoding]" in message
    out, stats = clean_tables(data, _policies(clean_cfg, bad_encoding="drop"))
    assert stats["contract"]["reviews"]["dropped"] == {"bad_encoding": 1}
    for column in ("text", "reason"):
        assert not out["reviews"][column].str.contains("[\ufffd\u202a-\u202e\u2066-\u2069]").any()


def test_zero_width_characters_inside_a_text_are_removed() -> None:
    from wb_embedder.config import load_params

    norm = TextNormalizer(load_params(Path(__file__).parents[1] / "params.yaml").clean)
    assert norm("Ni\u200bke Air\u2060Max\ufeff") == "Nike AirMax"
    assert norm("Nike&#8203;Air") == "NikeAir"


def test_nfd_and_nfc_forms_are_one_key(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    """«й» / «ё» typed as a letter plus a combining mark (NFD) and as one letter (NFC) are the same
    text: the second row is a duplicate of the first, found and counted."""
    import unicodedata

    tables = raw_tables(n_products=20)
    support = tables["support"]
    question = "где мой заказ и её чек"
    support.loc[0, "question"] = unicodedata.normalize("NFC", question)
    support.loc[1, "question"] = unicodedata.normalize("NFD", question)
    assert support.loc[0, "question"] != support.loc[1, "question"]
    data = _write_raw(tmp_path, tables)
    out, stats = clean_tables(data, _policies(clean_cfg, duplicate_key="drop"))
    assert stats["contract"]["support"]["dropped"] == {"duplicate_key": 1}
    kept = out["support"][out["support"]["fact_id"] == 0]
    assert not kept.duplicated(["fact_id", "question"]).any() and len(kept) == 2
    with pytest.raises(ContractError, match=re.escape(f"{data.support}: row 2, column 'fact_id+question': same key as row 1")):
        clean_tables(data, _policies(clean_cfg, duplicate_key="error"))
    # Any text a key holds is compared in that form: cards' queries and products' titles too.
    tables = raw_tables(n_products=20)
    cards = tables["cards"]
    cards.loc[1, "query"] = unicodedata.normalize("NFD", "обувь йога")
    cards.loc[0, "query"] = unicodedata.normalize("NFC", "обувь йога")
    assert cards.loc[0, "nmid"] == cards.loc[1, "nmid"]
    _, stats = clean_tables(_write_raw(tmp_path, tables), _policies(clean_cfg, duplicate_key="drop"))
    assert stats["contract"]["cards"]["dropped"] == {"duplicate_key": 1}


def test_one_nmid_with_two_different_cards_is_a_key_conflict(tmp_path: Path, clean_cfg: CleanConfig) -> None:
    """The dump repeats a card's fields on each of its query rows; where they disagree, keeping
    the first silently discarded the other."""
    tables = raw_tables(n_products=20)
    cards = tables["cards"]
    rows = cards.index[cards["nmid"] == 100_003].tolist()
    cards.loc[rows[1], "title"] = "Совсем другой товар"
    # A difference that cleaning removes (markup, NFD) is the same card, no conflict.
    other = cards.index[cards["nmid"] == 100_004].tolist()
    cards.loc[other[1], "title"] = cards.loc[other[0], "title"].replace(" ", "&nbsp;<b></b>", 1)
    data = _write_raw(tmp_path, tables)
    with pytest.raises(ContractError) as err:
        clean_tables(data, _policies(clean_cfg, key_conflict="error"))
    message = str(err.value)
    assert f"{data.cards}: row {rows[1] + 1}, column 'title': nmid 100003 has another title on row {rows[0] + 1}" in message
    assert "[key_conflict]" in message and "clean.on_bad_rows.key_conflict: drop" in message
    out, stats = clean_tables(data, _policies(clean_cfg, key_conflict="drop"))
    assert stats["contract"]["cards"]["dropped"] == {"key_conflict": 1}
    products = out["products"].set_index("nmid")
    assert products.loc[100_003, "title"] == cards.loc[rows[0], "title"]
    assert products.loc[100_004, "title"] == cards.loc[other[0], "title"]
    # A support fact under one id with two texts is the same kind of conflict.
    tables = raw_tables(n_products=20)
    tables["support"].loc[4, "fact"] = "Другой факт."
    _, stats = clean_tables(_write_raw(tmp_path, tables), _policies(clean_cfg, key_conflict="drop"))
    assert stats["contract"]["support"]["dropped"] == {"key_conflict": 1}
