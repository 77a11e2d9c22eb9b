"""The raw-data contract: what each input table must look like, and its validation on load.

File-level problems (unreadable file, missing or unexpected columns) always stop the run.
Row-level problems stop it too, unless ``clean.on_bad_rows.<rule>: drop`` says to drop such rows;
dropped rows are counted per rule in the stats the caller writes, never lost silently.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wb_embedder.config import BadRowPolicies

# Column kinds: "text" must be a non-empty string, "str" any string (may be empty),
# "int"/"bool" as named, "json_object"/"json_list" a JSON (or Python-literal, as in the
# Wildberries dump) serialised dict / list.
TABLES: dict[str, dict[str, str]] = {
    "cards": {
        "aggregated_charc_values": "json_object",
        "title": "text",
        "description": "str",
        "subjectname": "text",
        "brandname": "str",
        "parentname": "text",
        "colornames_list": "json_list",
        "isadult": "bool",
        "isdeleted": "bool",
        "nmid": "int",
        "query": "text",
        "show_cl_cnt": "int",
        "view_cl_cnt": "int",
        "cart_cl_cnt": "int",
    },
    "reviews": {"review_id": "int", "nmid": "int", "text": "text", "rating": "int", "reason": "text"},
    "product_qa": {"qa_id": "int", "nmid": "int", "question": "text", "answer": "text"},
    "support": {"fact_id": "int", "intent": "text", "fact": "text", "question": "text"},
}

KEYS: dict[str, tuple[str, ...]] = {
    "cards": ("nmid", "query"),
    "reviews": ("review_id",),
    "product_qa": ("qa_id",),
    "support": ("fact_id", "question"),
}

# (column, inclusive min, inclusive max or None)
RANGES: dict[str, list[tuple[str, int, int | None]]] = {
    "cards": [("show_cl_cnt", 0, None), ("view_cl_cnt", 0, None), ("cart_cl_cnt", 0, None), ("nmid", 1, None)],
    "reviews": [("rating", 1, 5), ("nmid", 1, None)],
    "product_qa": [("nmid", 1, None)],
    "support": [],
}

# A funnel can only narrow: every add-to-cart was viewed, every view was shown.
COUNTER_ORDER: dict[str, list[tuple[str, str]]] = {
    "cards": [("cart_cl_cnt", "view_cl_cnt"), ("view_cl_cnt", "show_cl_cnt")],
}

_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}
# U+FFFD (undecodable bytes read with replacement), C0 controls other than tab / newlines, and
# UTF-8 text that was decoded as Latin-1 or CP1251 (mojibake such as "Ð\x9a" or "РљСЂ").
_BAD_ENCODING = re.compile(
    "\ufffd|[\x00-\x08\x0b\x0c\x0e-\x1f]|[\u00d0\u00d1][\u0080-\u00bf]|[РС][\u0402-\u040f\u0452-\u045f\u201a-\u203a\u00a1-\u00bf]"
)
_MAX_REPORTED = 5


class ContractError(ValueError):
    """A raw file breaks the contract; the message names file, row and column."""


@dataclass(frozen=True)
class Violation:
    rule: str
    row: int  # 0-based position in the file's data rows
    column: str
    detail: str


def read_raw_table(path: Path | str) -> pd.DataFrame:
    """Read CSV or Parquet with every value as-is (CSV: strings), so validation sees the raw input."""
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in {".csv", ".tsv"}:
            return pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                encoding="utf-8",
                encoding_errors="replace",
            )
    except (OSError, ValueError) as exc:  # pyarrow / the CSV parser raise subclasses of these
        raise ContractError(f"{path}: cannot read: {exc}") from None
    raise ContractError(f"{path}: unsupported file type {suffix!r} (expected .csv, .tsv or .parquet)")


def _check_columns(frame: pd.DataFrame, table: str, path: Path) -> None:
    expected = list(TABLES[table])
    missing = [c for c in expected if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in TABLES[table]]
    problems = []
    if missing:
        problems.append(f"missing columns {missing}")
    if unexpected:
        problems.append(f"unexpected columns {unexpected}")
    if problems:
        raise ContractError(f"{path}: {'; '.join(problems)} (the {table} contract is {expected})")


def _parse_json(kind: str) -> Callable[[Any], Any]:
    wanted = dict if kind == "json_object" else list

    def parse(value: Any) -> Any:
        if isinstance(value, wanted):
            return value
        if isinstance(value, np.ndarray) and wanted is list:
            return value.tolist()
        if not isinstance(value, str):
            raise ValueError(f"expected a serialised {wanted.__name__}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            # The Wildberries dump writes Python literals ("{'Пол': ['Женский']}"); literal_eval
            # evaluates literals only, never code.
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise ValueError(f"not JSON: {value[:60]!r}") from None
        if not isinstance(parsed, wanted):
            raise ValueError(f"expected a {wanted.__name__}, got {type(parsed).__name__}")
        return parsed

    return parse


def _coerce_column(series: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Return the typed column, a mask of values of the wrong type, and a detail per bad row."""
    n = len(series)
    bad = np.zeros(n, dtype=bool)
    details = [""] * n
    values = series.to_numpy(dtype=object)
    if kind == "int":
        if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
            return series.astype("int64"), bad, details
        numeric = pd.to_numeric(series, errors="coerce")
        as_float = numeric.to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
        for i in np.flatnonzero(bad):
            details[i] = f"expected an integer, got {values[i]!r}"
        return pd.Series(np.where(bad, 0, as_float).astype("int64"), index=series.index), bad, details
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series.dtype):
            return series.astype(bool), bad, details
        out = np.zeros(n, dtype=bool)
        for i, value in enumerate(values):
            token = str(value).strip().lower() if value is not None else ""
            if token in _TRUE:
                out[i] = True
            elif token not in _FALSE:
                bad[i] = True
                details[i] = f"expected a boolean, got {value!r}"
        return pd.Series(out, index=series.index), bad, details
    if kind in {"json_object", "json_list"}:
        parse = _parse_json(kind)
        parsed: list[Any] = [None] * n
        for i, value in enumerate(values):
            try:
                parsed[i] = parse(value)
            except ValueError as exc:
                bad[i] = True
                details[i] = str(exc)
        return pd.Series(parsed, index=series.index, dtype=object), bad, details
    # str / text: missing values are an empty text (a separate rule), anything else a wrong type
    out_str = np.empty(n, dtype=object)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out_str[i] = ""
        elif isinstance(value, str):
            out_str[i] = value
        else:
            bad[i] = True
            details[i] = f"expected a string, got {type(value).__name__} {value!r}"
            out_str[i] = ""
    return pd.Series(out_str, index=series.index, dtype=object), bad, details


