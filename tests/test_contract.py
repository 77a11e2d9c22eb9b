"""One test per validation rule of the raw-data contract, for both outcomes: error and drop."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from rawdata import raw_tables

from wb_embedder.config import BadRowPolicies
from wb_embedder.contract import REQUIRED, TABLES, ContractError, find_violations, load_table, load_validated

ALL_ERROR = BadRowPolicies(
    wrong_shape="error", wrong_type="error", empty_text="error", bad_encoding="error", duplicate_key="error",
    counter_contradiction="error", out_of_range="error", key_conflict="error", unknown_product="error",
)
ALL_DROP = BadRowPolicies(
    wrong_shape="drop", wrong_type="drop", empty_text="drop", bad_encoding="drop", duplicate_key="drop",
    counter_contradiction="drop", out_of_range="drop", key_conflict="drop", unknown_product="drop",
)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("table", list(TABLES))
def test_valid_tables_load_in_both_formats(tmp_path: Path, table: str, suffix: str) -> None:
    frame = raw_tables()[table]
    typed, dropped = load_table(_write(frame, tmp_path / f"{table}{suffix}"), table, ALL_ERROR)
    assert len(typed) == len(frame)
    assert dropped == {}
    assert list(typed.columns) == list(TABLES[table])


def test_python_literal_characteristics_as_in_the_wildberries_dump(tmp_path: Path) -> None:
    cards = raw_tables()["cards"]
    cards["aggregated_charc_values"] = "{'Пол': ['Мужской'], 'Цвет': ['синий']}"
    cards["colornames_list"] = "['синий']"
    typed, _ = load_table(_write(cards, tmp_path / "cards.csv"), "cards", ALL_ERROR)
    assert typed["aggregated_charc_values"].iat[0] == {"Пол": ["Мужской"], "Цвет": ["синий"]}
    assert typed["colornames_list"].iat[0] == ["синий"]


def test_missing_and_unexpected_columns_name_them(tmp_path: Path) -> None:
    cards = raw_tables()["cards"].drop(columns=["parentname"]).assign(extra_col=1)
    path = _write(cards, tmp_path / "cards.csv")
    with pytest.raises(ContractError) as err:
        load_table(path, "cards", ALL_DROP)
    message = str(err.value)
    assert message.startswith(f"{path}: missing columns ['parentname']; unexpected columns ['extra_col'] "
                              "(the cards contract: required ['nmid', 'title', 'parentname'], optional [")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_optional_columns_may_be_absent_and_read_as_empty(tmp_path: Path, suffix: str) -> None:
    """The minimal dump: cards with an id, a title and a category, reviews with a product, a text
    and stars. What is absent reads as empty: no query, no counters, no characteristics, not
    deleted; reviews numbered by their row."""
    cards = raw_tables()["cards"][["nmid", "title", "parentname"]].drop_duplicates("nmid")
    loaded = load_validated(_write(cards, tmp_path / f"cards{suffix}"), "cards", ALL_ERROR)
    assert loaded.absent == [c for c in TABLES["cards"] if c not in REQUIRED["cards"]]
    typed = loaded.frame
    assert list(typed.columns) == list(TABLES["cards"]) and len(typed) == len(cards)
    assert (typed["query"] == "").all() and (typed["description"] == "").all() and not typed["isdeleted"].any()
    assert typed["aggregated_charc_values"].map(dict.__len__).eq(0).all() and typed["view_cl_cnt"].isna().all()
    reviews = raw_tables()["reviews"][["nmid", "text", "rating"]]
    typed, dropped = load_table(_write(reviews, tmp_path / f"reviews{suffix}"), "reviews", ALL_ERROR)
    assert typed["review_id"].tolist() == list(range(1, len(reviews) + 1)) and (typed["reason"] == "").all()


def test_an_empty_counter_is_unknown_and_contradicts_nothing(tmp_path: Path) -> None:
    cards = raw_tables()["cards"].astype({"view_cl_cnt": object, "show_cl_cnt": object})
    cards.loc[2, "view_cl_cnt"] = ""  # carts 2 > views unknown: no contradiction
    cards.loc[3, "show_cl_cnt"] = None
    typed, dropped = load_table(_write(cards, tmp_path / "cards.csv"), "cards", ALL_ERROR)
    assert dropped == {} and typed["view_cl_cnt"].isna().tolist()[:4] == [False, False, True, False]
    assert typed["show_cl_cnt"].isna().sum() == 1 and typed["cart_cl_cnt"].dtype == "Int64"
    cards.loc[4, "view_cl_cnt"] = "-1"
    with pytest.raises(ContractError, match=r"row 5, column 'view_cl_cnt': -1 is not >= 0 \[out_of_range\]"):
        load_table(_write(cards, tmp_path / "cards.csv"), "cards", ALL_ERROR)


def test_an_empty_optional_table_says_how_to_leave_it_out(tmp_path: Path) -> None:
    path = _write(raw_tables()["support"].iloc[:0], tmp_path / "support.csv")
    with pytest.raises(ContractError, match=re.escape(f"{path}: no data rows (header only): the support table cannot "
                                                      "be empty (to leave the table out, set data.support: null)")):
        load_table(path, "support", ALL_ERROR)


def test_unsupported_file_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cards.xlsx"
    path.write_text("x")
    with pytest.raises(ContractError, match="cards.xlsx: unsupported file type"):
        load_table(path, "cards", ALL_ERROR)


# (table, column, bad value, rule, row index 0-based)
CASES = [
    ("cards", "show_cl_cnt", "много", "wrong_type", 3),
    ("cards", "isdeleted", "maybe", "wrong_type", 4),
    ("cards", "aggregated_charc_values", "{not json", "wrong_type", 5),
    ("cards", "colornames_list", '{"a": 1}', "wrong_type", 6),
    ("reviews", "rating", "5.5", "wrong_type", 2),
    ("cards", "title", "   ", "empty_text", 7),
    ("reviews", "text", "", "empty_text", 3),
    ("support", "question", "", "empty_text", 4),
    ("product_qa", "answer", "Ð\x9aÑ\x80Ð¾ÑÑ", "bad_encoding", 1),
    ("reviews", "text", "РљСЂРѕСЃСЃРѕРІРєРё", "bad_encoding", 5),
    ("cards", "cart_cl_cnt", "999", "counter_contradiction", 8),
    ("cards", "view_cl_cnt", "50", "counter_contradiction", 9),
    ("reviews", "rating", "6", "out_of_range", 6),
    ("cards", "show_cl_cnt", "-1", "out_of_range", 10),
]


def _break(table: str, column: str, value: str, row: int) -> pd.DataFrame:
    frame = raw_tables()[table].astype({column: object})
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(("table", "column", "value", "rule", "row"), CASES)
def test_bad_row_is_an_error_naming_file_row_and_column(
    tmp_path: Path, table: str, column: str, value: str, rule: str, row: int
) -> None:
    path = _write(_break(table, column, value, row), tmp_path / f"{table}.csv")
    with pytest.raises(ContractError) as err:
        load_table(path, table, ALL_ERROR)
    message = str(err.value)
    assert f"{path}: row {row + 1}, column {column!r}" in message
    assert f"[{rule}]" in message
    assert f"clean.on_bad_rows.{rule}: drop" in message


@pytest.mark.parametrize(("table", "column", "value", "rule", "row"), CASES)
def test_bad_row_is_dropped_and_counted_when_params_say_drop(
    tmp_path: Path, table: str, column: str, value: str, rule: str, row: int
) -> None:
    frame = _break(table, column, value, row)
    typed, dropped = load_table(_write(frame, tmp_path / f"{table}.csv"), table, ALL_DROP)
    assert dropped == {rule: 1}
    assert len(typed) == len(frame) - 1


def test_undecodable_bytes_in_csv_are_a_bad_encoding(tmp_path: Path) -> None:
    path = _write(raw_tables()["reviews"], tmp_path / "reviews.csv")
    data = path.read_bytes().replace("Отзыв номер 3:".encode(), b"\xff\xfe bad")
    path.write_bytes(data)
    with pytest.raises(ContractError, match=re.escape(f"{path}: row 4, column 'text'")):
        load_table(path, "reviews", ALL_ERROR)


def test_duplicate_key_names_the_first_occurrence(tmp_path: Path) -> None:
    cards = raw_tables()["cards"]
    cards = pd.concat([cards, cards.iloc[[2]]], ignore_index=True)
    path = _write(cards, tmp_path / "cards.parquet")
    with pytest.raises(ContractError) as err:
        load_table(path, "cards", ALL_ERROR)
    assert f"row {len(cards)}, column 'nmid+query': same key as row 3 [duplicate_key]" in str(err.value)
    _, dropped = load_table(path, "cards", ALL_DROP)
    assert dropped == {"duplicate_key": 1}


def test_non_string_value_in_a_text_column_is_a_wrong_type() -> None:
    # A Parquet column cannot mix types, but an object column read from other sources can.
    reviews = raw_tables()["reviews"].astype({"text": object})
    reviews.loc[0, "text"] = 123
    _, violations = find_violations(reviews, "reviews")
    assert [(v.rule, v.row, v.column) for v in violations] == [("wrong_type", 0, "text")]


# --------------------------------------------------------------------------- hostile input


def test_large_ids_are_exact_and_ids_past_int64_are_named_as_written(tmp_path: Path) -> None:
    reviews = raw_tables()["reviews"].astype({"review_id": object})
    # 2**53 + 1 and 2**53 are one float64: read through floats, a distinct review was a duplicate.
    reviews.loc[0, "review_id"] = "9007199254740993"
    reviews.loc[1, "review_id"] = "9007199254740992"
    typed, dropped = load_table(_write(reviews, tmp_path / "reviews.csv"), "reviews", ALL_ERROR)
    assert dropped == {}
    assert typed["review_id"].tolist()[:2] == [9007199254740993, 9007199254740992]

    reviews.loc[3, "review_id"] = "99999999999999999999"
    path = _write(reviews, tmp_path / "big.csv")
    with pytest.raises(ContractError) as err:
        load_table(path, "reviews", ALL_ERROR)
    message = str(err.value)
    assert f"{path}: row 4, column 'review_id': '99999999999999999999' does not fit a 64-bit integer" in message
    assert "[wrong_type]" in message and "-9223372036854775808 is not" not in message
    _, dropped = load_table(path, "reviews", ALL_DROP)
    assert dropped == {"wrong_type": 1}

    # Parquet: an unsigned column past int64 must not wrap around to a negative id.
    unsigned = raw_tables()["reviews"].astype({"review_id": "uint64"})
    unsigned.loc[2, "review_id"] = 2**63
    with pytest.raises(ContractError, match=r"row 3, column 'review_id': .*does not fit a 64-bit integer"):
        load_table(_write(unsigned, tmp_path / "reviews.parquet"), "reviews", ALL_ERROR)


def _russian_titles() -> list[str]:
    """Real-looking titles where С and Р (the CP1251 reading of UTF-8 lead bytes) touch quotes,
    ellipses, dashes and symbols, as they do in ordinary Russian."""
    nouns = ["Витамин", "Лампа класса", "Сыворотка", "Крем", "Набор", "Книга", "Чай", "Платье", "Сок", "Шампунь"]
    marks = ["С", "Р", "СС", "РС"]
    frames = [
        "{n} «{m}» 1000 мг", "{n} {m}… и не только", '{n} "{m}", 2 шт.', "{n} ({m}) для дома", "{n} {m}» — хит",
        "{n} {m}, {m}. {m}!", "{n} {m}‹ › {m}’", "{n} „{m}“ 50 мл", "{n} {m}: 3 в 1", "{n} {m}—{m} №5",
        "{n} {m}° 40 см", "{n} {m}±5%", "{n} {m}‚ {m}; {m}?", "{n} {m}·{m}", "{n} {m}…", "«{m}» {n}",
        "{n} класса {m}…", "{n}/{m}/Ё", "{n} {m}® и {m}™", "{n} {m}€ {m}$",
    ]
    return [f.format(n=n, m=m) for n in nouns for m in marks for f in frames]


def _cards_with_titles(titles: list[str]) -> pd.DataFrame:
    from rawdata import card

    return pd.DataFrame([card(1000 + i, f"запрос {i}", title=title) for i, title in enumerate(titles)])


def test_russian_next_to_punctuation_is_not_mojibake(tmp_path: Path) -> None:
    titles = _russian_titles() + ["Витамин «С» 1000 мг", "Лампа класса С…"]
    assert len(titles) >= 500
    typed, dropped = load_table(_write(_cards_with_titles(titles), tmp_path / "cards.csv"), "cards", ALL_ERROR)
    assert dropped == {} and typed["title"].tolist() == titles


@pytest.mark.parametrize("codec", ["cp1251", "cp1252", "latin-1"])
def test_utf8_read_as_a_single_byte_codepage_is_still_caught(tmp_path: Path, codec: str) -> None:
    titles = _russian_titles()
    mojibake = [t.encode("utf-8").decode(codec, errors="replace") for t in titles]
    frame = _cards_with_titles(mojibake + titles)
    typed, dropped = load_table(_write(frame, tmp_path / "cards.csv"), "cards", ALL_DROP)
    assert dropped == {"bad_encoding": len(mojibake)}
    assert typed["title"].tolist() == titles
    # Half a title mis-decoded, and a message that shows what the text reads as.
    half = _cards_with_titles(["Платье " + "Книга для чтения".encode().decode(codec, errors="replace")])
    path = _write(half, tmp_path / "half.csv")
    with pytest.raises(ContractError, match=re.escape(f"{path}: row 1, column 'title'")):
        load_table(path, "cards", ALL_ERROR)


def test_short_and_long_rows_are_wrong_shape_not_empty_text(tmp_path: Path) -> None:
    path = _write(raw_tables()["reviews"], tmp_path / "reviews.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0]  # row 3: review_id, nmid, text; no rating, no reason
    lines[6] = lines[6] + ",лишнее"  # row 6: one field too many
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_table(path, "reviews", ALL_ERROR)
    message = str(err.value)
    assert f"{path}: row 3, column 'rating': 3 fields, the header has 5: no value for 'rating', 'reason'" in message
    assert f"{path}: row 6, column 'reason': 6 fields, the header has 5" in message
    assert "[wrong_shape]" in message and "empty_text" not in message and "wrong_type" not in message
    typed, dropped = load_table(path, "reviews", ALL_DROP)
    assert dropped == {"wrong_shape": 2} and len(typed) == len(lines) - 1 - 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_rows_is_refused_with_its_name(tmp_path: Path, suffix: str) -> None:
    path = _write(raw_tables()["support"].iloc[:0], tmp_path / f"support{suffix}")
    with pytest.raises(ContractError, match=re.escape(f"{path}: no data rows")):
        load_table(path, "support", ALL_DROP)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ContractError, match=re.escape(f"{empty}: empty file")):
        load_table(empty, "support", ALL_DROP)
    # Every row dropped leaves nothing to build from either.
    support = raw_tables()["support"].assign(question="")
    drained = _write(support, tmp_path / f"drained{suffix}")
    with pytest.raises(ContractError, match=re.escape(f"{drained}: all {len(support)} rows were dropped")):
        load_table(drained, "support", ALL_DROP)


def test_deep_or_huge_json_is_a_wrong_type_not_a_crash(tmp_path: Path) -> None:
    from wb_embedder.config import JsonLimits

    limits = JsonLimits(max_depth=4, max_chars=2000)
    cards = raw_tables()["cards"]
    cards.loc[1, "aggregated_charc_values"] = "[" * 100_000 + "]" * 100_000  # RecursionError in json
    cards.loc[2, "aggregated_charc_values"] = "{'a': " + "[" * 100_000 + "]" * 100_000 + "}"  # literal_eval
    cards.loc[3, "aggregated_charc_values"] = '{"a": [[[[["x"]]]]]}'  # parses, but 6 deep
    cards.loc[4, "colornames_list"] = '["' + "ы" * 5000 + '"]'
    path = _write(cards, tmp_path / "cards.csv")
    with pytest.raises(ContractError) as err:
        load_table(path, "cards", ALL_ERROR)  # without limits: the parser's own stack is the bound
    assert f"{path}: row 2, column 'aggregated_charc_values'" in str(err.value)
    assert f"{path}: row 3, column 'aggregated_charc_values'" in str(err.value)
    with pytest.raises(ContractError) as err:
        load_table(path, "cards", ALL_ERROR, limits)
    message = str(err.value)
    assert "row 4, column 'aggregated_charc_values': nested deeper than clean.json_limits.max_depth (4)" in message
    assert "row 5, column 'colornames_list': 5004 characters, more than clean.json_limits.max_chars (2000)" in message
    _, dropped = load_table(path, "cards", ALL_DROP, limits)
    assert dropped == {"wrong_type": 4}
