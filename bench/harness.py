"""The benchmark harness: every speed figure of the project, in one report.

    python bench/harness.py                  # everything (about 45 minutes on 2 cores)
    python bench/harness.py --only pipeline  # a subset: pipeline, finetune, evaluate, mining, synonyms, onnx, suite
    python bench/harness.py --render         # only rewrite the Markdown from bench/results/report.json

Writes bench/results/report.json and bench/results/report.md (docs/performance.md shows the latter).

- pipeline: the default `dvc repro` from scratch in a fresh copy of the repository (empty DVC
  cache), stage by stage, with wall time and peak RSS of each stage; then a no-op `dvc repro`
  (median of 3), and the time after changing an evaluate-only param (which stages reran).
- suite: the test suite as the README runs it, the fast lane (`pytest -m "not slow"`) and then the
  full suite (`pytest`), each with its wall time, its outcome line and its slowest tests.
- finetune, evaluate, mining, synonyms, onnx: the component benchmarks next to this file, each
  comparison measured as a ratio within one run (onnx: PyTorch fp32 vs the ONNX export's fp32 and
  int8 graphs, whose table the README shows: bench/results/onnx.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from wb_embedder.io import read_yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTS = ("pipeline", "finetune", "evaluate", "mining", "synonyms", "onnx", "suite")
# The README's test commands and the targets of issue 24 (seconds on a quiet 2-core machine).
SUITE_RUNS = {"fast_lane": (["-m", "not slow"], 180), "full": ([], 600)}

logger = logging.getLogger("harness")

# Runs one command and prints the peak RSS of its process tree (the largest descendant: a
# stage's python process), so that each stage gets its own figure.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one command."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024, proc.stdout


def _copy_repo(dst: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            (dst / name).write_bytes(source.read_bytes())
    (dst / "dvc.lock").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    # DVCLive (in finetune) needs a commit to name the experiment's baseline.
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "bench copy"],
                   cwd=dst, check=True)


def _stage_order(repo: Path) -> list[str]:
    stages = yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return list(stages)  # dvc.yaml lists them in dependency order


def bench_pipeline() -> dict[str, Any]:
    dvc = [sys.executable, "-m", "dvc"]
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        repo = Path(tmp)
        _copy_repo(repo)
        stages = []
        for stage in _stage_order(repo):
            seconds, peak, _ = _timed([*dvc, "repro", "--single-item", stage], repo)
            stages.append({"stage": stage, "seconds": round(seconds, 1), "peak_rss_mib": round(peak)})
            logger.info("stage %s: %.1f s, %.0f MiB", stage, seconds, peak)
        noop = [_timed([*dvc, "repro"], repo)[0] for _ in range(3)]
        params = read_yaml(repo / "params.yaml")
        params["evaluate"]["classification"]["max_iter"] += 1
        (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False),
                                          encoding="utf-8")
        seconds, _, out = _timed([*dvc, "repro"], repo)
        reran = sorted({line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")})
    return {
        "stages": stages,
        "total_s": round(sum(s["seconds"] for s in stages), 1),
        "noop_s_median": round(statistics.median(noop), 2),
        "evaluate_param_change": {"seconds": round(seconds, 1), "reran": reran},
    }


def bench_suite() -> dict[str, Any]:
    """Each README test command in this checkout, timed; a failing suite is reported, not hidden."""
    runs = {}
    for name, (args, target) in SUITE_RUNS.items():
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5", *args]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
        seconds = time.perf_counter() - started
        lines = proc.stdout.strip().splitlines()
        slowest = [line.strip() for line in lines if re.match(r"^\d+\.\d+s (call|setup|teardown)", line)]
        runs[name] = {"command": shlex.join(["pytest", *args]), "seconds": round(seconds, 1), "target_s": target,
                      "returncode": proc.returncode, "outcome": lines[-1].strip("= ") if lines else "", "slowest": slowest}
        logger.info("%s: %.1f s, %s", name, seconds, runs[name]["outcome"])
    # pyproject's addopts run one pytest-xdist worker per logical CPU.
    return {"runs": runs, "workers": psutil.cpu_count(logical=True)}


def _component(script: str, extra: list[str]) -> dict[str, Any]:
    out = RESULTS / f"{Path(script).stem}.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / script), *extra, "--out", str(out)], cwd=ROOT, env=_env(),
                   check=True)
    return json.loads(out.read_text(encoding="utf-8"))


def _pipeline_markdown(p: dict[str, Any]) -> list[str]:
    lines = ["| stage | seconds | peak RSS MiB |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['seconds']} | {s['peak_rss_mib']} |" for s in p["stages"]]
    return lines + [f"| **total** | **{p['total_s']}** | |", "",
                    f"No-op `dvc repro`: {p['noop_s_median']} s (median of 3). After an evaluate-only param change: "
                    f"{p['evaluate_param_change']['seconds']} s, reran {', '.join(p['evaluate_param_change']['reran'])}."]


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"


def _load(part: str, r: dict[str, Any]) -> str:
    """The 1-minute load average around a part's run, as its benchmark recorded it."""
    if part == "finetune":
        return _span([m["load_1min"] for runs in r["measurements"].values() for m in runs])
    if part in ("evaluate", "onnx"):
        return _span(r["load_average_1min"])
    if part == "synonyms":
        return f"{r['load_avg_1m_at_end']:.2f} at the end"
    # Otherwise the load the harness read before and after the part ran.
    return _span(r["harness_load_1min"]) if "harness_load_1min" in r else "not recorded"


