"""DVC stage clean: validate the raw tables, normalise, dedupe, filter and split them."""

from pathlib import Path

from wb_embedder.clean import clean_tables
from wb_embedder.config import load_params
from wb_embedder.io import atomic_dir, write_json
from wb_embedder.stage import run_stage

OUT = Path("data/clean")
STATS = Path("data/stats/clean.json")


def main() -> None:
    params = load_params()
    tables, stats = clean_tables(params.data, params.clean)
    with atomic_dir(OUT) as tmp:
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
    write_json(stats, STATS)


if __name__ == "__main__":
    run_stage("clean", main)
