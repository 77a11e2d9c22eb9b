"""The checkpoint fingerprint covers the code that trains, not only params and data: the folder
outlives a code change that makes DVC rerun finetune (dvc.yaml, stage finetune)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from wb_embedder.config import load_params
from wb_embedder.training import checkpoints
from wb_embedder.training.checkpoints import code_identity, fingerprint, prepare_checkpoint_dir
from wb_embedder.training.run import FinetunePaths, _fingerprint_parts


def test_code_identity_follows_the_sources_and_library_versions(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n", encoding="utf-8")
    (package / "sub" / "b.py").write_text("B = 2\n", encoding="utf-8")
    first = code_identity(package)
    assert first["torch"] == version("torch") and first["sentence-transformers"] == version("sentence-transformers")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    (package / "notes.txt").write_text("not code\n", encoding="utf-8")
    assert code_identity(package) == first
    (package / "sub" / "b.py").write_text("B = 3\n", encoding="utf-8")
    assert code_identity(package)["source"] != first["source"]
    (package / "sub" / "b.py").write_text("B = 2\n", encoding="utf-8")
    (package / "sub" / "b.py").rename(package / "b.py")  # same bytes, another module
    assert code_identity(package)["source"] != first["source"]


def test_checkpoints_of_other_code_are_discarded(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = load_params(repo_root / "params.yaml")
    for name in ("base", "triplets"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text(name, encoding="utf-8")
    paths = FinetunePaths(
        base=tmp_path / "base", triplets=tmp_path / "triplets", out=tmp_path / "out",
        checkpoints=tmp_path / "ckpt", live=tmp_path / "live",
    )

    def parts() -> dict:
        return _fingerprint_parts(params.finetune, params.model, params.seed, paths, [])

    assert parts()["code"] == code_identity()
    prepare_checkpoint_dir(paths.checkpoints, fingerprint(parts()), parts())
    step = paths.checkpoints / "checkpoint-5"
    step.mkdir()
    (step / checkpoints.TRAINER_STATE).write_text("{}", encoding="utf-8")
    assert prepare_checkpoint_dir(paths.checkpoints, fingerprint(parts()), parts()) == step  # same code: resume
    edited = {**code_identity(), "source": "0" * 64}
    monkeypatch.setattr(checkpoints, "code_identity", lambda: edited)
    assert prepare_checkpoint_dir(paths.checkpoints, fingerprint(parts()), parts()) is None
    assert not step.exists()
