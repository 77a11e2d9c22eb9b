"""The raw-data contract: what each input table must look like, and its validation on load.

File-level problems (unreadable file, missing or unexpected columns) always stop the run.
Row-level problems stop it too, unless ``clean.on_bad_rows.<rule>: drop`` says to drop such rows;
dropped rows are counted per rule in the stats the caller writes, never lost silently.

Given the clean stage's text normaliser, :func:`load_table` checks the rules that cleaning can
break a second time, on the cleaned texts: a text empty once its markup is gone, characters that
HTML unescaping makes (U+FFFD, a bidi override), keys equal once cleaned (NFD / NFC forms, markup)
and one entity (a card, a support fact) whose rows disagree once cleaned.
"""

from __future__ import annotations

import ast
import csv
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import ftfy
import numpy as np
import pandas as pd

from wb_embedder.config import BadRowPolicies, JsonLimits
from wb_embedder.errors import WbEmbedderError
from wb_embedder.io import read_delimited

# Column kinds: "text" must be a non-empty string, "str" any string (may be empty),
# "int"/"bool" as named, "count" an int or empty (unknown), "json_object"/"json_list" a JSON (or
# Python-literal, as in the Wildberries dump) serialised dict / list.
TABLES: dict[str, dict[str, str]] = {
    "cards": {
        "aggregated_charc_values": "json_object",
        "title": "text",
        "description": "str",
        "subjectname": "str",
        "brandname": "str",
        "parentname": "text",
        "colornames_list": "json_list",
        "isadult": "bool",
        "isdeleted": "bool",
        "nmid": "int",
        "query": "str",
        "show_cl_cnt": "count",
        "view_cl_cnt": "count",
        "cart_cl_cnt": "count",
    },
    "reviews": {"review_id": "int", "nmid": "int", "text": "text", "rating": "int", "reason": "str"},
    "product_qa": {"qa_id": "int", "nmid": "int", "question": "text", "answer": "str"},
    "support": {"fact_id": "int", "intent": "str", "fact": "text", "question": "text"},
}

# The columns a file must have. Every other column of the contract is optional: a file without
# it reads as if the column were there and empty on every row (:data:`ABSENT`), and what needs it
# (a benchmark, a training task: wb_embedder.requirements) is skipped. The minimal dump is cards
# with an id, a title and a category, and reviews with a product id, a text and stars.
REQUIRED: dict[str, tuple[str, ...]] = {
    "cards": ("nmid", "title", "parentname"),
    "reviews": ("nmid", "text", "rating"),
    "product_qa": ("nmid", "question"),
    "support": ("fact_id", "fact", "question"),
}

# What an optional column that the file lacks reads as, per kind. An id column ("int": review_id,
# qa_id) reads as the row's number in the file (1-based).
ABSENT: dict[str, str] = {"str": "", "json_object": "{}", "json_list": "[]", "bool": "false", "count": ""}

KEYS: dict[str, tuple[str, ...]] = {
    "cards": ("nmid", "query"),
    "reviews": ("review_id",),
    "product_qa": ("qa_id",),
    "support": ("fact_id", "question"),
}

# Fields of an entity, not of the row: every row of one entity (a card repeated on each of its
# query rows, a support fact on each of its questions) must carry the same values once cleaned.
ENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cards": ("nmid", ("title", "description", "subjectname", "brandname", "parentname", "aggregated_charc_values",
                       "colornames_list", "isadult", "isdeleted")),
    "support": ("fact_id", ("intent", "fact")),
}

