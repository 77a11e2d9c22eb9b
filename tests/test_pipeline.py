"""The real pipeline through `dvc repro` on the tiny corpus, and the ways users share and compare it.

One repository (A) runs the whole pipeline once; the other tests clone it, push and pull through
remotes, switch params and branches, and check what DVC reruns. No mocks of DVC or git.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline_repo import STAGES, clone, clone_with_cache, commit_all, dvc, git, ran_stages, set_params

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BENCHMARKS = [
    "WBQAGoods", "WBSimGoods-triplets", "WBSearchQueryNmRelevance", "WBQASupportFacts", "WBReviewsClassification",
    "WBReviewsPolarityClassification", "WBReviewsSummarizationClassification", "WBGoodsCategoriesClassification",
    "WBGenderClassification", "WBQASupportShort", "WBBrandSyns",
]
REAL_BENCHMARKS = ["RealOzonTitleLeaf", "RealOzonTitleRoot", "RealWBReviewsPolarity", "RealWBReviewsStars"]
UPSTREAM_OF_FINETUNE = ["check_params", "base_model", "corpus", "clean", "gen_synonyms", "gen_triplets", "benchmarks",
                        "real_benchmarks", "leakage", "evaluate_base", "evaluate_lexical"]


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


# --------------------------------------------------------------------------- the run itself


def test_repro_writes_every_output(repo_a: Path) -> None:
    for path in ["models/base/config.json", "models/finetuned/config.json", "models/finetuned/README.md",
                 "data/clean/products.parquet", "data/synonyms/synonyms.parquet", "data/triplets/manifest.json",
                 "data/annotation_queue.csv", "data/benchmarks/dev", "data/benchmarks/test", "data/eval/lexical",
                 "data/real_benchmarks/dev", "data/real_benchmarks/test",
                 "models/onnx/model.onnx", "models/onnx/model_int8.onnx", "models/onnx/tokenizer.json",
                 "models/onnx/prompts.json", "data/eval/int8/test",
                 "metrics/summary.json", "metrics/comparison.csv", "metrics/report.md", "metrics/plots/test.csv",
                 "metrics/plots/delta.csv", "metrics/results.svg"]:
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
    assert "skipped" not in summary  # the demo corpus builds all 11
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


def test_noop_repro_runs_nothing(repo_a_in_place: Path) -> None:
    assert "up to date" in dvc("status", cwd=repo_a_in_place).stdout
    assert ran_stages(dvc("repro", cwd=repo_a_in_place).stdout) == set()


# --------------------------------------------------------------------------- sharing through remotes


def test_push_then_pull_in_a_fresh_clone_reruns_nothing(repo_a_in_place: Path, tmp_path: Path) -> None:
    dvc("push", cwd=repo_a_in_place)
    b = clone(repo_a_in_place, tmp_path / "b")
    dvc("pull", cwd=b)
    assert "up to date" in dvc("status", cwd=b).stdout
    assert ran_stages(dvc("repro", cwd=b).stdout) == set()
    assert lock_hashes(b) == lock_hashes(repo_a_in_place)


def test_only_upstream_pushed_reproduces_only_finetune_and_after(repo_a_in_place: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream-remote"
    dvc("remote", "add", "upstream", str(upstream), cwd=repo_a_in_place)
    try:
        dvc("push", "-r", "upstream", *UPSTREAM_OF_FINETUNE, cwd=repo_a_in_place)
    finally:
        dvc("remote", "remove", "upstream", cwd=repo_a_in_place)
    b = clone(repo_a_in_place, tmp_path / "b")
    dvc("remote", "add", "-d", "upstream", str(upstream), cwd=b)
    dvc("pull", *UPSTREAM_OF_FINETUNE, cwd=b)
    # The stages whose outputs are missing are what a repro reruns; everything upstream is in place.
    # (That the rerun gives the same model and metrics on the same CPU is
    # test_repro_from_scratch_is_deterministic's claim, for every stage.)
    status = json.loads(dvc("status", "--json", cwd=b).stdout)
    missing = {stage for stage, changes in status.items()
               if any("changed outs" in change for change in changes if isinstance(change, dict))}
    assert missing == {"finetune", "evaluate", "export", "evaluate_int8"}, status
    assert not set(status) & set(UPSTREAM_OF_FINETUNE), status


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


def test_s3_remote_round_trip(repo_a_in_place: Path, tmp_path: Path, s3_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="wb-embedder")
    b = clone(repo_a_in_place, tmp_path / "b")
    # The S3 remote is configured in the clone's local config: credentials never enter git.
    for repo in (repo_a_in_place, b):
        dvc("remote", "add", "--local", "s3test", "s3://wb-embedder/cache", cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "endpointurl", s3_server, cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "access_key_id", "test", cwd=repo)
        dvc("remote", "modify", "--local", "s3test", "secret_access_key", "test", cwd=repo)
    try:
        dvc("push", "-r", "s3test", cwd=repo_a_in_place)
    finally:
        dvc("remote", "remove", "--local", "s3test", cwd=repo_a_in_place)
    assert s3.list_objects_v2(Bucket="wb-embedder").get("KeyCount", 0) > 0
    dvc("pull", "-r", "s3test", cwd=b)
    assert "up to date" in dvc("status", cwd=b).stdout
    assert ran_stages(dvc("repro", cwd=b).stdout) == set()


# --------------------------------------------------------------------------- comparing and the run cache


def test_branches_metrics_diff_and_run_cache(repo_a: Path, tmp_path: Path) -> None:
    repo = clone_with_cache(repo_a, tmp_path / "c")
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
    # The int8 copy's interval too (on the random tiny encoder int8 and fp32 may classify one
    # benchmark identically before and after, so any benchmark's will do).
    assert any(key.endswith("int8_delta_ci_low") for key in diff["metrics/summary.json"]), diff
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



def covered(key: str, by: set[str]) -> bool:
    return any(key == other or key.startswith(f"{other}.") for other in by)


def test_each_stage_declares_exactly_the_params_it_reads(repo_a: Path, params_trace: Path) -> None:
    """What each stage's code read from params during the tiny run (tests/params_trace) against the
    keys its dvc.yaml entry declares: a read key no declared key covers would not rerun the stage
    when it changes; a declared key nothing read reruns it for nothing. check_params validates the
    whole file by design."""
    stages = yaml.safe_load((repo_a / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    traces = [json.loads(path.read_text(encoding="utf-8")) for path in params_trace.glob("*.json")]
    problems = []
    for name, stage in stages.items():
        if name == "check_params":
            continue
        runs = [trace for trace in traces if trace["argv"] == stage["cmd"].split()[1:]]
        if not runs:
            problems.append(f"{name}: no trace of `{stage['cmd']}`")
            continue
        read = set().union(*(trace["reads"] for trace in runs))
        declared = {entry for entry in stage.get("params", []) if isinstance(entry, str)}
        undeclared = sorted(key for key in read if not covered(key, declared))
        unread = sorted(key for key in declared if not any(covered(r, {key}) or covered(key, {r}) for r in read))
        if undeclared:
            problems.append(f"{name} reads {undeclared} without declaring them")
        if unread:
            problems.append(f"{name} declares {unread} and reads none of it")
    assert not problems, "\n".join(problems)


def changed_stages(repo: Path) -> set[str]:
    """Stages whose own dependencies (params, code, inputs) differ from dvc.lock."""
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout or "{}"))


def test_a_knob_or_a_module_invalidates_only_the_stages_that_read_it(repo_a: Path, tmp_path: Path) -> None:
    """Exact invalidation: a report-only knob changes only the report (and check_params, which
    validates every edit of params.yaml); an edit of the MinHash code changes the stages that run
    it and never training (schemas import no logic)."""
    repo = clone(repo_a, tmp_path / "inv")
    # The outputs as symlinks into the tiny run's cache: dvc status needs them in place, not copied.
    dvc("cache", "dir", "--local", str(repo_a / ".dvc" / "cache"), cwd=repo)
    dvc("config", "--local", "cache.type", "symlink", cwd=repo)
    dvc("checkout", cwd=repo)
    assert changed_stages(repo) == set()
    samples = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))["evaluate"]["bootstrap"]["samples"]
    set_params(repo, {"evaluate": {"bootstrap": {"samples": samples + 100}}})
    assert changed_stages(repo) == {"check_params", "report"}
    git("checkout", "-q", "params.yaml", cwd=repo)
    with (repo / "src/wb_embedder/near_duplicates.py").open("a", encoding="utf-8") as module:
        module.write("\n# an edit\n")
    changed = changed_stages(repo)
    assert {"clean", "leakage", "real_benchmarks"} <= changed and "finetune" not in changed, changed


# --------------------------------------------------------------------------- a partial dump (issue 28)

MINIMAL_BUILT = ["WBReviewsClassification", "WBReviewsPolarityClassification", "WBGoodsCategoriesClassification"]


def test_a_minimal_dump_runs_end_to_end_and_diffs_against_the_full_one(repo_a: Path, tmp_path: Path) -> None:
    """Cards with an id, a title and a category, reviews with a product, a text and stars, the other
    tables null: `dvc repro` builds and scores the 3 benchmarks they support, lists the other 8 with
    their reasons, and `dvc metrics diff` against the full run (main) works."""
    import pandas as pd

    repo = clone_with_cache(repo_a, tmp_path / "m")
    git("checkout", "-q", "-b", "minimal", cwd=repo)
    raw = repo / "data" / "raw"
    raw.mkdir()
    cards = pd.read_parquet(repo / "data/demo/cards.parquet")[["nmid", "title", "parentname"]].drop_duplicates("nmid")
    cards.to_csv(raw / "cards.csv", index=False)
    pd.read_parquet(repo / "data/demo/reviews.parquet")[["nmid", "text", "rating"]].to_csv(raw / "reviews.csv",
                                                                                            index=False)
    # null tables: a ${data.product_qa} dependency would not even parse; clean depends on data.folder
    set_params(repo, {"data": {"folder": "data/raw", "cards": "data/raw/cards.csv", "reviews": "data/raw/reviews.csv",
                               "product_qa": None, "support": None}})
    proc = dvc("repro", cwd=repo)
    ran = ran_stages(proc.stdout)
    assert {"clean", "gen_triplets", "finetune", "benchmarks", "evaluate", "report"} <= ran, proc.stdout
    assert not {"base_model", "corpus", "real_benchmarks"} & ran  # the real-text suite does not depend on the dump
    commit_all(repo, "minimal dump")

    built = json.loads((repo / "data/stats/benchmarks.json").read_text(encoding="utf-8"))
    assert built["built"] == MINIMAL_BUILT
    summary = json.loads((repo / "metrics/summary.json").read_text(encoding="utf-8"))
    assert summary["skipped"] == built["skipped"] and set(summary["skipped"]) == set(BENCHMARKS) - set(MINIMAL_BUILT)
    assert summary["skipped"]["WBQAGoods"].startswith("needs product_qa, which the dump does not have")
    for split in ("dev", "test"):
        assert set(summary[split]) == {*MINIMAL_BUILT, "mean", "counts"} and summary[split]["counts"]["benchmarks"] == 3
        assert set(summary["real"][split]) == {*REAL_BENCHMARKS, "counts"}
    for bench in BENCHMARKS:
        metrics = json.loads((repo / "metrics" / f"{bench}.json").read_text(encoding="utf-8"))
        assert set(metrics) == ({"dev", "test"} if bench in MINIMAL_BUILT else {"skipped"}), bench
    assert "3 of 11 benchmarks built" in (repo / "metrics/report.md").read_text(encoding="utf-8")
    triplets = json.loads((repo / "data/stats/triplets.json").read_text(encoding="utf-8"))
    assert set(triplets["tasks"]) == {"review_rating", "review_polarity", "goods_category"}
    assert len(triplets["skipped"]) == 8

    diff = json.loads(dvc("metrics", "diff", "main", "minimal", "--json", cwd=repo).stdout)
    summary_diff = diff["metrics/summary.json"]
    assert summary_diff["skipped.WBQAGoods"] == {"old": None, "new": summary["skipped"]["WBQAGoods"]}
    assert "diff" in summary_diff["test.WBReviewsClassification.accuracy.finetuned"]  # built in both: a number
    assert summary_diff["test.counts.benchmarks"] == {"old": 11, "new": 3, "diff": -8}
    assert diff["metrics/WBQAGoods.json"]["skipped"]["new"] == summary["skipped"]["WBQAGoods"]
    assert "WBBrandSyns" in dvc("metrics", "diff", "main", "minimal", cwd=repo).stdout  # the table form too


def test_repro_from_scratch_is_deterministic(repo_a: Path, tmp_path: Path) -> None:
    d = clone(repo_a, tmp_path / "d")
    # A fresh clone has an empty cache and no outputs: every stage runs again.
    dvc("repro", "--force", cwd=d)
    assert lock_hashes(d) == lock_hashes(repo_a)
    assert metrics_files(d) == metrics_files(repo_a)


# --------------------------------------------------------------------------- the plain recipe, as the ablation runs it


def test_plain_recipe_runs_as_an_experiment_on_the_tiny_corpus(repo_a: Path, tmp_path: Path) -> None:
    """bench/ablation.yaml's `plain` candidate (what a user would write instead of the recipe),
    with the -S overrides bench/ablation.py queues: it retrains and rescores only, goes through
    the same report path, and its figures carry intervals."""
    sys.path.insert(0, str(repo_a / "bench"))
    try:
        from ablation import _override, candidates
    finally:
        sys.path.pop(0)
    repo = clone_with_cache(repo_a, tmp_path / "plain")
    overrides = [arg for key, value in candidates()["plain"].items() for arg in ("-S", _override(key, value))]
    proc = dvc("exp", "run", *overrides, cwd=repo)
    assert ran_stages(proc.stdout) == {"check_params", "finetune", "evaluate", "export", "evaluate_int8", "report"}, proc.stdout
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))["finetune"]
    assert params["multi_dataset_sampler"] == "pooled" and params["prompts"] == "none" and params["mode"] == "full"
    summary = json.loads((repo / "metrics/summary.json").read_text(encoding="utf-8"))
    original = json.loads((repo_a / "metrics/summary.json").read_text(encoding="utf-8"))
    mean = summary["dev"]["mean"]["main_score"]
    assert mean["finetuned_ci_low"] <= mean["finetuned"] <= mean["finetuned_ci_high"]
    assert mean["finetuned"] != original["dev"]["mean"]["main_score"]["finetuned"]
    assert summary["dev"]["mean"]["main_score"]["base"] == original["dev"]["mean"]["main_score"]["base"]


# --------------------------------------------------------------------------- the second seed's switches


def test_switches_train_with_simcse_and_triplet_loss_and_write_metrics(repo_a: Path, tmp_path: Path) -> None:
    """`dvc exp run -S ...` with the second seed's methods switched on, on the tiny run's cache:
    gen_triplets writes the unsupervised samples (counted, and audited by the leakage stage),
    finetune trains SimCSE as a first phase (its steps on top of max_steps) and the retrieval
    group with TripletLoss, and evaluate and report write the metrics. Nothing upstream of
    gen_triplets reruns."""
    repo = clone_with_cache(repo_a, tmp_path / "e")
    switches = {"triplets.unsupervised.enabled": "true", "finetune.simcse.arrangement": "first_phase",
                "finetune.simcse.steps": "2", "finetune.loss.retrieval": "triplet"}
    proc = dvc("exp", "run", *[arg for key, value in switches.items() for arg in ("-S", f"{key}={value}")], cwd=repo)
    ran = ran_stages(proc.stdout)
    assert {"gen_triplets", "finetune", "leakage", "evaluate", "report"} <= ran, ran
    assert not ran & {"corpus", "clean", "gen_synonyms", "base_model", "benchmarks", "evaluate_base"}, ran

    stats = json.loads((repo / "data/stats/triplets.json").read_text(encoding="utf-8"))["unsupervised"]
    assert stats["samples"] == sum(s["samples"] for s in stats["sources"].values()) > 0
    assert json.loads((repo / "data/stats/leakage.json").read_text(encoding="utf-8"))["passed"]
    finetuned = repo / "models" / "finetuned"
    summary = json.loads((finetuned / "finetune_summary.json").read_text(encoding="utf-8"))
    assert summary["steps"] == 6 + 2 and summary["simcse"] == {"arrangement": "first_phase", "steps": 2}
    assert summary["tasks"]["simcse"]["rows"] == stats["samples"]
    assert "TripletLoss" in (finetuned / "README.md").read_text(encoding="utf-8")
    metrics = json.loads((repo / "metrics/summary.json").read_text(encoding="utf-8"))
    assert set(BENCHMARKS) <= set(metrics["test"]) and metrics["dev"]["mean"]["main_score"]["finetuned"] > 0
    assert metrics_files(repo) != metrics_files(repo_a)  # a different model, scored anew
