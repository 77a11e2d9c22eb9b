"""DVC stage benchmarks: build the 11 benchmarks from the dev and from the test split of the clean
tables (data/benchmarks/dev, data/benchmarks/test)."""

from pathlib import Path

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import (
    build_benchmarks,
    load_synonyms,
    write_benchmarks,
)
from wb_embedder.splits import EVAL_SPLITS
from wb_embedder.stage import run_stage

CLEAN = Path("data/clean")
SYNONYMS = Path("data/synonyms/synonyms.parquet")
OUT = Path("data/benchmarks")


def main() -> None:
    params = load_params()
    tables, synonyms = read_clean_tables(CLEAN), load_synonyms(SYNONYMS)
    write_benchmarks({split: build_benchmarks(tables, synonyms, params.benchmarks, split) for split in EVAL_SPLITS}, OUT)


if __name__ == "__main__":
    run_stage("benchmarks", main)