# Columns that name a product of the cards table: a row whose nmid is in no card is an
# ``unknown_product`` row (load_validated's ``known_nmids``).
PRODUCT_KEY = "nmid"

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
# U+FFFD (undecodable bytes read with replacement), C0 controls other than tab / newlines, and C1
# controls (U+0080..U+009F: no text holds them; UTF-8 read as Latin-1 leaves them behind).
_UNDECODABLE = re.compile("\ufffd|[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f]")
# Mojibake is told from Russian by what it re-encodes to, never by a character pair: "«С»" and
# "С…" are ordinary Russian, while the same pairs inside "РљРЅРёРіР°" are "Книга" read as CP1251.
# A word of mojibake re-encodes (CP1251 / Latin-1 / CP1252 back to bytes) into valid UTF-8
# made of Russian letters. Only candidates are tried (cheap, most texts are not): a UTF-8 lead
# byte of Cyrillic as those codecs read it, followed by a non-ASCII character other than a basic
# Russian letter (continuation bytes read as punctuation, Ђ..џ, Ё / ё, or Latin-1 symbols).
_MOJIBAKE_CODECS = ("cp1251", "cp1252", "latin-1")
_CANDIDATE_PAIR = re.compile("[РСÐÑ][^\x00-\x7fА-Яа-я]")
_RUSSIAN_LETTER = re.compile("[А-Яа-яЁёІіЇїЄєҐґЎў]")
# Letters a re-encoded word may hold besides Russian ones: anything else (old Cyrillic such as
# "ѻ", which "С»" would give) makes the reading implausible.
_FOREIGN_LETTER = re.compile(r"[^\W\dA-Za-zА-Яа-яЁёІіЇїЄєҐґЎў_]")
# One letter is no evidence ("С…" re-encodes to "х"); a mis-decoded word gives two or more.
_MIN_REENCODED_LETTERS = 2
# Bidirectional embeddings, overrides and isolates: invisible, they reorder how a text displays
# ("Trojan source"); no product text needs them. (The marks U+200E / U+200F are left alone.)
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_REPORTED = 5


class ContractError(WbEmbedderError, ValueError):
    """A raw file breaks the contract; the message names file, row and column."""


@dataclass(frozen=True)
class Violation:
    rule: str
    row: int  # 0-based position in the file's data rows
    column: str
    detail: str


def read_raw_table(path: Path | str) -> tuple[pd.DataFrame, list[Violation]]:
    """Read CSV, TSV or Parquet with every value as-is (CSV: strings), so validation sees the raw input.

    Also returns a ``wrong_shape`` violation per CSV / TSV row with more or fewer fields than the
    header; such a row is padded with empty fields (or cut) so that the frame stays rectangular.
    """
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path), []
        if suffix in {".csv", ".tsv"}:
            header, rows = read_delimited(path, sep="\t" if suffix == ".tsv" else ",")
            return _rectangular(path, header, rows)
    except (OSError, ValueError, csv.Error) as exc:  # pyarrow raises subclasses of the first two
        raise ContractError(f"{path}: cannot read: {exc}") from None
    raise ContractError(f"{path}: unsupported file type {suffix!r} (expected .csv, .tsv or .parquet)")


def _rectangular(path: Path, header: list[str] | None, rows: list[list[str]]) -> tuple[pd.DataFrame, list[Violation]]:
    if not header:
        raise ContractError(f"{path}: empty file (no header row)")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ContractError(f"{path}: duplicated columns {duplicated}")
    width = len(header)
    shape: list[Violation] = []
    for i, row in enumerate(rows):
        if len(row) == width:
            continue
        if len(row) < width:
            missing = header[len(row) :]
            detail = f"{len(row)} fields, the header has {width}: no value for {', '.join(map(repr, missing))}"
            shape.append(Violation("wrong_shape", i, missing[0], detail))
            rows[i] = row + [""] * (width - len(row))
        else:
            detail = f"{len(row)} fields, the header has {width}: {len(row) - width} extra after {header[-1]!r}"
            shape.append(Violation("wrong_shape", i, header[-1], detail))
            rows[i] = row[:width]
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return frame, shape


