"""DVC stage corpus: write the seeded demo marketplace corpus to data/demo/ in the raw-data contract
(the tables params.yaml's data section points at by default)."""

from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.corpus import generate_corpus
from wb_embedder.io import atomic_dir
from wb_embedder.stage import run_stage

OUT = Path("data/demo")


def main() -> None:
    params = load_params()
    # The record of what each product question mentions rides along (product_qa_mentions.parquet):
    # the clean stage reads only the four raw tables, tests measure WBQAGoods against it.
    tables = generate_corpus(params.corpus, params.seed, record_mentions=True)
    with atomic_dir(OUT) as tmp:
        for table, frame in tables.items():
            frame.to_parquet(tmp / f"{table}.parquet", index=False)


if __name__ == "__main__":
    run_stage("corpus", main)
