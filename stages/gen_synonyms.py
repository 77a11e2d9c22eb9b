"""DVC stage gen_synonyms: brand variants shoppers type, per strategy, with a train/test split by brand."""

from pathlib import Path

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.io import atomic_path, write_json
from wb_embedder.stage import run_stage
from wb_embedder.synonyms.generate import synonyms_from_clean

CLEAN = Path("data/clean")
OUT = Path("data/synonyms/synonyms.parquet")
STATS = Path("data/stats/synonyms.json")


def main() -> None:
    params = load_params()
    # Placeholder brands ("Нет бренда") are one list, owned by the benchmarks section.
    table, stats = synonyms_from_clean(
        read_clean_tables(CLEAN), params.synonyms, params.seed, params.benchmarks.ignored_brands
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(OUT) as tmp:
        table.to_parquet(tmp, index=False)
    write_json(stats, STATS)


if __name__ == "__main__":
    run_stage("gen_synonyms", main)
