"""DVC stage gen_synonyms: brand variants shoppers type, per strategy, with a train/test split by brand."""

from pathlib import Path

from wb_embedder.clean import read_clean_tables
from wb_embedder.config import load_params
from wb_embedder.io import atomic_path, write_json
from wb_embedder.stage import run_stage
from wb_embedder.synonyms.generate import fit_lm, spelling_corpus, synonyms_from_clean
from wb_embedder.synonyms.quality import evaluate_lists, report

CLEAN = Path("data/clean")
OUT = Path("data/synonyms/synonyms.parquet")
STATS = Path("data/stats/synonyms.json")
# The recall tables in Markdown, kept in git (docs/synonyms.md shows them: python -m wb_embedder.docs);
# not under metrics/, which the report stage replaces as a whole
QUALITY = Path("data/stats/synonyms_quality.md")


def main() -> None:
    params = load_params()
    cfg = params.synonyms
    tables = read_clean_tables(CLEAN)
    # One spelling model for the table and for the recall figures, so they describe one run.
    lm = fit_lm(spelling_corpus(tables), cfg)
    # Placeholder brands ("Нет бренда") are one list, owned by the benchmarks section.
    table, stats = synonyms_from_clean(tables, cfg, params.seed, params.benchmarks.ignored_brands, lm)
    # Recall of each reading strategy on the real brand pairs (dev and held-out test lists).
    stats["quality"] = evaluate_lists(lm, cfg, params.seed)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(OUT) as tmp:
        table.to_parquet(tmp, index=False)
    write_json(stats, STATS)
    with atomic_path(QUALITY) as tmp:
        tmp.write_text(report(stats["quality"]), encoding="utf-8")


if __name__ == "__main__":
    run_stage("gen_synonyms", main)
