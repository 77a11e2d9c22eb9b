"""DVC stage leakage: audit every dev / test benchmark against the training data.

Writes data/stats/leakage.json (near-copy shares per benchmark and split, brand mentions, split
product families), then fails with one line per passed limit (params ``leakage:``).
"""

from pathlib import Path

import pandas as pd

from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import load_benchmarks
from wb_embedder.io import write_json
from wb_embedder.leakage.audit import LeakageError, audit, training_texts
from wb_embedder.splits import EVAL_SPLITS
from wb_embedder.stage import run_stage

TRIPLETS = Path("data/triplets")
BENCHMARKS = Path("data/benchmarks")
SYNONYMS = Path("data/synonyms/synonyms.parquet")
PRODUCTS = Path("data/clean/products.parquet")
STATS = Path("data/stats/leakage.json")


def main() -> None:
    params = load_params()
    stats, failures = audit(
        {split: load_benchmarks(BENCHMARKS, split) for split in EVAL_SPLITS},
        training_texts(TRIPLETS),
        pd.read_parquet(SYNONYMS),
        pd.read_parquet(PRODUCTS),
        params.clean,
        params.leakage,
    )
    write_json(stats, STATS)
    if failures:
        raise LeakageError("leakage audit failed:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    run_stage("leakage", main)
