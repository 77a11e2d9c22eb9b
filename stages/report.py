"""DVC stage report: the fine-tuned model's metrics beside the base model's, for git and DVC.

Reads data/eval/base and data/eval/finetuned (the evaluate stages' outputs, no model needed) and
replaces metrics/ with <Benchmark>.json (the fine-tuned model's metrics), summary.json (headline
metric per benchmark: base, fine-tuned, delta, and their mean) and comparison.csv (plot data).
"""

from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.evaluation.report import report
from wb_embedder.stage import run_stage

BASE = Path("data/eval/base")
FINETUNED = Path("data/eval/finetuned")
OUT = Path("metrics")


def main() -> None:
    params = load_params()
    report(BASE, FINETUNED, OUT, params.evaluate.main_k)


if __name__ == "__main__":
    run_stage("report", main)
