"""The benchmark harness: every speed figure of the project, in one report.

    python bench/harness.py                  # everything (about 45 minutes on 2 cores)
    python bench/harness.py --only pipeline  # a subset: pipeline, finetune, evaluate, mining, synonyms
    python bench/harness.py --render         # only rewrite the Markdown from bench/results/report.json

Writes bench/results/report.json and bench/results/report.md (docs/performance.md shows the latter).

- pipeline: the default `dvc repro` from scratch in a fresh copy of the repository (empty DVC
  cache), stage by stage, with wall time and peak RSS of each stage; then a no-op `dvc repro`
  (median of 3), and the time after changing an evaluate-only param (which stages reran).
- finetune, evaluate, mining, synonyms: the component benchmarks next to this file, each
  comparison measured as a ratio within one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from wb_embedder.io import read_yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PARTS = ("pipeline", "finetune", "evaluate", "mining", "synonyms")

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


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Benchmark report ({report['machine']})", ""]
    if "pipeline" in report:
        lines += ["## Default `dvc repro` from scratch", "", *_pipeline_markdown(report["pipeline"]), ""]
    for part in ("finetune", "evaluate", "mining", "synonyms"):
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
    }
    for part in [] if args.render else args.only:
        logger.info("benchmark: %s", part)
        report[part] = runners[part]()
        report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / "report.md").write_text(_markdown(report), encoding="utf-8")
    if "pipeline" in report:
        # docs/performance.md shows this file verbatim (python -m wb_embedder.docs)
        (RESULTS / "pipeline.md").write_text("\n".join(_pipeline_markdown(report["pipeline"])) + "\n", encoding="utf-8")
    print(_markdown(report))


if __name__ == "__main__":
    main()
