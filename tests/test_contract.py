"""One test per validation rule of the raw-data contract, for both outcomes: error and drop."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from rawdata import raw_tables

from wb_embedder.config import BadRowPolicies
from wb_embedder.contract import TABLES, ContractError, find_violations, load_table

ALL_ERROR = BadRowPolicies(
    wrong_type="error", empty_text="error", bad_encoding="error", duplicate_key="error",
    counter_contradiction="error", out_of_range="error",
)
ALL_DROP = BadRowPolicies(
    wrong_type="drop", empty_text="drop", bad_encoding="drop", duplicate_key="drop",
    counter_contradiction="drop", out_of_range="drop",
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
    cards = raw_tables()["cards"].drop(columns=["cart_cl_cnt"]).assign(extra_col=1)
    path = _write(cards, tmp_path / "cards.csv")
    with pytest.raises(ContractError) as err:
        load_table(path, "cards", ALL_DROP)
    message = str(err.value)
    assert str(path) in message and "cart_cl_cnt" in message and "extra_col" in message


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