def _check_columns(frame: pd.DataFrame, table: str, path: Path) -> list[str]:
    """Stop on a missing required column or an unexpected one; return the optional columns the
    file does not have."""
    required = list(REQUIRED[table])
    optional = [c for c in TABLES[table] if c not in REQUIRED[table]]
    missing = [c for c in required if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in TABLES[table]]
    problems = []
    if missing:
        problems.append(f"missing columns {missing}")
    if unexpected:
        problems.append(f"unexpected columns {unexpected}")
    if problems:
        raise ContractError(
            f"{path}: {'; '.join(problems)} (the {table} contract: required {required}, optional {optional})"
        )
    return [c for c in optional if c not in frame.columns]


def _fill_absent(frame: pd.DataFrame, table: str, absent: list[str]) -> pd.DataFrame:
    """The frame with every absent optional column added, as its kind reads when empty."""
    if not absent:
        return frame
    frame = frame.copy()
    for column in absent:
        kind = TABLES[table][column]
        frame[column] = np.arange(1, len(frame) + 1, dtype=np.int64) if kind == "int" else ABSENT[kind]
    return frame


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), counted only up to ``limit + 1``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list | tuple | set):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth) for child in node)
    return deepest


def _parse_json(kind: str, limits: JsonLimits | None) -> Callable[[Any], Any]:
    wanted = dict if kind == "json_object" else list

    def parse(value: Any) -> Any:
        if isinstance(value, np.ndarray) and wanted is list:
            value = value.tolist()
        if isinstance(value, wanted):
            parsed = value
        elif not isinstance(value, str):
            raise ValueError(f"expected a serialised {wanted.__name__}")
        else:
            if limits is not None and len(value) > limits.max_chars:
                raise ValueError(f"{len(value)} characters, more than clean.json_limits.max_chars ({limits.max_chars})")
            parsed = _loads(value)
        if not isinstance(parsed, wanted):
            raise ValueError(f"expected a {wanted.__name__}, got {type(parsed).__name__}")
        if limits is not None and _depth(parsed, limits.max_depth) > limits.max_depth:
            raise ValueError(f"nested deeper than clean.json_limits.max_depth ({limits.max_depth})")
        return parsed

    return parse


def _loads(value: str) -> Any:
    # Deep nesting exhausts either parser's stack (RecursionError, or MemoryError / SyntaxError
    # from the Python parser): a bad cell, not a crash.
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None
    # The Wildberries dump writes Python literals ("{'Пол': ['Женский']}"); literal_eval
    # evaluates literals only, never code.
    try:
        return ast.literal_eval(value)
    except (RecursionError, MemoryError):
        raise ValueError("nested too deeply to parse") from None
    except (ValueError, SyntaxError, TypeError):
        raise ValueError(f"not JSON: {value[:60]!r}") from None