def _ratio(r: dict[str, Any]) -> str:
    wall, cpu = r["wall_per_repeat"], r["cpu_per_repeat"]
    return (f"{r['wall']:.2f}x wall, {r['cpu']:.2f}x CPU (ratio of medians); per repeat {wall['median']:.2f}x wall "
            f"[{wall['min']:.2f}-{wall['max']:.2f}], {cpu['median']:.2f}x CPU [{cpu['min']:.2f}-{cpu['max']:.2f}]")


def _targets_markdown(report: dict[str, Any]) -> list[str]:
    """One row per speed target of a component benchmark: the figure, the load it ran under, the
    day, the target (docs/performance.md shows this table verbatim)."""
    rows = []
    if "finetune" in report:
        f = report["finetune"]
        sps = f["samples_per_second"]
        rows.append(("finetune", "pipeline vs plain sentence-transformers script (LoRA, same settings)",
                     f"{_ratio(f['pipeline_vs_plain'])}; {sps['pipeline:lora']:.2f} vs {sps['plain:lora']:.2f} rows/s, "
                     f"{f['repeats']} interleaved repeats", f">= {f['pipeline_vs_plain']['target']}"))
        rows.append(("finetune", "LoRA mode (the default until the ablation) vs naive full fine-tuning",
                     f"{_ratio(f['default_vs_naive_full'])}; {sps['pipeline:lora']:.2f} vs {sps['plain:full']:.2f} rows/s",
                     f">= {f['default_vs_naive_full']['target']}"))
    if "evaluate" in report:
        e = report["evaluate"]
        rows.append(("evaluate", "shared cache + token-bucketed batches vs per-benchmark encoding",
                     f"{e['speed_up']}x ({e['shared_texts_per_s']} vs {e['separate_texts_per_s']} requested texts/s; "
                     f"{e['texts_requested']:,} requests, {e['texts_distinct']:,} distinct, {e['benchmarks']} "
                     f"benchmark splits; de-duplication alone {e['speed_up_dedup_only']}x)", ">= 2"))
    if "mining" in report:
        m = report["mining"]["runs"]
        sizes = " / ".join(f"{r['products']:,}" for r in m)
        seconds = " / ".join(f"{r['search_s']:.1f}" for r in m)
        peaks = " / ".join(f"{r['peak_rss_mib']:,.0f}" for r in m)
        rows.append(("mining", f"search, {sizes} products, {m[0]['anchors']:,} anchors",
                     f"{seconds} s, {peaks} MiB peak", "no worse than linear"))
    if "synonyms" in report:
        y = report["synonyms"]
        rows.append(("synonyms", f"gen_synonyms, {y['brands']:,} brands, every strategy on",
                     f"{y['wall_s']} s wall, {y['cpu_s']} s CPU, {y['peak_rss_mib']} MiB peak", "<= 120 s"))
    if "onnx" in report:
        o = report["onnx"]
        int8, fp32 = o["speed_up_vs_torch"]["onnx-int8"], o["texts_per_s"]["torch-fp32"]
        rows.append(("onnx", "int8 ONNX export vs PyTorch fp32, batch 32, 64 / 256 tokens",
                     f"{int8['batch32_tokens64']:.2f}x / {int8['batch32_tokens256']:.2f}x "
                     f"({o['texts_per_s']['onnx-int8']['batch32_tokens64']:.1f} vs {fp32['batch32_tokens64']:.1f} / "
                     f"{o['texts_per_s']['onnx-int8']['batch32_tokens256']:.1f} vs {fp32['batch32_tokens256']:.1f} "
                     f"texts/s; median of {o['repeats']} interleaved rounds, {o['threads']} threads each)", ">= 2"))
    if "suite" in report:
        for name, run in report["suite"]["runs"].items():
            rows.append(("suite", f"`{run['command']}`" + (" (fast lane)" if name == "fast_lane" else " (full suite)"),
                         f"{run['seconds']} s ({run['seconds'] / 60:.1f} min): {run['outcome']}",
                         f"<= {run['target_s']} s"))
    lines = ["| part | what | measured | 1-min load (2 cores) | on | target |", "|---|---|---|---|---|---|"]
    lines += [f"| {part} | {what} | {figure} | {_load(part, report[part])} | {report[part].get('measured_on', '-')} "
              f"| {target} |" for part, what, figure, target in rows]
    if "finetune" in report:
        f = report["finetune"]
        lines += ["", f"Finetune per mode (batch {f['batch_size']}, {f['max_seq_length']} tokens, median of "
                  f"{f['repeats']} repeats; `pipeline:` through the stage's code, `plain:` a plain "
                  "sentence-transformers script):", "",
                  "| run | rows/s wall | rows per CPU-s | trainable parameters | peak RSS MiB |", "|---|---|---|---|---|"]
        lines += [f"| {run} | {f['samples_per_second'][run]:.2f} | {f['samples_per_cpu_second'][run]:.2f} "
                  f"| {f['trainable_parameters'][run]:,} | {f['peak_rss_mib'][run]:,} |" for run in f["samples_per_second"]]
    return lines


