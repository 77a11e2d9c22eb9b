"""A throwaway copy of this repository with tiny params, driven by the real git and dvc commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Small enough that the whole pipeline runs in a couple of minutes on 2 cores, big enough that
# every task and benchmark has rows.
# Shorter texts (32 tokens) and 200 bootstrap resamples take about an eighth off each run; the
# code paths are the default's.
TINY_OVERRIDES: dict[str, Any] = {
    "model": {"max_seq_length": 32},
    "corpus": {"n_products": 240, "n_support_facts": 48, "questions_per_fact": 6},
    "triplets": {"positives": {"max_anchors_per_task": 60}},
    "finetune": {"max_steps": 6, "batch_size": 16},
    "evaluate": {"classification": {"n_experiments": 2}, "bootstrap": {"samples": 200}},
}


# tests/params_trace/sitecustomize.py: with these variables, each stage records the params keys it
# reads (tests/test_pipeline.py checks them against what dvc.yaml declares).
PARAMS_TRACER = Path(__file__).resolve().parent / "params_trace"


def params_trace_env(trace_dir: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(PARAMS_TRACER), os.environ.get("PYTHONPATH")])),
            "WB_PARAMS_TRACE": str(trace_dir)}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Stage commands say `python`: it must be this interpreter, with its packages.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    env.update(extra or {})
    return env


def run(args: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command (``env``: variables added to the test environment); on failure the assertion
    carries its output."""
    proc = subprocess.run(args, cwd=cwd, env=_env(env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def dvc(*args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "dvc", *args], cwd, check, env)


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(["git", *args], cwd)


def deep_update(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in updates.items():
        out[key] = deep_update(base[key], value) if isinstance(value, dict) else value
    return out


def set_params(repo: Path, updates: dict[str, Any]) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(deep_update(params, updates), allow_unicode=True, sort_keys=False), encoding="utf-8")


@contextmanager
def scratch_dir(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A folder for a module's tiny pipeline, removed when the module is done with it: pytest's
    retention policy frees only function-scoped folders, and each pipeline holds gigabytes."""
    path = factory.mktemp(name)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_repo(dst: Path, overrides: dict[str, Any] | None = None) -> Path:
    """Copy the project's source files (what git would check out, no outputs) into a new git repo."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / name)
    # A stale lock from the developer's default run would only confuse the tiny one.
    (dst / "dvc.lock").unlink(missing_ok=True)
    set_params(dst, deep_update(TINY_OVERRIDES, overrides or {}))
    git("init", "-q", "-b", "main", cwd=dst)
    git("add", "-A", cwd=dst)
    git("commit", "-q", "-m", "tiny project", cwd=dst)
    return dst


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