def _parse_int(value: Any) -> int:
    """An exact integer from a raw value (never through float64), or ValueError naming it as written."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip().split(".")[0])
    else:
        raise ValueError(f"expected an integer, got {value!r}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{value!r} does not fit a 64-bit integer ({_INT64_MIN}..{_INT64_MAX})")
    return number


def _parse_each(
    values: np.ndarray, parse: Callable[[Any], Any], out: Any, bad: np.ndarray, details: list[str]
) -> None:
    """``out[i] = parse(values[i])``; a ValueError marks row i bad, its message the detail."""
    for i, value in enumerate(values):
        try:
            out[i] = parse(value)
        except ValueError as exc:
            bad[i] = True
            details[i] = str(exc)


def _coerce_column(
    series: pd.Series, kind: str, limits: JsonLimits | None = None
) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Return the typed column, a mask of values of the wrong type, and a detail per bad row."""
    n = len(series)
    bad = np.zeros(n, dtype=bool)
    details = [""] * n
    values = series.to_numpy(dtype=object)
    if kind == "int":
        fits = pd.api.types.is_signed_integer_dtype(series.dtype) or (
            pd.api.types.is_unsigned_integer_dtype(series.dtype) and (series.empty or series.max() <= _INT64_MAX)
        )
        if fits and not series.isna().any():
            return series.astype("int64"), bad, details
        out_int = np.zeros(n, dtype=np.int64)
        _parse_each(values, _parse_int, out_int, bad, details)
        return pd.Series(out_int, index=series.index), bad, details
    if kind == "count":
        return _coerce_count(series, values, bad, details)
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
        parsed: list[Any] = [None] * n
        _parse_each(values, _parse_json(kind, limits), parsed, bad, details)
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


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _coerce_count(
    series: pd.Series, values: np.ndarray, bad: np.ndarray, details: list[str]
) -> tuple[pd.Series, np.ndarray, list[str]]:
    """A counter: an exact integer, or missing (an empty cell: unknown), as pandas' nullable Int64."""
    if pd.api.types.is_signed_integer_dtype(series.dtype):
        return series.astype("Int64"), bad, details
    n = len(series)
    out = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    for i, value in enumerate(values):
        if _is_missing(value):
            missing[i] = True
            continue
        try:
            out[i] = _parse_int(value)
        except ValueError as exc:
            bad[i] = True
            details[i] = str(exc)
    return pd.Series(pd.arrays.IntegerArray(out, missing), index=series.index), bad, details


