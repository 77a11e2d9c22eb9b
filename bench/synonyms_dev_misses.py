"""Dev-list diagnosis of the brand readers: recall per strategy and the misses, with IPA.

Usage: python bench/synonyms_dev_misses.py [--misses] [--lm corpus|builtin] [--set JSON] [--grid]

Reads ONLY the dev list (tests/data/brand_pairs_dev.csv): the held-out test list is never
opened here, so tuning on this output cannot see it. Prints recall@1 / @5 of naive, g2p,
pronounce and the default mix on the whole dev list, on its 184 older pairs (the ones
pronounce's rules were written against) and on its newer ones; with --misses, each brand the
mix misses at 5, with the accepted spellings, each reader's top 5 and eSpeak's IPA per language.
``--set '{"g2p": {"language_cue_bonus": 0.7}}'`` merges a patch into params.yaml's synonyms
section (one level of nesting merged), to compare a change before writing it to params.
``--grid`` scores the mix over the usage weights and g2p mix weights of GRID (with --set applied
first) and writes the markdown table to bench/results/synonyms_dev_grid.md, which
docs/synonyms.md shows (python -m wb_embedder.docs): how the defaults were chosen.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wb_embedder.config import load_params  # noqa: E402
from wb_embedder.synonyms import g2p  # noqa: E402
from wb_embedder.synonyms.generate import READERS, fit_lm, reading_variants, spelling_corpus  # noqa: E402
from wb_embedder.synonyms.lm import CharNgramLM  # noqa: E402
from wb_embedder.synonyms.pronounce import normalise_latin  # noqa: E402
from wb_embedder.synonyms.quality import EVALUATED, accepted, load_pairs, ranked_readings, recall  # noqa: E402
from wb_embedder.synonyms.schema import SynonymsConfig  # noqa: E402

DEV = ROOT / "tests" / "data" / "brand_pairs_dev.csv"
N_OLDER = 184  # the first rows: the list pronounce's rules were written against
GRID_OUT = ROOT / "bench" / "results" / "synonyms_dev_grid.md"
# The third round's grid (docs/synonyms.md): usage weight x the g2p reader's weight in the mix.
GRID = {"usage_weight": [0.0, 0.1, 0.15, 0.2, 0.25, 0.3], "g2p": [0.3, 0.4, 0.5, 0.7, 1.0]}
DEEP_K = 20  # how often the accepted spelling is among the readings at all, not only the first 5


def _config(patch: dict) -> SynonymsConfig:
    base = load_params(ROOT / "params.yaml").synonyms.model_dump()
    for key, value in patch.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return SynonymsConfig.model_validate(base)


def _grid(patch: dict, lm: CharNgramLM, pairs: pd.DataFrame, parts: dict[str, pd.DataFrame]) -> None:
    """The dev-list table of the mix over GRID: recall@1 / @5 / @DEEP_K on the whole list, @5 on
    its older and newer parts; the params.yaml row marked."""
    chosen = _config(patch)
    lines = [
        f"Dev list ({len(pairs)} pairs), default mix, corpus spelling model; **bold**: params.yaml's setting.",
        "",
        f"| usage weight | g2p weight in the mix | recall@1 | recall@5 | recall@{DEEP_K} | older@5 | newer@5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for usage_weight in GRID["usage_weight"]:
        for g2p_weight in GRID["g2p"]:
            cell_patch = {**patch, "scoring": {**patch.get("scoring", {}), "usage_weight": usage_weight},
                          "mix": {**patch.get("mix", {}), "g2p": g2p_weight}}  # fmt: skip
            cfg = _config(cell_patch)
            # Only the mix is scored here: the readers alone and naive do not depend on the grid.
            enabled = [name for name in READERS if getattr(cfg.strategies, name)]
            mixed = reading_variants(list(pairs["latin"]), lm, cfg, enabled, DEEP_K)
            mix = {brand: [v for v, _, _ in options] for brand, options in mixed.items()}
            cells = [recall(mix, pairs, 1), recall(mix, pairs, 5), recall(mix, pairs, DEEP_K)]
            cells += [recall(mix, parts[p], 5) for p in ("older", "newer")]
            is_default = cfg.scoring.usage_weight == chosen.scoring.usage_weight and cfg.mix == chosen.mix
            keys = [f"{usage_weight:g}", f"{g2p_weight:g}"]
            row = [f"**{k}**" for k in keys] if is_default else keys
            lines.append("| " + " | ".join(row + [f"{c:.3f}" for c in cells]) + " |")
    GRID_OUT.parent.mkdir(parents=True, exist_ok=True)
    GRID_OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))  # noqa: T201 - the table is the output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--lm", choices=["corpus", "builtin"], default="corpus")
    parser.add_argument("--set", default="{}", help="JSON patch of the synonyms section")
    parser.add_argument("--grid", action="store_true", help="score GRID, write bench/results/synonyms_dev_grid.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = _config(json.loads(args.set))
    if args.lm == "corpus":
        from wb_embedder.clean import read_clean_tables

        lm = fit_lm(spelling_corpus(read_clean_tables(ROOT / "data" / "clean")), cfg)
    else:
        lm = fit_lm([], cfg)
    pairs = load_pairs(DEV)
    parts = {"all": pairs, "older": pairs.iloc[:N_OLDER], "newer": pairs.iloc[N_OLDER:]}
    if args.grid:
        _grid(json.loads(args.set), lm, pairs, parts)
        return
    readings = ranked_readings(list(pairs["latin"]), lm, cfg, 5)
    print(f"dev list, {args.lm} LM; patch {args.set}")  # noqa: T201 - the report is the output
    print("strategy      " + "  ".join(f"{p}@1  {p}@5".ljust(20) for p in parts))  # noqa: T201
    for name in EVALUATED:
        cells = [f"{recall(readings[name], p, 1):.3f} {recall(readings[name], p, 5):.3f}" for p in parts.values()]
        print(f"{name:13s} " + "  ".join(c.ljust(20) for c in cells))  # noqa: T201
    if not args.misses:
        return
    stats = g2p.G2PStats()
    for latin, ok in zip(pairs["latin"], accepted(pairs), strict=True):
        if ok & set(readings["default mix"].get(latin, [])[:5]):
            continue
        print(f"\n{latin}  ->  {'|'.join(sorted(ok))}")  # noqa: T201
        for name in ("default mix", "g2p", "pronounce"):
            print(f"  {name:11s} {readings[name].get(latin, [])[:5]}")  # noqa: T201
        words = [normalise_latin(w) for w in latin.replace("'", "").split()]
        for language in cfg.g2p.languages:
            ipa = g2p.phonemize(words, language, stats)
            print(f"  {language:6s} {' '.join(ipa[w] for w in words)}")  # noqa: T201


if __name__ == "__main__":
    main()
