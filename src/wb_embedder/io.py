"""Atomic writes (a failed stage never leaves a half-written output behind), YAML reading (the one
loader of params.yaml, profiles and training configs), and the content hash of a folder.

Every output is written to a temporary sibling and renamed into place only once complete;
``os.replace`` is atomic on one filesystem, which a sibling path guarantees.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from wb_embedder.errors import WbEmbedderError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; outputs are shared artifacts, so use the usual 0644.
        tmp.chmod(0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; swap it in for ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# csv's default field limit (128 KiB) would refuse a long product description that pandas reads.
csv.field_size_limit(2**31 - 1)


def read_delimited(path: Path | str, sep: str = ",") -> tuple[list[str] | None, list[list[str]]]:
    """The header (None for an empty file) and the data rows of a CSV / TSV file, as written.

    Rows keep the number of fields they have, so the caller can name a short or long row
    (pandas pads a short row with missing values and refuses a long one without its row).
    Undecodable bytes become U+FFFD, so the caller can name the row that holds them; a UTF-8
    byte order mark is dropped and blank lines are skipped, as pandas does. Raises
    ``csv.Error`` (with the reader's line number in the message) and ``OSError``.
    """
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=sep)
        try:
            header = next(reader, None)
            rows = [row for row in reader if row]
        except csv.Error as exc:
            raise csv.Error(f"line {reader.line_num}: {exc}") from None
    return header, rows


def write_json(payload: Any, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class YamlError(WbEmbedderError, ValueError):
    """A YAML file the project reads (params.yaml, a profile) is refused: not UTF-8, not YAML, a
    duplicate key, or aliases that expand past :data:`MAX_YAML_NODES`. One line, naming the file
    and the line; it never echoes the file's content."""


# Values (every scalar, list and mapping) a YAML document may hold once its aliases are expanded.
# params.yaml holds about a thousand; a "billion laughs" alias bomb, a few lines long, expands to
# billions, and whatever walks the expanded values (validation, an error message, DVC) would hang
# or run out of memory. Far above any real params file, far below what hurts.
MAX_YAML_NODES = 100_000


class _ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader with three changes: exponent floats without a dot (``1e-05``) are
    floats, as in YAML 1.2; a duplicate key is an error; and aliases may not expand a document past
    :data:`MAX_YAML_NODES` values (nor refer to themselves).

    PyYAML follows YAML 1.1, where ``1e-05`` is a string; DVC writes floats that way when
    ``dvc exp run -S finetune.learning_rate=0.00001`` updates params.yaml (and reads them back as
    floats itself), so without this a sweep over small learning rates would not load. PyYAML
    keeps the last of two equal keys, while DVC (ruamel) refuses them: check_params would pass a
    file `dvc repro` refuses, with a value the user may not have meant.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *defaults" then a key of its own overrides by design
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first_line.get(key)
                except TypeError:
                    continue  # an unhashable key: the base class names it
                if seen is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {_short(repr(key))} (first on line {seen})", key_node.start_mark
                    )
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it past MAX_YAML_NODES values, or that holds itself.

    Aliases are shared nodes, so the expanded size is counted bottom-up once per distinct node
    (linear in the file, however large the expansion), without recursion (deep nesting must not
    exhaust the stack here either)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_YAML_NODES:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"aliases expand this value past {MAX_YAML_NODES} values (an alias bomb?); refused",
                    node.start_mark,
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise yaml.constructor.ConstructorError(
                None, None, "a recursive alias (a value that contains itself); refused", node.start_mark
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: messages name a value, they do not reprint it."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Read size for hashing: large enough to be fast, small enough to stay out of memory's way.
_HASH_CHUNK = 1 << 20


def file_sha256(path: Path | str) -> bytes:
    """SHA-256 of a file's bytes, read in chunks (a model's weights need not fit in memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.digest()


def tree_digest(root: Path | str, pattern: str = "*") -> str:
    """SHA-256 (hex) of a folder's content: every file (matching ``pattern``) by its path relative
    to ``root`` (POSIX form) and the SHA-256 of its bytes, in sorted path order; of one file, its
    name and bytes. Times, permissions and empty folders do not count. Training keys its
    checkpoints to it (data, base model and its own sources), and the report refuses to compare
    models scored on benchmark folders whose digests differ."""
    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob(pattern) if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        name = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(name.encode() + b"\0")
        digest.update(file_sha256(path))
    return digest.hexdigest()


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML file safely (no arbitrary objects), with floats read as DVC writes them.

    Raises :class:`YamlError` for content the loader refuses (see :class:`_ParamsLoader`) and
    OSError (FileNotFoundError...) for a file that cannot be read."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(
            f"{path}: not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_ParamsLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = "; ".join(_short(part, 200) for part in (exc.context, exc.problem) if part)
        raise YamlError(f"{path}: not valid YAML: {what}{where}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{path}: not valid YAML: {_short(' '.join(str(exc).split()), 200)}") from None
    except RecursionError:
        raise YamlError(f"{path}: not valid YAML: nested too deeply to parse") from None
