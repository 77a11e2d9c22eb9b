"""DVC stage report: base, fine-tuned and the lexical baseline side by side, with 95% bootstrap
intervals and paired deltas, for dev and test (no model needed); the int8 ONNX export next to the
fine-tuned model, with the paired interval of their difference (or a line saying why it was not scored).

Reads data/eval/{base,finetuned,lexical,int8} and replaces metrics/ with <Benchmark>.json,
summary.json, comparison.csv, report.md (the tables a person reads), the chart data plots/*.csv
and results.svg (the README's image).
"""

from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.evaluation.report import BASE, FINETUNED, INT8, LEXICAL, report
from wb_embedder.stage import run_stage

EVAL = {BASE: Path("data/eval/base"), FINETUNED: Path("data/eval/finetuned"), LEXICAL: Path("data/eval/lexical"),
        INT8: Path("data/eval/int8")}
OUT = Path("metrics")
# DVC's folder of custom plot templates: the report renders the README's chart with the one
# `dvc plots show` uses.
TEMPLATES = Path(".dvc/plots")


def main() -> None:
    params = load_params()
    report(EVAL, OUT, params.evaluate.main_k, params.evaluate.bootstrap, params.seed, TEMPLATES)


if __name__ == "__main__":
    run_stage("report", main)
