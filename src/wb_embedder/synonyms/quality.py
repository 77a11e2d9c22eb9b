"""Recall of the reading strategies on real brand spellings (dev and held-out test lists).

A pairs file has columns latin, cyrillic (the Russian spellings shoppers use, alternatives
joined by "|"), category. A brand counts as found at k when any accepted spelling is among the
strategy's first k readings. The stage writes the figures into data/stats/synonyms.json;
``python -m wb_embedder.synonyms.quality`` prints them as docs/synonyms.md's markdown tables.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from wb_embedder.evaluation.bootstrap import draw_indices, percentile_interval

from .generate import READERS, naive_variants, reading_variants
from .lm import CharNgramLM
from .schema import SynonymsConfig
from .text import canonical

PAIR_COLUMNS = ["latin", "cyrillic", "category"]
# Rows of the table: the baseline, each reader alone, and the mix the switches enable.
EVALUATED: tuple[str, ...] = ("naive", *READERS, "default mix")


def load_pairs(path: Path | str) -> pd.DataFrame:
    """A pairs file, checked: the expected columns, one row per Latin name, lowercase Cyrillic."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: brand pairs file not found (synonyms.evaluation)")
    pairs = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(pairs.columns) != PAIR_COLUMNS:
        raise ValueError(f"{path}: columns must be {PAIR_COLUMNS}, got {list(pairs.columns)}")
    if pairs["latin"].str.lower().duplicated().any():
        raise ValueError(f"{path}: a Latin name is listed twice")
    return pairs


def accepted(pairs: pd.DataFrame) -> list[set[str]]:
    return [{canonical(s) for s in cell.split("|")} for cell in pairs["cyrillic"]]


def hits(variants: dict[str, list[str]], pairs: pd.DataFrame, k: int) -> np.ndarray:
    """Per pair: 1.0 when an accepted spelling is among the brand's first k variants."""
    return np.array(
        [bool(ok & set(variants.get(latin, [])[:k])) for latin, ok in zip(pairs["latin"], accepted(pairs), strict=True)],
        dtype=np.float64,
    )


def recall(variants: dict[str, list[str]], pairs: pd.DataFrame, k: int) -> float:
    """Share of pairs with an accepted spelling among the brand's first k variants."""
    found = hits(variants, pairs, k)
    return float(found.mean()) if len(found) else 0.0


def ranked_readings(
    brands: Sequence[str], lm: CharNgramLM, cfg: SynonymsConfig, limit: int
) -> dict[str, dict[str, list[str]]]:
    """strategy -> brand -> variants, best first, for every row of EVALUATED."""
    enabled = [name for name in READERS if getattr(cfg.strategies, name)]
    out = {"naive": {b: [v for v, _ in options] for b, options in naive_variants(brands, lm, cfg, limit).items()}}
    for name in READERS:
        out[name] = {b: [v for v, _, _ in o] for b, o in reading_variants(brands, lm, cfg, [name], limit).items()}
    mixed = reading_variants(brands, lm, cfg, enabled, limit) if enabled else {}
    out["default mix"] = {b: [v for v, _, _ in options] for b, options in mixed.items()}
    return out


def evaluate(lm: CharNgramLM, cfg: SynonymsConfig, pairs: pd.DataFrame, seed: int) -> dict[str, dict[str, float]]:
    """strategy -> {"recall@k": ..., "recall@k_ci_low": ..., "recall@k_ci_high": ...} on one
    pairs list. The intervals resample the list's pairs (the same draws for every strategy)."""
    ks = cfg.evaluation.ks
    readings = ranked_readings(list(pairs["latin"]), lm, cfg, max(ks))
    boot = cfg.evaluation.bootstrap
    (draws,) = draw_indices([len(pairs)], boot.samples, np.random.default_rng(seed))
    out: dict[str, dict[str, float]] = {}
    for name in EVALUATED:
        out[name] = {}
        for k in ks:
            found = hits(readings[name], pairs, k)
            interval = percentile_interval(found.mean(), found[draws].mean(axis=1), boot.confidence)
            out[name] |= {f"recall@{k}": round(interval.value, 4), f"recall@{k}_ci_low": round(interval.low, 4),
                          f"recall@{k}_ci_high": round(interval.high, 4)}  # fmt: skip
    return out | {"n_pairs": len(pairs)}


def evaluate_lists(lm: CharNgramLM, cfg: SynonymsConfig, seed: int) -> dict[str, dict]:
    """The figures for data/stats/synonyms.json: dev and test lists, which strategies the mix holds."""
    ev = cfg.evaluation
    enabled = [name for name in READERS if getattr(cfg.strategies, name)]
    return {
        "default_mix": {name: getattr(cfg.mix, name) for name in enabled},
        "confidence": ev.bootstrap.confidence,
        "dev": evaluate(lm, cfg, load_pairs(ev.dev_pairs), seed),
        "test": evaluate(lm, cfg, load_pairs(ev.test_pairs), seed),
    }


def markdown(quality: dict, split: str = "test") -> str:
    """The docs/synonyms.md table of one list's figures."""
    figures = quality[split]
    ks = sorted(int(key.split("@")[1]) for key in figures["naive"] if "_ci_" not in key)
    mix = " + ".join(f"`{name}` x{weight:g}" for name, weight in quality["default_mix"].items())
    labels = {
        "naive": "`naive` (baseline)", "g2p": "`g2p`", "pronounce": "`pronounce`", "default mix": f"default mix ({mix})"
    }
    ci = f" [{quality['confidence']:.0%} CI]" if "confidence" in quality else ""
    lines = ["| strategy | " + " | ".join(f"recall@{k}{ci}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for name in EVALUATED:
        lines.append(f"| {labels[name]} | " + " | ".join(_cell(figures[name], k) for k in ks) + " |")
    return "\n".join(lines)


def _cell(figures: dict[str, float], k: int) -> str:
    """A recall, with its interval where the stats hold one."""
    key = f"recall@{k}"
    if f"{key}_ci_low" not in figures:
        return f"{figures[key]:.3f}"
    return f"{figures[key]:.3f} [{figures[key + '_ci_low']:.3f}, {figures[key + '_ci_high']:.3f}]"


def report(quality: dict) -> str:
    """Both lists' tables, held-out test first: the file docs/synonyms.md shows verbatim."""
    parts = []
    for split, title in (("test", "Held-out test list"), ("dev", "Dev list")):
        parts += [f"{title} ({quality[split]['n_pairs']} pairs):", "", markdown(quality, split), ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the synonyms quality table from the stage's stats.")
    parser.add_argument("--stats", type=Path, default=Path("data/stats/synonyms.json"))
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    args = parser.parse_args()
    quality = json.loads(args.stats.read_text(encoding="utf-8"))["quality"]
    n = quality[args.split]["n_pairs"]
    print(f"{args.split} list: {n} real brand pairs\n")  # noqa: T201 - the table is this command's output
    print(markdown(quality, args.split))  # noqa: T201


if __name__ == "__main__":
    main()
