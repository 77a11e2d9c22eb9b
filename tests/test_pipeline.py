"""The real pipeline through `dvc repro` on the tiny corpus, and the ways users share and compare it.

One repository (A) runs the whole pipeline once; the other tests clone it, push and pull through
remotes, switch params and branches, and check what DVC reruns. No mocks of DVC or git.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline_repo import commit_all, dvc, git, make_repo, set_params

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BENCHMARKS = [
    "WBQAGoods", "WBSimGoods-triplets", "WBSearchQueryNmRelevance", "WBQASupportFacts", "WBReviewsClassification",
    "WBReviewsPolarityClassification", "WBReviewsSummarizationClassification", "WBGoodsCategoriesClassification",
    "WBGenderClassification", "WBQASupportShort", "WBBrandSyns",
]
REAL_BENCHMARKS = ["RealOzonTitleLeaf", "RealOzonTitleRoot", "RealWBReviewsPolarity", "RealWBReviewsStars"]
STAGES = ["check_params", "base_model", "corpus", "clean", "gen_synonyms", "gen_triplets", "finetune", "benchmarks",
          "real_benchmarks", "leakage", "evaluate_base", "evaluate", "evaluate_lexical", "export", "evaluate_int8",
          "report"]
UPSTREAM_OF_FINETUNE = ["check_params", "base_model", "corpus", "clean", "gen_synonyms", "gen_triplets", "benchmarks",
                        "real_benchmarks", "leakage", "evaluate_base", "evaluate_lexical"]


def ran_stages(output: str) -> set[str]:
    """Stages that `dvc repro` actually executed (not skipped, not restored from the run cache)."""
    return set(re.findall(r"Running stage '([^']+)'", output))


# The training curves log wall-clock time and samples/s per step: by nature no two runs agree on
# them. Every other output (the model included) must be bit-identical between identical runs.
WALL_CLOCK_LOGS = ("dvclive/",)


def lock_hashes(repo: Path) -> dict[str, str]:
    """path -> md5 of every stage output recorded in dvc.lock, the wall-clock logs aside."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    return {out["path"]: out["md5"] for out in outs if not out["path"].startswith(WALL_CLOCK_LOGS)}


def metrics_files(repo: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((repo / "metrics").glob("*.json"))}


@pytest.fixture(scope="module")
def remote_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote")


@pytest.fixture(scope="module")
def repo_a(tmp_path_factory: pytest.TempPathFactory, remote_dir: Path) -> Path:
    """The tiny pipeline, run once end to end and committed, its default remote a local folder."""
    repo = make_repo(tmp_path_factory.mktemp("a"))
    dvc("remote", "modify", "shared", "url", str(remote_dir), cwd=repo)
    proc = dvc("repro", cwd=repo)
    assert ran_stages(proc.stdout) == set(STAGES), proc.stdout
    commit_all(repo, "tiny run")
    return repo


def clone(source: Path, dst: Path) -> Path:
    git("clone", "-q", str(source), str(dst), cwd=source.parent)
    return dst


# --------------------------------------------------------------------------- the run itself


