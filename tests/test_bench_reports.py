"""The tables the benchmark scripts write for the README and docs/ (never typed in): built from
the figures the scripts recorded, each with the conditions it was measured under."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ratio(wall: float, values: list[float]) -> dict:
    return {"wall": wall, "cpu": wall, "target": 0.95,
            "wall_per_repeat": {"median": sorted(values)[1], "min": min(values), "max": max(values)},
            "cpu_per_repeat": {"median": sorted(values)[1], "min": min(values), "max": max(values)}}


REPORT = {
    "finetune": {
        "batch_size": 32, "max_seq_length": 64, "repeats": 3, "measured_on": "2026-11-29",
        "samples_per_second": {"pipeline:lora": 9.5, "plain:lora": 9.9, "plain:full": 5.5},
        "samples_per_cpu_second": {"pipeline:lora": 5.0, "plain:lora": 5.1, "plain:full": 3.0},
        "trainable_parameters": {"pipeline:lora": 98304, "plain:lora": 98304, "plain:full": 117505920},
        "peak_rss_mib": {"pipeline:lora": 3900, "plain:lora": 3860, "plain:full": 6640},
        "measurements": {"pipeline:lora": [{"load_1min": 1.4}, {"load_1min": 6.2}], "plain:lora": [{"load_1min": 2.0}]},
        "pipeline_vs_plain": _ratio(0.96, [0.91, 0.96, 1.02]),
        "default_vs_naive_full": {**_ratio(1.73, [1.5, 1.7, 1.9]), "target": 1.5},
    },
    "evaluate": {"speed_up": 2.5, "shared_texts_per_s": 160.0, "separate_texts_per_s": 64.0, "texts_requested": 13962,
                 "texts_distinct": 6299, "benchmarks": 22, "speed_up_dedup_only": 2.6, "load_average_1min": [0.9, 1.9]},
    "mining": {"runs": [{"products": 1000, "anchors": 2000, "search_s": 5.7, "peak_rss_mib": 571.0},
                        {"products": 10000, "anchors": 2000, "search_s": 5.2, "peak_rss_mib": 664.0}],
               "harness_load_1min": [0.67, 0.91], "measured_on": "2026-11-29"},
    "pipeline": {"stages": [{"stage": "clean", "seconds": 3.0, "peak_rss_mib": 260}], "total_s": 745.0,
                 "noop_s_median": 1.9, "evaluate_param_change": {"seconds": 300.0, "reran": ["evaluate"]},
                 "harness_load_1min": [1.6, 2.3], "measured_on": "2026-11-29"},
}


def test_targets_table_carries_figures_spread_and_load() -> None:
    harness = _script("harness")
    text = "\n".join(harness._targets_markdown(REPORT))
    finetune = next(line for line in text.splitlines() if line.startswith("| finetune | pipeline vs plain"))
    # the ratio, its per-repeat median and spread, the load range over all repeats, the day, the target
    assert "0.96x wall" in finetune and "0.96x wall [0.91-1.02]" in finetune
    assert "| 1.40-6.20 |" in finetune and "| 2026-11-29 |" in finetune and finetune.endswith("| >= 0.95 |")
    evaluate = next(line for line in text.splitlines() if line.startswith("| evaluate"))
    assert "2.5x" in evaluate and "13,962 requests, 6,299 distinct" in evaluate and "| 0.90-1.90 | - |" in evaluate
    assert "| plain:full | 5.50 | 3.00 | 117,505,920 | 6,640 |" in text
    mining = next(line for line in text.splitlines() if line.startswith("| mining"))
    assert "1,000 / 10,000 products" in mining and "5.7 / 5.2 s" in mining
    assert "| 0.67-0.91 |" in mining  # no load of its own: the harness's reading around it
    assert "synonyms" not in text  # a part not measured gets no row


ONNX = {
    "threads": 2, "repeats": 3, "measured_on": "2026-12-06", "load_average_1min": [1.8, 2.4],
    "texts_per_s": {v: {f"batch{b}_tokens{n}": rate * b / n * 64 for b in (1, 32) for n in (64, 256)}
                    for v, rate in (("torch-fp32", 10.0), ("onnx-fp32", 13.0), ("onnx-int8", 25.0))},
    "peak_rss_mib": {"torch-fp32": 1800, "onnx-fp32": 1100, "onnx-int8": 600},
    "file_mib": {"torch-fp32": 448.3, "onnx-fp32": 448.5, "onnx-int8": 112.9},
    "parity": {"fp32_min_cosine": 1.0, "int8_mean_cosine": 0.9969, "int8_min_cosine": 0.9955},
}
ONNX["speed_up_vs_torch"] = {v: {k: round(x / ONNX["texts_per_s"]["torch-fp32"][k], 2) for k, x in rates.items()}
                             for v, rates in ONNX["texts_per_s"].items() if v != "torch-fp32"}


def test_onnx_table_and_target_row_carry_the_speed_ups_and_the_load() -> None:
    harness = _script("harness")
    table = harness._onnx_markdown(ONNX)
    assert table[0] == ("| model | batch 1, 64 tokens | batch 1, 256 tokens | batch 32, 64 tokens | batch 32, 256 tokens "
                        "| peak RSS MiB | file MiB |")
    int8 = next(line for line in table if line.startswith("| ONNX int8"))
    assert "| 800.0 (2.50x) |" in int8 and int8.endswith("| 600 | 112.9 |")
    torch_row = next(line for line in table if line.startswith("| PyTorch fp32"))
    assert "(" not in torch_row.split("|", 2)[2]  # the baseline has no ratio to itself
    assert "median of 3 interleaved rounds, 2 threads each" in table[-1] and "1-minute load 1.80-2.40" in table[-1]
    assert "int8 mean 0.996900" in table[-1] and "2026-12-06" in table[-1]
    row = next(line for line in harness._targets_markdown({"onnx": ONNX}) if line.startswith("| onnx"))
    assert "2.50x / 2.50x (800.0 vs 320.0 / 200.0 vs 80.0 texts/s" in row and row.endswith("| 1.80-2.40 | 2026-12-06 | >= 2 |")


def test_pipeline_summary_states_the_target_and_the_load() -> None:
    harness = _script("harness")
    line = harness._pipeline_summary(REPORT["pipeline"])
    assert "745.0 s (12.4 min; target <= 15 min)" in line and "1-minute load 1.60-2.30" in line
    assert "2026-11-29" in line and "1.9 s" in line
    assert "load not recorded" in harness._pipeline_summary({k: v for k, v in REPORT["pipeline"].items()
                                                             if k != "harness_load_1min"})


SUITE = {"runs": {"fast_lane": {"command": "pytest -m 'not slow'", "seconds": 171.4, "target_s": 180, "returncode": 0,
                                 "outcome": "440 passed, 1 xfailed in 171.00s", "slowest": []},
                   "full": {"command": "pytest", "seconds": 1180.2, "target_s": 600, "returncode": 1,
                            "outcome": "1 failed, 472 passed in 1179.82s (0:19:39)", "slowest": []}},
         "harness_load_1min": [1.1, 1.4], "measured_on": "2026-12-07"}


def test_suite_rows_and_summary_carry_time_outcome_and_target() -> None:
    harness = _script("harness")
    line = harness._suite_summary(SUITE)
    assert "`pytest -m 'not slow'` 171.4 s (2.9 min, target <= 3 min)" in line
    assert "`pytest` 1180.2 s (19.7 min, target <= 10 min): 1 failed, 472 passed" in line  # a red run says so
    assert "1-minute load 1.10-1.40, 2026-12-07" in line and "one process" in line
    assert "machine, 2 pytest-xdist workers, 1-minute" in harness._suite_summary({**SUITE, "workers": 2})
    rows = [row for row in harness._targets_markdown({"suite": SUITE}) if row.startswith("| suite")]
    assert len(rows) == 2 and "| <= 600 s |" in rows[1] and "(full suite)" in rows[1]


def _exp_row(name: str, rev: str, score: float) -> dict:
    row = {"Experiment": name, "rev": rev}
    for split in ("dev", "test"):
        for system, value in (("base", 0.8), ("finetuned", score), ("delta", score - 0.8)):
            key = f"metrics/WBBrandSyns.json:{split}.{system}.ndcg@10"
            row.update({key: value, f"{key}_ci_low": value - 0.01, f"{key}_ci_high": value + 0.01})
        row[f"metrics/WBBrandSyns.json:{split}.delta.significant"] = score - 0.8 > 0.01
    return row


def test_brandsyns_before_after_table() -> None:
    module = _script("brandsyns_before_after")
    rows = [{"Experiment": None, "rev": "workspace"}, _exp_row("default", "aaa1111", 0.84),
            _exp_row("pronounce-only", "bbb2222", 0.805)]
    lines = module.table(rows).splitlines()
    assert len(lines) == 2 + 4
    before, after = lines[2], lines[4]
    assert before.startswith("| before: `pronounce` alone (pronounce-only, bbb2222) | dev |")
    assert "| 0.8050 [0.7950, 0.8150] | 0.0050 [-0.0050, 0.0150] | False |" in before
    assert after.startswith("| after: `g2p` + `pronounce` (default) (default, aaa1111) | dev |") and after.endswith("True |")
    with pytest.raises(SystemExit, match="pronounce-only"):
        module.table(rows[:2])


@pytest.mark.parametrize("sweep", ["ablation.yaml", "int8_dev.yaml"])
def test_every_sweep_candidate_is_valid_params(sweep: str, tmp_path: Path) -> None:
    """Each candidate of a dev sweep, applied to params.yaml by DVC's own override parser exactly as
    its `-S` flags are written (regex backslashes, quoted strings, lists), gives the values the
    sweep file names and passes the params schema (a misspelt key or a mangled value would fail
    only once its experiment ran)."""
    import shutil

    from dvc.utils.hydra import apply_overrides

    from wb_embedder.config import load_params

    ablation = _script("ablation")
    candidates = ablation.candidates(ROOT / "bench" / sweep)
    assert candidates["default"] == {} and len(candidates) > 3
    if sweep == "ablation.yaml":
        assert {"simcse-mixed", "simcse-first-phase", "triplet-loss"} <= set(candidates)
    for name, overrides in candidates.items():
        path = tmp_path / f"{name}.yaml"
        shutil.copyfile(ROOT / "params.yaml", path)
        apply_overrides(str(path), [ablation._override(key, value) for key, value in overrides.items()])
        params = load_params(path).model_dump()
        for key, value in overrides.items():
            validated = params
            for part in key.split("."):
                validated = validated[part]
            assert validated == value, (name, key, validated)
