"""DVC stage evaluate_lexical: the lexical baselines (BM25, TF-IDF + logistic regression) on the 11
benchmarks and the real-text benchmarks, dev and test, in the same records as a model's (data/eval/lexical)."""

from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.evaluation.run import evaluate_lexical, write_results
from wb_embedder.stage import run_stage

BENCHMARKS = Path("data/benchmarks")
REAL = Path("data/real_benchmarks")
OUT = Path("data/eval/lexical")


def main() -> None:
    params = load_params()
    results, info = evaluate_lexical(BENCHMARKS, params.evaluate, params.seed, REAL)
    write_results(results, OUT, info)


if __name__ == "__main__":
    run_stage("evaluate_lexical", main)
