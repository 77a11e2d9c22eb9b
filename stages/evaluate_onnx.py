"""DVC stage evaluate_int8: score a variant of the ONNX export (models/onnx/) on the 11 benchmarks
and the real-text benchmarks, dev and test, with the prompts the model was trained with.

    python stages/evaluate_onnx.py --model models/onnx --variant int8 --out data/eval/int8

Writes the same files as stages/evaluate.py (<out>/<split>/<Benchmark>.json and .items.parquet,
<out>/run.json), replacing <out> as a whole; when the export stage skipped the export, only a
run.json that says so.
"""

import argparse
from pathlib import Path

from wb_embedder.config import load_params, trained_prompts
from wb_embedder.evaluation.run import write_results
from wb_embedder.export.scoring import evaluate_export
from wb_embedder.stage import run_stage

BENCHMARKS = Path("data/benchmarks")
REAL = Path("data/real_benchmarks")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the export stage's folder")
    parser.add_argument("--variant", choices=("fp32", "int8"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for <Benchmark>.json and run.json")
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help="output of the benchmarks stage")
    parser.add_argument("--real", type=Path, default=REAL, help="output of the real_benchmarks stage")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = load_params()
    prompts = trained_prompts(params.model.prompts, params.finetune.prompts)
    results, info = evaluate_export(args.model, args.variant, args.benchmarks, prompts, params.evaluate, params.seed,
                                    args.real)
    write_results(results, args.out, info)


if __name__ == "__main__":
    run_stage("evaluate_int8", main)
