"""Atomic writes (a failed stage never leaves a half-written output behind), YAML reading, and
the content hash of a folder.

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


class _ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading exponent floats without a dot (``1e-05``) as YAML 1.2 does.

    PyYAML follows YAML 1.1, where ``1e-05`` is a string; DVC writes floats that way when
    ``dvc exp run -S finetune.learning_rate=0.00001`` updates params.yaml (and reads them back as
    floats itself), so without this a sweep over small learning rates would not load.
    """


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


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
    """Parse a YAML file safely (no arbitrary objects), with floats read as DVC writes them."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_ParamsLoader)
