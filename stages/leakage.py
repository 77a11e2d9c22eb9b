"""DVC stage leakage: audit every dev / test benchmark against the training data, and the real-text
benchmarks against the training data and the corpus.

Writes data/stats/leakage.json (near-copy shares per benchmark and split, brand mentions, split
product families, real texts with a near-copy in the project), then fails with one line per
passed limit (params ``leakage:``).
"""

from pathlib import Path

import pandas as pd

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import REAL_NAMES, load_benchmarks
from wb_embedder.io import write_json
from wb_embedder.leakage.audit import LeakageError, audit, corpus_texts, training_texts
from wb_embedder.splits import EVAL_SPLITS
from wb_embedder.stage import run_stage

TRIPLETS = Path("data/triplets")
BENCHMARKS = Path("data/benchmarks")
REAL = Path("data/real_benchmarks")
CLEAN = Path("data/clean")
SYNONYMS = Path("data/synonyms/synonyms.parquet")
STATS = Path("data/stats/leakage.json")


def main() -> None:
    params = load_params()
    tables = read_clean_tables(CLEAN)
    stats, failures = audit(
        {split: load_benchmarks(BENCHMARKS, split) for split in EVAL_SPLITS},
        training_texts(TRIPLETS),
        pd.read_parquet(SYNONYMS),
        tables["products"],
        params.clean,
        params.leakage,
        real_by_split={split: load_benchmarks(REAL, split, REAL_NAMES) for split in EVAL_SPLITS},
        corpus=corpus_texts(tables),
    )
    write_json(stats, STATS)
    if failures:
        raise LeakageError("leakage audit failed:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    run_stage("leakage", main)
