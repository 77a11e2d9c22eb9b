"""How the int8 export is quantized, judged on dev: the candidates of bench/int8_dev.yaml as DVC
experiments from one snapshot (each runs export, evaluate_int8 and report on the snapshot's
fine-tuned model), compared by what the report measured on DEV (metrics/summary.json's dev keys:
int8 minus fine-tuned, paired bootstrap) and the parity the export stage measured.

    python bench/int8_dev.py queue [name ...]   # queue every candidate (or these) and start the queue
    python bench/int8_dev.py table <commit> ... # bench/results/int8_dev.md and .json

The rule (docs/export.md): fewest dev tasks, of the 11 and the real-text ones, on which int8 is
significantly worse than the fine-tuned model; then the fewest nodes kept fp32 (the speed the
export is for); then the smaller drop of the dev mean of the 11. Test is never read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation  # noqa: E402  (the same experiment plumbing)
from ablation import RESULTS, ROOT, SPLIT, Run, experiments  # noqa: E402

CANDIDATES = ROOT / "bench" / "int8_dev.yaml"
TARGET = "report"
PREFIX = "int8-"

logger = logging.getLogger("int8_dev")


def queue(names: list[str]) -> None:
    ablation.queue(names, CANDIDATES, TARGET, PREFIX)


def _significantly_worse(split: dict[str, Any]) -> list[str]:
    return sorted(
        bench
        for bench, metrics in split.items()
        if bench not in ("mean", "counts")
        for figure in metrics.values()
        if figure.get("int8_significant") and figure["int8_delta"] < 0
    )


def row(name: str, run: Run) -> dict[str, Any]:
    whole = run.json("metrics/summary.json")
    summary = whole[SPLIT]
    manifest = run.json("models/onnx/manifest.json")
    worse = _significantly_worse(summary)
    mean = summary["mean"]["main_score"]
    quantization = manifest["quantization"]
    with run.fs.open(f"models/onnx/{manifest['files']['int8']}", "rb") as handle:
        size = handle.seek(0, os.SEEK_END)  # the listing of a directory output carries no sizes
    return {
        "candidate": name,
        "significantly_worse": worse,
        "real_significantly_worse": _significantly_worse(whole["real"][SPLIT]),
        "mean_delta": mean["int8_delta"],
        "mean_delta_ci": [mean["int8_delta_ci_low"], mean["int8_delta_ci_high"]],
        "nodes_kept_fp32": quantization["nodes_kept_fp32"],
        "op_types": quantization["op_types"],
        "keep_fp32": quantization["keep_fp32"],
        "int8_mean_cosine": manifest["parity"]["int8_mean_cosine"],
        "int8_mb": round(size / 2**20, 1),
    }


def table(baselines: list[str]) -> dict[str, Any]:
    """Rows from the experiments of every snapshot named (a later one's run of a name wins): each
    row is int8 against the fine-tuned model of its own snapshot, so snapshots may be joined."""
    baselines = [
        subprocess.run(["git", "rev-parse", b], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        for b in baselines
    ]
    queued: dict[str, str] = {}
    for baseline in baselines:
        queued.update(experiments(baseline))
    wanted = [n for n in ablation.candidates(CANDIDATES) if f"{PREFIX}{n}" in queued]
    rows = [row(n, Run(n, queued[f"{PREFIX}{n}"])) for n in wanted]
    chosen = min(rows, key=lambda r: (len(r["significantly_worse"]) + len(r["real_significantly_worse"]),
                                      r["nodes_kept_fp32"], -r["mean_delta"]))
    return {"baselines": baselines, "split": SPLIT, "rows": rows, "chosen": chosen["candidate"]}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"int8 minus fine-tuned on {result['split']} (experiments queued from "
        f"{', '.join(f'`{b[:7]}`' for b in result['baselines'])}; "
        "written by `python bench/int8_dev.py table`). Chosen by the rule: "
        f"**{result['chosen']}**.",
        "",
        "| candidate | dev benchmarks significantly worse | real-text dev tasks significantly worse | mean of the 11, int8 − fine-tuned [95% CI] | nodes kept fp32 | int8 mean cosine to torch (probes) | int8 file |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        worse, real = (f"{len(names)}" + (f" ({', '.join(names)})" if names else "")
                       for names in (r["significantly_worse"], r["real_significantly_worse"]))
        low, high = r["mean_delta_ci"]
        lines.append(
            f"| {r['candidate']} | {worse} | {real} | {r['mean_delta']:+.4f} [{low:+.4f}, {high:+.4f}] | "
            f"{r['nodes_kept_fp32']} | {r['int8_mean_cosine']:.4f} | {r['int8_mb']} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("queue").add_argument("names", nargs="*")
    sub.add_parser("table").add_argument("baselines", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "queue":
        queue(args.names)
        return
    result = table(args.baselines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "int8_dev.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / "int8_dev.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