def _present_ints(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The values of an int or count column as int64, and which of them are present."""
    if isinstance(column.dtype, pd.Int64Dtype):
        present = column.notna().to_numpy()
        return column.fillna(0).to_numpy(dtype=np.int64), present
    return column.to_numpy(), np.ones(len(column), dtype=bool)


def _reencoded(word: str) -> str | None:
    """What a mis-decoded word reads as once re-encoded, or None if it is no such word."""
    for codec in _MOJIBAKE_CODECS:
        try:
            fixed = word.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if (
            fixed != word
            and len(_RUSSIAN_LETTER.findall(fixed)) >= _MIN_REENCODED_LETTERS
            and not _FOREIGN_LETTER.search(fixed)
        ):
            return fixed
    return None


def encoding_problem(text: str) -> str | None:
    """Why ``text`` was not decoded right (undecodable bytes, controls, mojibake), or None."""
    if _UNDECODABLE.search(text):
        return f"undecodable bytes or control characters in {text[:40]!r}"
    if not _CANDIDATE_PAIR.search(text):
        return None
    # ftfy fixes a text only when a re-encoding reads better by its badness heuristics; the
    # word-wise round trip also catches mojibake they score as plausible ("РљРЅРёРіР° РЎ: 3 РІ 1").
    fixed = ftfy.fix_encoding(text)
    if fixed == text:
        words = [(_CANDIDATE_PAIR.search(word) and _reencoded(word)) or word for word in text.split(" ")]
        fixed = " ".join(words)
    if fixed != text:
        return f"UTF-8 mis-decoded as CP1251 or Latin-1: {text[:40]!r} reads {fixed[:40]!r} re-encoded"
    return None


def find_violations(
    frame: pd.DataFrame, table: str, shape: list[Violation] | None = None, limits: JsonLimits | None = None,
    known_nmids: np.ndarray | None = None, cards_file: str = "the cards table",
    dropped_nmids: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Type the frame by the contract and list every row-level violation (first rule per row).

    ``shape`` are the rows :func:`read_raw_table` found with too few or too many fields: their
    padded values are not checked further. ``limits`` bound the JSON cells. ``known_nmids``: the
    products of the cards (``cards_file``); a row of this table whose nmid is none of them is an
    ``unknown_product`` (``dropped_nmids``: those whose card rows were all dropped as bad rows,
    which the message says).
    """
    spec = TABLES[table]
    shape = list(shape or [])
    misshapen = {v.row for v in shape}
    typed = {}
    violations: list[Violation] = []
    for column, kind in spec.items():
        typed_col, bad, details = _coerce_column(frame[column].reset_index(drop=True), kind, limits)
        typed[column] = typed_col
        violations += [Violation("wrong_type", int(i), column, details[i]) for i in np.flatnonzero(bad)]
    typed_frame = pd.DataFrame(typed)
    # Values of the wrong type were replaced by placeholders: checking those rows further would
    # only report consequences (a "contradiction" with a placeholder 0), not new problems.
    mistyped = {v.row for v in violations} | misshapen
    type_violations = [v for v in violations if v.row not in misshapen]
    violations = []

    for column, kind in spec.items():
        if kind not in {"text", "str"}:
            continue
        texts = typed_frame[column]
        # Texts repeat (card fields on every query row): judge each distinct text once.
        problems = {text: encoding_problem(text) for text in pd.unique(texts)}
        for i, text in enumerate(texts):
            if problems[text] is not None:
                violations.append(Violation("bad_encoding", i, column, problems[text]))
        if kind == "text":
            empty = texts.str.strip().eq("")
            for i in np.flatnonzero(empty.to_numpy()):
                violations.append(Violation("empty_text", int(i), column, "empty text"))

    for column, low, high in RANGES[table]:
        values, present = _present_ints(typed_frame[column])
        out = values < low if high is None else (values < low) | (values > high)
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        for i in np.flatnonzero(out & present):
            violations.append(Violation("out_of_range", int(i), column, f"{values[i]} is not {bound}"))

    # An unknown counter contradicts nothing.
    for smaller, larger in COUNTER_ORDER.get(table, []):
        (a, a_present), (b, b_present) = _present_ints(typed_frame[smaller]), _present_ints(typed_frame[larger])
        for i in np.flatnonzero((a > b) & a_present & b_present):
            violations.append(
                Violation("counter_contradiction", int(i), smaller, f"{smaller} ({a[i]}) > {larger} ({b[i]})")
            )

    if known_nmids is not None and PRODUCT_KEY in spec:
        nmids = typed_frame[PRODUCT_KEY].to_numpy()
        unknown = np.flatnonzero(~np.isin(nmids, known_nmids))
        bad_card = np.isin(nmids[unknown], dropped_nmids if dropped_nmids is not None else [])
        for i, dropped in zip(unknown, bad_card, strict=True):
            why = " (its card rows were dropped as bad rows)" if dropped else ""
            violations.append(Violation("unknown_product", int(i), PRODUCT_KEY,
                                        f"nmid {nmids[i]} is in no card of {cards_file}{why}"))

    # Keys are compared in one Unicode normal form (the cleaner's, NFKC): "й" typed as "и" plus a
    # combining breve is the same key as "й".
    key_frame = typed_frame[list(KEYS[table])].copy()
    for column in key_frame:
        if spec[column] in {"text", "str"}:
            key_frame[column] = _map_unique(key_frame[column], lambda text: unicodedata.normalize("NFKC", text))
    violations += _duplicate_keys(key_frame, np.arange(len(typed_frame)), "")
    return typed_frame, shape + type_violations + [v for v in violations if v.row not in mistyped]


def _map_unique(series: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """``series.map(function)``, calling ``function`` once per distinct value (texts repeat)."""
    mapping = {value: function(value) for value in pd.unique(series)}
    return series.map(mapping).astype(object)


def _duplicate_keys(keys: pd.DataFrame, rows: np.ndarray, when: str) -> list[Violation]:
    """A ``duplicate_key`` violation for each row of ``keys`` whose key an earlier row holds;
    ``rows`` are the rows' positions in the file."""
    duplicated = keys.duplicated(keep="first").to_numpy()
    if not duplicated.any():
        return []
    positions = pd.Series(rows, index=keys.index)
    first_seen = positions.groupby([keys[c] for c in keys], sort=False).transform("min").to_numpy()
    name = "+".join(keys.columns)
    return [Violation("duplicate_key", int(rows[i]), name, f"same key as row {first_seen[i] + 1}{when}")
            for i in np.flatnonzero(duplicated)]


def _short(value: Any, limit: int = 40) -> str:
    """A value as an error message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cleaned_json(value: Any, normalise: Callable[[str], str]) -> Any:
    """A JSON cell with every string in it (names and values) cleaned."""
    if isinstance(value, str):
        return normalise(value)
    if isinstance(value, dict):
        return {normalise(str(k)): _cleaned_json(v, normalise) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_cleaned_json(v, normalise) for v in value]
    return value


def clean_texts(typed: pd.DataFrame, table: str, normalise: Callable[[str], str]) -> pd.DataFrame:
    """``typed`` with every text column (kinds text / str) cleaned by ``normalise``."""
    cleaned = typed.copy()
    for column, kind in TABLES[table].items():
        if kind in {"text", "str"}:
            cleaned[column] = _map_unique(typed[column], normalise)
    return cleaned


def find_violations_once_cleaned(
    typed: pd.DataFrame, cleaned: pd.DataFrame, table: str, rows: np.ndarray, normalise: Callable[[str], str]
) -> list[Violation]:
    """The rules that cleaning can break, on the cleaned texts (``cleaned``: :func:`clean_texts` of
    ``typed``, rows that passed the raw rules; ``rows``: their positions in the file). A text that
    markup, entities or invisible characters alone made non-empty is an ``empty_text``; undecodable
    or bidi-control characters that HTML unescaping made are a ``bad_encoding``; keys equal once
    cleaned are a ``duplicate_key``; rows of one entity that disagree once cleaned are a
    ``key_conflict`` (:data:`ENTITIES`)."""
    spec = TABLES[table]
    violations: list[Violation] = []
    for column, kind in spec.items():
        if kind not in {"text", "str"}:
            continue
        before, after = typed[column].to_numpy(), cleaned[column].to_numpy()
        problems = {text: _cleaned_encoding_problem(text) for text in pd.unique(after)}
        for i, text in enumerate(after):
            if problems[text] is not None:
                detail = f"{problems[text]} once cleaned (HTML entities unescaped): {_short(before[i])}"
                violations.append(Violation("bad_encoding", int(rows[i]), column, detail))
            elif kind == "text" and not text.strip():
                detail = f"empty once cleaned ({_short(before[i])})"
                violations.append(Violation("empty_text", int(rows[i]), column, detail))
    violations += _duplicate_keys(cleaned[list(KEYS[table])], rows, " once cleaned")
    flagged = {v.row for v in violations}
    if table in ENTITIES:
        violations += _key_conflicts(cleaned, table, rows, flagged, normalise)
    return violations


def _cleaned_encoding_problem(text: str) -> str | None:
    """What a cleaned text holds that no text may: U+FFFD (``&#0;`` unescapes to it), a control
    character, or a bidi control (``&#x202E;`` unescapes to a right-to-left override)."""
    if found := _UNDECODABLE.search(text):
        kind = "undecodable" if found.group() == "\ufffd" else "a control character"
    elif found := _BIDI_CONTROL.search(text):
        kind = "a bidi control"
    else:
        return None
    return f"U+{ord(found.group()):04X} ({kind})"


def _key_conflicts(
    cleaned: pd.DataFrame, table: str, rows: np.ndarray, flagged: set[int], normalise: Callable[[str], str]
) -> list[Violation]:
    """Rows whose entity fields differ from the first (unflagged) row of the same entity."""
    key, fields = ENTITIES[table]
    candidates = ~np.isin(rows, list(flagged))
    frame = cleaned[candidates]
    positions = rows[candidates]
    if frame.empty:
        return []
    order = pd.Series(np.arange(len(frame)), index=frame.index)
    first = order.groupby(frame[key].to_numpy(), sort=False).transform("min").to_numpy()
    violations: list[Violation] = []
    conflicting = np.zeros(len(frame), dtype=bool)
    for field in fields:
        kind = TABLES[table][field]
        values = frame[field].to_numpy(dtype=object)
        if kind in {"json_object", "json_list"}:
            # Compared as cleaned JSON text (sorted names), each distinct cell cleaned once.
            cache: dict[str, str] = {}
            comparable = []
            for value in values:
                raw = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False,
                                 sort_keys=True, default=str)
                if raw not in cache:
                    cache[raw] = json.dumps(_cleaned_json(value, normalise), ensure_ascii=False, sort_keys=True,
                                            default=str)
                comparable.append(cache[raw])
            values = np.array(comparable, dtype=object)
        differs = np.asarray(values != values[first], dtype=bool)
        for i in np.flatnonzero(differs & ~conflicting):
            detail = (f"{key} {frame[key].iat[i]} has another {field} on row {positions[first[i]] + 1} "
                      f"({_short(frame[field].iat[first[i]])} there, {_short(frame[field].iat[i])} here)")
            violations.append(Violation("key_conflict", int(positions[i]), field, detail))
        conflicting |= differs
    return violations


def _apply_policies(path: Path, violations: list[Violation], policies: BadRowPolicies) -> dict[str, dict[int, Violation]]:
    """Stop on a rule whose policy is "error" (file, row, column of up to five rows each); else the
    rows each rule drops (with the violation that drops each), a row under its first rule only."""
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
    dropped: dict[str, dict[int, Violation]] = {}
    seen: set[int] = set()
    for rule, items in by_rule.items():
        rows: dict[int, Violation] = {}
        for v in items:  # a row is counted once, under its first rule (and that rule's first column)
            if v.row not in seen and v.row not in rows:
                rows[v.row] = v
        if rows:
            dropped[rule] = rows
        seen |= set(rows)
    return dropped


@dataclass
class LoadedTable:
    """One raw table as :func:`load_validated` read it: the rows kept (typed, cleaned when a
    normaliser was given) and what was dropped, by rule, with the violation of each dropped row."""

    path: Path
    frame: pd.DataFrame
    rows_in: int
    absent: list[str]  # optional columns the file does not have
    dropped_rows: dict[str, dict[int, Violation]]
    # nmids every row of which was dropped (cards: what the unknown_product rule says of them)
    nmids_dropped: np.ndarray = dataclass_field(default_factory=lambda: np.array([], dtype=np.int64))

    @property
    def dropped(self) -> dict[str, int]:
        return {rule: len(rows) for rule, rows in self.dropped_rows.items()}

    @property
    def dropped_by_column(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for rule, rows in self.dropped_rows.items():
            for v in rows.values():
                out.setdefault(rule, {})
                out[rule][v.column] = out[rule].get(v.column, 0) + 1
        return {rule: dict(sorted(columns.items())) for rule, columns in out.items()}

    @property
    def examples(self) -> dict[str, str]:
        """One dropped row per rule (the first in the file): row, column and why."""
        return {rule: _example(rows) for rule, rows in self.dropped_rows.items()}

    def stats(self) -> dict[str, Any]:
        """What data/stats/clean.json records of the table (``contract.<table>``)."""
        return {"file": str(self.path), "rows_in": self.rows_in, "dropped": self.dropped,
                "rows_valid": len(self.frame), "columns_absent": self.absent,
                "dropped_by_column": self.dropped_by_column, "examples": self.examples}


def _example(rows: dict[int, Violation]) -> str:
    first = rows[min(rows)]
    return f"row {first.row + 1}, column {first.column!r}: {first.detail}"


def describe_drops(rows_in: int, dropped_rows: dict[str, dict[int, Violation]]) -> str:
    """Each rule's count, share of the table, columns and an example, for the messages."""
    parts = []
    for rule, rows in dropped_rows.items():
        columns = sorted({v.column for v in rows.values()})
        parts.append(f"{rule}: {len(rows)} ({len(rows) / max(rows_in, 1):.1%}; column {', '.join(map(repr, columns))};"
                     f" e.g. {_example(rows)})")
    return "; ".join(parts)


def empty_table(table: str) -> pd.DataFrame:
    """A table of the contract with no rows, typed as :func:`load_table` types one (a table the
    dump does not have: ``data.<table>: null``)."""
    dtypes = {"int": "int64", "count": "Int64", "bool": "bool"}
    return pd.DataFrame({column: pd.Series(dtype=dtypes.get(kind, object)) for column, kind in TABLES[table].items()})


def load_table(
    path: Path | str,
    table: str,
    policies: BadRowPolicies,
    json_limits: JsonLimits | None = None,
    normalise: Callable[[str], str] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read and validate one raw table; return the typed rows kept and the count dropped per rule
    (:func:`load_validated` has the rest: the columns of each count, an example, absent columns)."""
    loaded = load_validated(path, table, policies, json_limits, normalise)
    return loaded.frame, loaded.dropped


def load_validated(
    path: Path | str,
    table: str,
    policies: BadRowPolicies,
    json_limits: JsonLimits | None = None,
    normalise: Callable[[str], str] | None = None,
    known_nmids: np.ndarray | None = None,
    cards_file: str = "the cards table",
    dropped_nmids: np.ndarray | None = None,
) -> LoadedTable:
    """Read and validate one raw table: the typed rows kept and what was dropped, by rule.

    With ``normalise`` (the clean stage's text normaliser), the text columns come back cleaned,
    and the rules cleaning can break are checked again on them (:func:`find_violations_once_cleaned`),
    under the same policies and counted under the same rule names. ``known_nmids``: the products
    of the cards (``cards_file``), for the ``unknown_product`` rule.

    Optional columns the file lacks read as empty (:data:`ABSENT`). A table without data rows, or
    with none left once bad rows are dropped, stops the run naming each rule that dropped rows
    (count, share, column and an example): a file given is meant to be read.
    """
    path = Path(path)
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    frame, shape = read_raw_table(path)
    absent = _check_columns(frame, table, path)
    if frame.empty:
        leave_out = "" if table == "cards" else f" (to leave the table out, set data.{table}: null)"
        raise ContractError(f"{path}: no data rows (header only): the {table} table cannot be empty{leave_out}")
    frame = _fill_absent(frame, table, absent)
    typed, violations = find_violations(frame[list(TABLES[table])], table, shape, json_limits, known_nmids,
                                        cards_file, dropped_nmids)
    dropped_rows = _apply_policies(path, violations, policies)
    keep = np.ones(len(typed), dtype=bool)
    for rows in dropped_rows.values():
        keep[list(rows)] = False
    result = typed[keep]
    if normalise is not None:
        rows = np.flatnonzero(keep)  # the file's row of each kept row, for the messages
        cleaned = clean_texts(result, table, normalise)
        dropped_after = _apply_policies(
            path, find_violations_once_cleaned(result, cleaned, table, rows, normalise), policies
        )
        gone: set[int] = set()
        for rule, rows_after in dropped_after.items():
            dropped_rows[rule] = {**dropped_rows.get(rule, {}), **rows_after}
            gone |= set(rows_after)
        result = cleaned[~np.isin(rows, list(gone))]
    if result.empty:
        raise ContractError(f"{path}: all {len(typed)} rows were dropped as bad rows, none left: "
                            f"{describe_drops(len(typed), dropped_rows)}")
    result = result.reset_index(drop=True)
    nmids_dropped = np.setdiff1d(typed[PRODUCT_KEY].to_numpy(), result[PRODUCT_KEY].to_numpy()) \
        if PRODUCT_KEY in typed else np.array([], dtype=np.int64)
    return LoadedTable(path, result, len(typed), absent, dropped_rows, nmids_dropped)
