"""Benchmark of the synonyms stage: 30,000 synthetic brands through generate_synonyms.

Usage: python bench/bench_synonyms.py [--brands 30000] [--seed 42] [--out FILE]
Prints wall time (LM training and eSpeak start-up included: the phonemization cache starts
empty), peak RSS of the process, and the g2p counts: (word, language) pairs phonemized and
brands skipped as unreadable (a few emoji, CJK and digit-only names are mixed in on purpose).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wb_embedder.config import load_params  # noqa: E402
from wb_embedder.synonyms.generate import generate_synonyms  # noqa: E402
from wb_embedder.synonyms.lm import BUILTIN_WORDS  # noqa: E402

# Pieces that make brand names look like the ones in a marketplace catalogue: invented words
# from syllables, English words, and Russian ones.
_ONSETS = """
b br c ch cl d dr f fl g gr h j k kl l m n p pr ph qu r s sch sh sk st t th tr v w x z
""".split()
_NUCLEI = "a e i o u y ai ea ee ie oo ou au ei".split()
_CODAS = ["", "", "n", "r", "s", "x", "ck", "ll", "nd", "ng", "rt", "st", "tz", "sh", "th"]
_ENGLISH = """
home style kids baby life love smart pro max star sun sky city street black white red blue green
gold silver power light fresh pure natural organic beauty care fashion sport club house world time
land line lab shop store one plus mini tech king queen royal wild
""".split()
_RUSSIAN = """
дом мир сад лес мама малыш радуга сказка солнце звезда север восток уют тепло вкус красота сила
здоровье чистота мастер лавка двор берег поле река ярмарка
""".split()


_UNREADABLE = ["😀", "★", "北京", "東京", "", "№"]


def _invented(rng: random.Random) -> str:
    n = rng.choice([1, 2, 2, 3])
    return "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(n))


def synthetic_brands(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        kind = rng.random()
        if kind < 0.55:
            name = _invented(rng).capitalize()
        elif kind < 0.80:
            name = " ".join([_invented(rng).capitalize(), rng.choice(_ENGLISH).capitalize()])
        elif kind < 0.85:
            name = f"{_invented(rng).capitalize()} & {_invented(rng).capitalize()}"
        elif kind < 0.88:
            name = f"{_invented(rng).capitalize()}'s"
        elif kind < 0.965:
            name = " ".join(rng.choice(_RUSSIAN) for _ in range(rng.choice([1, 2]))).capitalize()
        elif kind < 0.97:
            # Names eSpeak cannot read: the g2p strategy skips and counts them.
            name = rng.choice(_UNREADABLE) + str(rng.randint(1, 999))
        else:
            name = f"{_invented(rng).upper()[:4]} {rng.randint(1, 999)}"
        out.add(name)
    return sorted(out)


def synthetic_corpus(n_texts: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(BUILTIN_WORDS, k=12)) for _ in range(n_texts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brands", type=int, default=30_000)
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    names = synthetic_brands(args.brands, args.seed)
    brands = pd.DataFrame({"brandname": names, "n_cards": [1] * len(names), "categories": [""] * len(names)})
    corpus = synthetic_corpus(args.texts, args.seed)
    cfg = load_params(ROOT / "params.yaml").synonyms

    start = time.perf_counter()
    table, stats = generate_synonyms(brands, corpus, cfg, args.seed)
    wall = time.perf_counter() - start
    # CPU seconds too: the wall time on a shared 2-core box depends on the neighbours' load.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB

    print(f"brands: {stats['n_brands']}  rows: {len(table)}")
    for strategy, counts in stats["strategies"].items():
        print(f"  {strategy:<10} generated {counts['generated']:>8}  kept {counts['kept']:>8}")
    if "g2p" in stats:
        print(f"g2p: {stats['g2p']['word_language_pairs']} (word, language) pairs read, "
              f"{stats['g2p']['skipped_brands']} brands skipped as unreadable")
    print(f"wall time: {wall:.1f} s (process CPU time {cpu:.1f} s, 1-minute load {os.getloadavg()[0]:.1f})")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    if args.out:
        figures = {"brands": stats["n_brands"], "rows": len(table), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                   "peak_rss_mib": round(peak_mib), "cpu_count": os.cpu_count(),
                   "load_avg_1m_at_end": round(os.getloadavg()[0], 1), "strategies": stats["strategies"],
                   "g2p": stats.get("g2p", {})}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