def find_violations(frame: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[Violation]]:
    """Type the frame by the contract and list every row-level violation (first rule per row)."""
    spec = TABLES[table]
    typed = {}
    violations: list[Violation] = []
    for column, kind in spec.items():
        typed_col, bad, details = _coerce_column(frame[column].reset_index(drop=True), kind)
        typed[column] = typed_col
        violations += [Violation("wrong_type", int(i), column, details[i]) for i in np.flatnonzero(bad)]
    typed_frame = pd.DataFrame(typed)
    # Values of the wrong type were replaced by placeholders: checking those rows further would
    # only report consequences (a "contradiction" with a placeholder 0), not new problems.
    mistyped = {v.row for v in violations}
    type_violations, violations = violations, []

    for column, kind in spec.items():
        if kind not in {"text", "str"}:
            continue
        texts = typed_frame[column]
        encoding_bad = texts.str.contains(_BAD_ENCODING, regex=True)
        for i in np.flatnonzero(encoding_bad.to_numpy()):
            sample = texts.iat[i][:40]
            violations.append(Violation("bad_encoding", int(i), column, f"undecodable or mis-decoded text {sample!r}"))
        if kind == "text":
            empty = texts.str.strip().eq("")
            for i in np.flatnonzero(empty.to_numpy()):
                violations.append(Violation("empty_text", int(i), column, "empty text"))

    for column, low, high in RANGES[table]:
        values = typed_frame[column].to_numpy()
        out = values < low if high is None else (values < low) | (values > high)
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        for i in np.flatnonzero(out):
            violations.append(Violation("out_of_range", int(i), column, f"{values[i]} is not {bound}"))

    for smaller, larger in COUNTER_ORDER.get(table, []):
        a, b = typed_frame[smaller].to_numpy(), typed_frame[larger].to_numpy()
        for i in np.flatnonzero(a > b):
            violations.append(
                Violation("counter_contradiction", int(i), smaller, f"{smaller} ({a[i]}) > {larger} ({b[i]})")
            )

    keys = list(KEYS[table])
    duplicated = typed_frame.duplicated(subset=keys, keep="first").to_numpy()
    if duplicated.any():
        first_seen = typed_frame.reset_index().groupby(keys, sort=False)["index"].transform("min").to_numpy()
        for i in np.flatnonzero(duplicated):
            violations.append(
                Violation("duplicate_key", int(i), "+".join(keys), f"same key as row {first_seen[i] + 1}")
            )
    return typed_frame, type_violations + [v for v in violations if v.row not in mistyped]


def load_table(
    path: Path | str, table: str, policies: BadRowPolicies
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read and validate one raw table; return the typed rows kept and the count dropped per rule."""
    path = Path(path)
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    frame = read_raw_table(path)
    _check_columns(frame, table, path)
    typed, violations = find_violations(frame[list(TABLES[table])], table)

    by_rule: dict[str, list[Violation]] = {}
    for violation in violations:
        by_rule.setdefault(violation.rule, []).append(violation)
    fatal = {rule: items for rule, items in by_rule.items() if getattr(policies, rule) == "error"}
    if fatal:
        lines = []
        for rule, items in fatal.items():
            rows = sorted({v.row for v in items})
            for v in sorted(items, key=lambda v: v.row)[:_MAX_REPORTED]:
                lines.append(f"{path}: row {v.row + 1}, column {v.column!r}: {v.detail} [{rule}]")
            lines.append(
                f"{path}: {len(rows)} row(s) break rule {rule!r}; "
                f"set clean.on_bad_rows.{rule}: drop in params.yaml to drop and count them instead"
            )
        raise ContractError("\n".join(lines))

    dropped_rows: set[int] = set()
    dropped: dict[str, int] = {}
    for rule, items in by_rule.items():
        rows = {v.row for v in items} - dropped_rows  # a row is counted once, under its first rule
        if rows:
            dropped[rule] = len(rows)
        dropped_rows |= rows
    keep = np.ones(len(typed), dtype=bool)
    keep[list(dropped_rows)] = False
    return typed[keep].reset_index(drop=True), dropped