ONNX_LABELS = {"torch-fp32": "PyTorch fp32 (sentence-transformers)", "onnx-fp32": "ONNX fp32 (ONNX Runtime)",
               "onnx-int8": "ONNX int8 (ONNX Runtime, dynamic quantization)"}


def _onnx_markdown(o: dict[str, Any]) -> list[str]:
    """The README's speed table of the shipped model: texts/s per variant and setting, peak RSS, file size."""
    settings = [(1, 64), (1, 256), (32, 64), (32, 256)]
    lines = ["| model | " + " | ".join(f"batch {b}, {n} tokens" for b, n in settings) + " | peak RSS MiB | file MiB |",
             "|---|" + "---|" * (len(settings) + 2)]
    for variant, label in ONNX_LABELS.items():
        cells = []
        for b, n in settings:
            key = f"batch{b}_tokens{n}"
            ratio = o["speed_up_vs_torch"].get(variant, {}).get(key)
            cells.append(f"{o['texts_per_s'][variant][key]:.1f}" + (f" ({ratio:.2f}x)" if ratio is not None else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {o['peak_rss_mib'][variant]:,} | "
                     f"{o['file_mib'][variant]:,.1f} |")
    parity = o["parity"]
    return lines + ["", f"Texts per second (in brackets: against PyTorch fp32), median of {o['repeats']} interleaved "
                    f"rounds, {o['threads']} threads each, every text exactly the length named; peak RSS of the "
                    f"process (the ONNX ones import no torch); on the {o['threads']}-core CPU machine, 1-minute load "
                    f"{_span(o['load_average_1min'])}, {o.get('measured_on', 'day not recorded')}. Cosine to "
                    f"PyTorch on the export's probe texts: fp32 min {parity['fp32_min_cosine']:.6f}, int8 mean "
                    f"{parity['int8_mean_cosine']:.6f} (min {parity['int8_min_cosine']:.6f}). Written by "
                    "`python bench/harness.py --only onnx`."]


def _pipeline_summary(p: dict[str, Any]) -> str:
    """The README's one line on the 15-minute target."""
    load = f"1-minute load {_load('pipeline', p)}" if "harness_load_1min" in p else "load not recorded"
    return (f"A default `dvc repro` from scratch (empty cache, every stage) took {p['total_s']} s "
            f"({p['total_s'] / 60:.1f} min; target <= 15 min) on the 2-core CPU machine ({load}, "
            f"{p.get('measured_on', 'day not recorded')}); a no-op `dvc repro` {p['noop_s_median']} s.")


def _suite_summary(r: dict[str, Any]) -> str:
    """The README's line on the test suite's time."""
    runs = "; ".join(f"`{run['command']}` {run['seconds']} s ({run['seconds'] / 60:.1f} min, target <= "
                     f"{run['target_s'] // 60} min): {run['outcome']}" for run in r["runs"].values())
    workers = f", {r['workers']} pytest-xdist workers" if "workers" in r else ", one process"
    return (f"{runs}. On the 2-core CPU machine{workers}, 1-minute load {_load('suite', r)}, "
            f"{r.get('measured_on', '-')}; written by `python bench/harness.py --only suite`.")


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Benchmark report ({report['machine']})", "", "## Targets", "", *_targets_markdown(report), ""]
    if "pipeline" in report:
        lines += ["## Default `dvc repro` from scratch", "", *_pipeline_markdown(report["pipeline"]), ""]
    for part in ("finetune", "evaluate", "mining", "synonyms", "onnx", "suite"):
        if part in report:
            lines += [f"## {part}", "", "```json", json.dumps(report[part], indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: rewrite the Markdown files from the report.json already written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report_path = RESULTS / "report.json"
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    if not args.render:
        report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    runners = {
        "pipeline": bench_pipeline,
        "finetune": lambda: _component("bench_finetune.py", []),
        "evaluate": lambda: _component("bench_evaluate.py", []),
        "mining": lambda: _component("bench_mining.py", []),
        "synonyms": lambda: _component("bench_synonyms.py", []),
        "onnx": lambda: _component("bench_onnx.py", []),
        "suite": bench_suite,
    }
    for part in [] if args.render else args.only:
        logger.info("benchmark: %s", part)
        load_before = os.getloadavg()[0]
        figures = runners[part]()
        report[part] = {**figures, "measured_on": datetime.date.today().isoformat(),
                        "harness_load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
        report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / "report.md").write_text(_markdown(report), encoding="utf-8")
    # docs/performance.md shows these files verbatim (python -m wb_embedder.docs)
    (RESULTS / "targets.md").write_text("\n".join(_targets_markdown(report)) + "\n", encoding="utf-8")
    if "pipeline" in report:
        (RESULTS / "pipeline.md").write_text("\n".join(_pipeline_markdown(report["pipeline"])) + "\n", encoding="utf-8")
        (RESULTS / "pipeline_summary.md").write_text(_pipeline_summary(report["pipeline"]) + "\n", encoding="utf-8")
    if "suite" in report:
        (RESULTS / "suite_summary.md").write_text(_suite_summary(report["suite"]) + "\n", encoding="utf-8")
    if "onnx" in report:
        # README.md shows it verbatim (python -m wb_embedder.docs)
        (RESULTS / "onnx.md").write_text("\n".join(_onnx_markdown(report["onnx"])) + "\n", encoding="utf-8")
    print(_markdown(report))


if __name__ == "__main__":
    main()