def test_repro_writes_every_output(repo_a: Path) -> None:
    for path in ["models/base/config.json", "models/finetuned/config.json", "models/finetuned/README.md",
                 "data/clean/products.parquet", "data/synonyms/synonyms.parquet", "data/triplets/manifest.json",
                 "data/annotation_queue.csv", "data/benchmarks/dev", "data/benchmarks/test", "data/eval/lexical",
                 "data/real_benchmarks/dev", "data/real_benchmarks/test",
                 "models/onnx/model.onnx", "models/onnx/model_int8.onnx", "models/onnx/tokenizer.json",
                 "models/onnx/prompts.json", "data/eval/int8/test",
                 "metrics/summary.json", "metrics/comparison.csv", "metrics/report.md"]:
        assert (repo_a / path).exists(), path
    # The export of the fine-tuned model, checked against it when written.
    manifest = json.loads((repo_a / "models/onnx/manifest.json").read_text(encoding="utf-8"))
    assert manifest["exported"] and manifest["max_seq_length"] == 32 and manifest["parity"]["fp32_min_cosine"] >= 0.9999
    for name in ["clean", "synonyms", "triplets", "leakage"]:
        stats = json.loads((repo_a / "data/stats" / f"{name}.json").read_text(encoding="utf-8"))
        assert stats, name
    leakage = json.loads((repo_a / "data/stats/leakage.json").read_text(encoding="utf-8"))
    assert leakage["passed"] and leakage["brands"]["test"]["share"] == 0.0
    # Every real text was checked against the training texts and the corpus, and none is a copy.
    assert leakage["real_text"]["texts"] == 2400 + 429 and leakage["real_text"]["with_near_copy_in_project"] == 0
    for bench in BENCHMARKS:
        metrics = json.loads((repo_a / "metrics" / f"{bench}.json").read_text(encoding="utf-8"))
        assert set(metrics) == {"dev", "test"}, bench
        for split in ("dev", "test"):
            assert set(metrics[split]) == {"lexical", "base", "finetuned", "delta", "int8", "int8_delta"}, bench
            assert all(isinstance(v, float) for v in metrics[split]["finetuned"].values()), bench
            assert isinstance(metrics[split]["delta"]["significant"], bool), bench
    summary = json.loads((repo_a / "metrics/summary.json").read_text(encoding="utf-8"))
    for split in ("dev", "test"):
        assert set(BENCHMARKS) <= set(summary[split])
        mean = summary[split]["mean"]["main_score"]
        assert mean["finetuned_ci_low"] <= mean["finetuned"] <= mean["finetuned_ci_high"]
        # The int8 export next to the fine-tuned model, with the paired interval of their difference.
        assert mean["int8_delta_ci_low"] <= mean["int8_delta"] <= mean["int8_delta_ci_high"]
        assert summary[split]["counts"]["int8_significantly_worse"] >= 0
        # The real-text suite: its own key, never one of the benchmarks the mean averages.
        assert set(summary["real"][split]) == {*REAL_BENCHMARKS, "counts"}
        assert not set(REAL_BENCHMARKS) & set(summary[split])
        for bench in REAL_BENCHMARKS:
            entry = next(iter(summary["real"][split][bench].values()))
            assert entry["delta_ci_low"] <= entry["delta"] <= entry["delta_ci_high"], bench
    assert summary["int8"] == {"scored": True} and "### test: int8 export vs fine-tuned" in (repo_a / "metrics/report.md").read_text()
    real = json.loads((repo_a / "metrics/real.json").read_text(encoding="utf-8"))
    assert set(real) == set(REAL_BENCHMARKS) and "### real text, test half" in (repo_a / "metrics/real.md").read_text()
    # Generated data stays out of git: DVC tracks it.
    tracked = git("ls-files", cwd=repo_a).stdout.split()
    generated = ("models/", "data/clean", "data/triplets", "data/demo")
    assert not [p for p in tracked if p.startswith(generated) and not p.endswith(".gitignore")]


def test_noop_repro_runs_nothing(repo_a: Path) -> None:
    assert "up to date" in dvc("status", cwd=repo_a).stdout
    assert ran_stages(dvc("repro", cwd=repo_a).stdout) == set()


# --------------------------------------------------------------------------- sharing through remotes


def test_push_then_pull_in_a_fresh_clone_reruns_nothing(repo_a: Path, tmp_path: Path) -> None:
    dvc("push", cwd=repo_a)
    b = clone(repo_a, tmp_path / "b")
    dvc("pull", cwd=b)
    assert "up to date" in dvc("status", cwd=b).stdout
    assert ran_stages(dvc("repro", cwd=b).stdout) == set()
    assert lock_hashes(b) == lock_hashes(repo_a)


