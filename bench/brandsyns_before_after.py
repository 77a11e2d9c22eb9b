"""WBBrandSyns before and after g2p: the sweep's `pronounce-only` experiment (brand variants by the
pronounce rules alone, `synonyms.strategies.g2p=false`) against its `default` (the g2p + pronounce
mix), both queued from one commit by `bash bench/sweep_dev.sh default pronounce-only`.

    python bench/brandsyns_before_after.py --rev <commit the two were queued from>

Writes bench/results/brandsyns_before_after.md (the README shows it: python -m wb_embedder.docs):
NDCG@10 of base and fine-tuned with their 95% bootstrap intervals and the paired delta, dev and
test. The variants decide the benchmark's queries, so before and after are two versions of the
benchmark: the rows say how well each model finds a brand from the spellings each reader writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "brandsyns_before_after.md"
FILE = "metrics/WBBrandSyns.json"
RUNS = {"pronounce-only": "before: `pronounce` alone", "default": "after: `g2p` + `pronounce` (default)"}


def _cell(row: dict[str, Any], split: str, system: str) -> str:
    key = f"{FILE}:{split}.{system}.ndcg@10"
    return f"{row[key]:.4f} [{row[key + '_ci_low']:.4f}, {row[key + '_ci_high']:.4f}]"


def table(rows: list[dict[str, Any]]) -> str:
    by_name = {row.get("Experiment"): row for row in rows}
    missing = [name for name in RUNS if name not in by_name]
    if missing:
        raise SystemExit(f"no experiment named {missing} at this revision; queue them with "
                         "`bash bench/sweep_dev.sh default pronounce-only`")
    lines = ["| brand variants | split | base NDCG@10 [95% CI] | fine-tuned NDCG@10 [95% CI] | delta [95% CI] | significant |",
             "|---|---|---|---|---|---|"]
    for name, label in RUNS.items():
        row = by_name[name]
        for split in ("dev", "test"):
            significant = row[f"{FILE}:{split}.delta.significant"]
            lines.append(f"| {label} ({name}, {row['rev']}) | {split} | {_cell(row, split, 'base')} "
                         f"| {_cell(row, split, 'finetuned')} | {_cell(row, split, 'delta')} | {significant} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", required=True, help="the commit the two experiments were queued from")
    args = parser.parse_args()
    import dvc.api

    text = table(dvc.api.exp_show(repo=str(ROOT), revs=args.rev, param_deps=False))
    OUT.write_text(text, encoding="utf-8")
    print(text, end="")  # noqa: T201 - the table is the output


if __name__ == "__main__":
    main()
