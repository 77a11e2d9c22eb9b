"""A throwaway copy of this repository with tiny params, driven by the real git and dvc commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tiny_encoder import shared_tiny_encoder

ROOT = Path(__file__).resolve().parents[1]

# Small enough that the whole pipeline runs in about a minute on 2 cores, big enough that every
# task and benchmark has rows. The base model is the tiny encoder (tests/tiny_encoder.py: e5's
# tokenizer and architecture, 2 layers 32 wide), filled in by make_repo; shorter texts (32
# tokens) and 200 bootstrap resamples take a little more off each run; the code paths are the
# default's.
TINY_OVERRIDES: dict[str, Any] = {
    "model": {"max_seq_length": 32},
    "corpus": {"n_products": 240, "n_support_facts": 48, "questions_per_fact": 6},
    "triplets": {"positives": {"max_anchors_per_task": 60}},
    # The random tiny encoder needs a larger step than e5's 2e-5 to move in 6 steps: a fine-tuned
    # model that scores like its base would hide every delta the tests compare.
    "finetune": {"max_steps": 6, "batch_size": 16, "learning_rate": 1.0e-3},
    "evaluate": {"classification": {"n_experiments": 2}, "bootstrap": {"samples": 200}},
    # The real-text classifiers are fit per fold on a fixed 2829 texts, the tiny corpus aside: two
    # folds halve the fits (about 10 s of each evaluation stage).
    "real": {"folds": 2},
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
    tiny = deep_update(TINY_OVERRIDES, {"model": {"base": str(shared_tiny_encoder())}})
    set_params(dst, deep_update(tiny, overrides or {}))
    git("init", "-q", "-b", "main", cwd=dst)
    git("add", "-A", cwd=dst)
    git("commit", "-q", "-m", "tiny project", cwd=dst)
    return dst


STAGES = ["check_params", "base_model", "corpus", "clean", "gen_synonyms", "gen_triplets", "finetune", "benchmarks",
          "real_benchmarks", "leakage", "evaluate_base", "evaluate", "evaluate_lexical", "export", "evaluate_int8",
          "report"]


def ran_stages(output: str) -> set[str]:
    """Stages that `dvc repro` actually executed (not skipped, not restored from the run cache)."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def clone(source: Path, dst: Path) -> Path:
    git("clone", "-q", str(source), str(dst), cwd=source.parent)
    return dst


def clone_with_cache(source: Path, dst: Path) -> Path:
    """A git clone of ``source`` with a copy of its DVC cache (run cache included) and its outputs
    checked out: a project that reruns only what a test changes, and whose runs do not reach back
    into ``source`` (each test's clone starts from the same state, whatever ran before it)."""
    clone(source, dst)
    shutil.copytree(source / ".dvc" / "cache", dst / ".dvc" / "cache")
    dvc("checkout", cwd=dst)
    return dst


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
