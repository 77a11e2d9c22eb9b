"""DVC stages evaluate_base and evaluate: score one model on the 11 benchmarks and the real-text
benchmarks, dev and test.

    python stages/evaluate.py --model models/base --out data/eval/base
    python stages/evaluate.py --model models/finetuned --out data/eval/finetuned --trained-prompts

Scores with mteb (the benchmarks as custom MTEB tasks). Writes <out>/<split>/<Benchmark>.json
(flat metrics) and .items.parquet (per-query / per-example records for the bootstrap),
<out>/run.json and, with evaluate.external_tasks, <out>/external.json, replacing <out> as a whole.
<out> is a cached DVC output; the cheap report stage turns two of them into metrics/.
"""

import argparse
from pathlib import Path

from wb_embedder.config import load_params, trained_prompts
from wb_embedder.evaluation.run import evaluate_model, write_results
from wb_embedder.stage import run_stage

BENCHMARKS = Path("data/benchmarks")
REAL = Path("data/real_benchmarks")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="sentence-transformers model folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for <Benchmark>.json and run.json")
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help="output of the benchmarks stage")
    parser.add_argument("--real", type=Path, default=REAL, help="output of the real_benchmarks stage")
    parser.add_argument("--trained-prompts", action="store_true",
                        help="score with the prompts the model was fine-tuned with (finetune.prompts), not model.prompts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = load_params()
    prompts = trained_prompts(params.model.prompts, params.finetune.prompts) if args.trained_prompts else params.model.prompts
    results, info, external = evaluate_model(
        args.model, args.benchmarks, prompts, params.evaluate, params.seed, params.model.trust_remote_code, args.real,
    )
    write_results(results, args.out, info, external if params.evaluate.external_tasks else None)


if __name__ == "__main__":
    run_stage("evaluate", main)
