"""DVC stage benchmarks: build the 11 benchmarks from the dev and from the test split of the clean
tables (data/benchmarks/dev, data/benchmarks/test): every one the data can build; the others are
skipped with one log line each and listed with the reason in data/stats/benchmarks.json (and in
data/benchmarks/stats.json, which the evaluate stages read)."""

from pathlib import Path

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import SKIPPED, build_all, load_synonyms, write_benchmarks
from wb_embedder.io import write_json
from wb_embedder.stage import run_stage

CLEAN = Path("data/clean")
SYNONYMS = Path("data/synonyms/synonyms.parquet")
OUT = Path("data/benchmarks")
STATS = Path("data/stats/benchmarks.json")


def main() -> None:
    params = load_params()
    tables, synonyms = read_clean_tables(CLEAN), load_synonyms(SYNONYMS)
    built = build_all(tables, synonyms, params.benchmarks)
    # Only when something was skipped: a full dump's benchmarks folder is what it always was.
    write_benchmarks(built.by_split, OUT, {SKIPPED: built.skipped} if built.skipped else None)
    write_json(built.stats(), STATS)


if __name__ == "__main__":
    run_stage("benchmarks", main)
