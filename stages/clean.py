"""DVC stage clean: validate the raw tables, normalise, dedupe, filter and split them.

data/stats/clean.json is written also when the stage fails (what was read up to the failure, and
the failure under ``failed``), so a rejected dump leaves its counts to read; the stage still fails.
"""

from pathlib import Path
from typing import Any

from wb_embedder.clean import clean_tables
from wb_embedder.config import load_params
from wb_embedder.errors import WbEmbedderError
from wb_embedder.io import atomic_dir, write_json
from wb_embedder.stage import run_stage

OUT = Path("data/clean")
STATS = Path("data/stats/clean.json")


def main() -> None:
    params = load_params()
    stats: dict[str, Any] = {}
    try:
        tables, stats = clean_tables(params.data, params.clean, stats)
    except WbEmbedderError as exc:
        write_json({**stats, "failed": str(exc)}, STATS)
        raise
    with atomic_dir(OUT) as tmp:
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
    write_json(stats, STATS)


if __name__ == "__main__":
    run_stage("clean", main)
