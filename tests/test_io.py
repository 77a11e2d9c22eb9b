"""The shared I/O helpers: the content digest of a folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from wb_embedder.io import tree_digest


def _tree(root: Path) -> Path:
    (root / "b").mkdir(parents=True)
    (root / "a.parquet").write_bytes(b"first")
    (root / "b" / "c.json").write_bytes(b"second")
    (root / "empty").mkdir()
    return root


def test_tree_digest_is_relative_paths_and_file_hashes(tmp_path: Path) -> None:
    """The format is fixed: evaluation runs store it, and the report compares stored digests."""
    root = _tree(tmp_path / "tree")
    expected = hashlib.sha256()
    for name, data in [("a.parquet", b"first"), ("b/c.json", b"second")]:
        expected.update(name.encode() + b"\0")
        expected.update(hashlib.sha256(data).digest())
    assert tree_digest(root) == expected.hexdigest()
    # Where the folder lies and when its files were written do not count.
    moved = _tree(tmp_path / "elsewhere")
    os.utime(moved / "a.parquet", (0, 0))
    assert tree_digest(moved) == tree_digest(root)


def test_tree_digest_sees_every_change(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    before = tree_digest(root)
    (root / "b" / "c.json").write_bytes(b"secont")
    changed = tree_digest(root)
    (root / "b" / "c.json").rename(root / "b" / "d.json")
    renamed = tree_digest(root)
    assert len({before, changed, renamed}) == 3


def test_tree_digest_of_one_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    expected = hashlib.sha256(b"model.bin\0" + hashlib.sha256(b"weights").digest()).hexdigest()
    assert tree_digest(path) == expected