def test_only_upstream_pushed_reproduces_only_finetune_and_after(repo_a: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream-remote"
    dvc("remote", "add", "upstream", str(upstream), cwd=repo_a)
    try:
        dvc("push", "-r", "upstream", *UPSTREAM_OF_FINETUNE, cwd=repo_a)
    finally:
        dvc("remote", "remove", "upstream", cwd=repo_a)
    b = clone(repo_a, tmp_path / "b")
    dvc("remote", "add", "-d", "upstream", str(upstream), cwd=b)
    dvc("pull", *UPSTREAM_OF_FINETUNE, cwd=b)
    ran = ran_stages(dvc("repro", cwd=b).stdout)
    assert ran == {"finetune", "evaluate", "export", "evaluate_int8"}, ran
    # The same params on the same CPU give the same model and the same metrics.
    assert lock_hashes(b) == lock_hashes(repo_a)
    assert metrics_files(b) == metrics_files(repo_a)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (as DVC's own tests use it)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            proc.poll()
        if proc.poll() is not None:
            print(f"moto server could not start (exit {proc.returncode}); skipping the S3 round trip")
            pytest.skip("moto S3 server could not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_s3_remote_round_trip(repo_a: Path, tmp_path: Path, s3_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="wb-embedder")
    b = clone(repo_a, tmp_path / "b")
    # The S3 remote is configured in the clone's local config: credentials never enter git.
    for repo in (repo_a, b):
        dvc("remote", "add", "--local", "s3test", "s3://wb-embedder/cache", cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "endpointurl", s3_server, cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "access_key_id", "test", cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "secret_access_key", "test", cwd=repo)
    try:
        dvc("push", "-r", "s3test", cwd=repo_a)
    finally:
        dvc("remote", "remove", "--local", "s3test", cwd=repo_a)
    assert s3.list_objects_v2(Bucket="wb-embedder").get("KeyCount", 0) > 0
    dvc("pull", "-r", "s3test", cwd=b)
    assert "up to date" in dvc("status", cwd=b).stdout
    assert ran_stages(dvc("repro", cwd=b).stdout) == set()


# --------------------------------------------------------------------------- comparing and the run cache


def test_branches_metrics_diff_and_run_cache(repo_a: Path, tmp_path: Path) -> None:
    repo = clone(repo_a, tmp_path / "c")
    shutil.copytree(repo_a / ".dvc" / "cache", repo / ".dvc" / "cache")
    dvc("checkout", cwd=repo)
    git("checkout", "-q", "-b", "fewer-samples", cwd=repo)
    # An evaluate-only knob: only the evaluate stages and the report rerun (and check_params,
    # which validates every edit of params.yaml).
    set_params(repo, {"evaluate": {"classification": {"samples_per_label": 4}}})
    ran = ran_stages(dvc("repro", cwd=repo).stdout)
    assert ran == {"check_params", "evaluate_base", "evaluate", "evaluate_lexical", "evaluate_int8", "report"}, ran
    commit_all(repo, "fewer samples per label")

    diff = json.loads(dvc("metrics", "diff", "main", "fewer-samples", "--json", cwd=repo).stdout)
    # Intervals and the significance flag are metrics too: a diff shows them.
    assert "test.WBReviewsClassification.accuracy.delta_ci_low" in diff["metrics/summary.json"], diff
    assert "test.WBReviewsClassification.accuracy.int8_delta_ci_low" in diff["metrics/summary.json"], diff
    changed = {Path(path).stem for path, metrics in diff.items()
               if any(v.get("diff") not in (None, 0) for v in metrics.values())}
    assert "WBReviewsClassification" in changed, diff
    assert "WBQAGoods" not in changed  # retrieval does not use the classification knob
    # The real-text suite is classification too, and its figures show in the diff as well.
    assert "real" in changed and "real.dev.RealOzonTitleLeaf.accuracy.finetuned" in diff["metrics/summary.json"], diff
    params = json.loads(dvc("params", "diff", "main", "--json", cwd=repo).stdout)
    assert params["params.yaml"]["evaluate.classification.samples_per_label"]["new"] == 4

    # Back to the earlier params: outputs come from the run cache, nothing is recomputed.
    git("checkout", "-q", "main", cwd=repo)
    proc = dvc("repro", cwd=repo)
    assert ran_stages(proc.stdout) == set(), proc.stdout
    assert "is cached - skipping run" in proc.stdout
    assert lock_hashes(repo) == lock_hashes(repo_a)


def test_repro_from_scratch_is_deterministic(repo_a: Path, tmp_path: Path) -> None:
    d = clone(repo_a, tmp_path / "d")
    # A fresh clone has an empty cache and no outputs: every stage runs again.
    dvc("repro", "--force", cwd=d)
    assert lock_hashes(d) == lock_hashes(repo_a)
    assert metrics_files(d) == metrics_files(repo_a)
