"""DVC stage gen_triplets: training rows per task, mined negatives, and the annotation queue."""

from pathlib import Path

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.evaluation.embedding_cache import load_model
from wb_embedder.io import atomic_dir, write_json
from wb_embedder.stage import run_stage
from wb_embedder.triplets.annotation import read_verdicts, write_queue
from wb_embedder.triplets.generate import generate_triplets

CLEAN = Path("data/clean")
SYNONYMS = Path("data/synonyms/synonyms.parquet")
BASE_MODEL = Path("models/base")
VERDICTS = Path("data/annotations")
OUT = Path("data/triplets")
QUEUE = Path("data/annotation_queue.csv")
STATS = Path("data/stats/triplets.json")


def main() -> None:
    import pandas as pd

    params = load_params()
    model = load_model(BASE_MODEL.resolve(), "cpu", params.model.trust_remote_code)
    rows, manifest, queue, stats = generate_triplets(
        read_clean_tables(CLEAN), pd.read_parquet(SYNONYMS), params.triplets, params.benchmarks, params.model.prompts,
        model,
        read_verdicts(VERDICTS), params.seed,
    )
    with atomic_dir(OUT) as tmp:
        for task, frame in rows.items():
            frame.to_parquet(tmp / f"{task}.parquet", index=False)
        write_json(manifest, tmp / "manifest.json")
    write_queue(queue, QUEUE)
    write_json(stats, STATS)


if __name__ == "__main__":
    run_stage("gen_triplets", main)
