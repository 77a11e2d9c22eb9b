"""DVC stage real_benchmarks: the real-text benchmarks (real Ozon titles, real Wildberries reviews;
evaluation only) for the dev and the test half, in data/real_benchmarks/{dev,test}/, with what was
read, merged and left out in data/real_benchmarks/stats.json."""

from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import write_benchmarks
from wb_embedder.evaluation.real import read_real_benchmarks
from wb_embedder.stage import run_stage

OUT = Path("data/real_benchmarks")


def main() -> None:
    params = load_params()
    by_split, stats = read_real_benchmarks(params.real, params.clean, params.benchmarks.review_polarity)
    write_benchmarks(by_split, OUT, extra_stats={"read": stats})


if __name__ == "__main__":
    run_stage("real_benchmarks", main)
