"""Benchmark of hard-negative mining: time and peak memory for 1k, 10k, 100k products.

Usage: python bench/bench_mining.py [--sizes 1000 10000 100000] [--anchors 2000] [--out bench/results/bench_mining.json]

Mining is two costs: encoding (each text once, linear in texts, the model's throughput) and the
search (sentence-transformers' `mine_hard_negatives`, chunked top-k or faiss). The search is
measured at full size with stand-in embeddings, in a fresh process per size so that peak RSS is
that size's own; encoding throughput is measured with the real base model on product texts and
the encoding time of each size derived from it. The number of anchors is fixed (the stage caps
anchors per task with triplets.positives.max_anchors_per_task), as is the candidate window.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from wb_embedder.config import PromptPair, load_params  # noqa: E402

logger = logging.getLogger("bench_mining")
DIM = 384
ANCHOR_PREFIX = "запрос: "


class StandInEncoder:
    """Deterministic unit vectors per text: the search costs what it costs with real ones."""

    device = "cpu"

    def encode_query(self, sentences: list[str], **_: object) -> np.ndarray:
        out = np.empty((len(sentences), DIM), dtype=np.float32)
        for i, text in enumerate(sentences):
            # An anchor "запрос: <positive text>" lies near its positive, as a real query would.
            target = text.removeprefix(ANCHOR_PREFIX)
            out[i] = np.random.default_rng(zlib.crc32(target.encode())).standard_normal(DIM, dtype=np.float32)
            if target != text:
                noise = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIM, dtype=np.float32)
                out[i] = out[i] / np.linalg.norm(out[i]) + noise / np.linalg.norm(noise)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_document = encode_query

    def similarity(self, a, b):  # noqa: ANN001, ANN201 - mirrors SentenceTransformer.similarity
        import torch

        return torch.as_tensor(a) @ torch.as_tensor(b).T

    def similarity_pairwise(self, a, b):  # noqa: ANN001, ANN201
        import torch

        return (torch.as_tensor(a) * torch.as_tensor(b)).sum(-1)

    def get_embedding_dimension(self) -> int:
        return DIM


def search_once(n_products: int, n_anchors: int, seed: int) -> dict[str, float]:
    from wb_embedder.triplets.negatives import mined_candidates
    from wb_embedder.triplets.tasks import Document, TaskPairs

    params = load_params()
    rng = np.random.default_rng(seed)
    documents = {
        f"p{i}": Document(text=f"товар {i} модель {rng.integers(1e9)}", key=f"p{i}", title=f"товар {i}", category="")
        for i in range(n_products)
    }
    positives = rng.choice(n_products, size=n_anchors, replace=n_anchors > n_products)
    pairs = pd.DataFrame({
        "anchor": [f"{ANCHOR_PREFIX}{documents[f'p{j}'].text}" for j in positives],
        "positive_key": [f"p{j}" for j in positives],
        "relevant_keys": [frozenset({f"p{j}"}) for j in positives],
        "label": ["" for _ in range(n_anchors)],
    })
    task = TaskPairs("search_query", "retrieval", pairs, documents)
    negatives = params.triplets.negatives
    wanted = negatives.num_negatives * negatives.mined.oversample
    started = time.perf_counter()
    candidates, _ = mined_candidates(task, wanted, negatives, PromptPair(query="", document=""), StandInEncoder(),
                                     labelled=False)
    seconds = time.perf_counter() - started
    return {
        "products": n_products,
        "anchors": n_anchors,
        "search_s": round(seconds, 3),
        "candidates_per_anchor": round(float(np.mean([len(c) for c in candidates])), 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def encode_rate(n_texts: int) -> float:
    """Product texts per second of the real base model (models/base, built by `dvc repro base_model`)."""
    from sentence_transformers import SentenceTransformer

    from wb_embedder.corpus import generate_corpus

    params = load_params()
    cards = generate_corpus(params.corpus.model_copy(update={"n_products": max(n_texts // 3, 50)}), params.seed)["cards"]
    texts = (cards["title"] + ". " + cards["description"]).drop_duplicates().head(n_texts).tolist()
    model = SentenceTransformer(str(Path("models/base").resolve()), device="cpu")
    model.max_seq_length = params.model.max_seq_length
    model.encode(texts[:32], batch_size=32)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=params.triplets.negatives.mined.batch_size, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--anchors", type=int, default=2000)
    parser.add_argument("--encode-sample", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("bench/results/bench_mining.json"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.one:
        print(json.dumps(search_once(args.one, args.anchors, seed=0)))
        return
    rows = []
    for size in args.sizes:
        child = subprocess.run([sys.executable, __file__, "--one", str(size), "--anchors", str(args.anchors)],
                               capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        logger.info("search %s", rows[-1])
    rate = encode_rate(args.encode_sample)
    for row in rows:
        row["encode_s_estimated"] = round((row["products"] + row["anchors"]) / rate, 1)
    base = rows[0]
    for row in rows:
        row["search_cost_ratio_vs_smallest"] = round(row["search_s"] / max(base["search_s"], 1e-9), 2)
        row["size_ratio_vs_smallest"] = round(row["products"] / base["products"], 2)
    report = {"encode_texts_per_s": round(rate, 1), "max_seq_length": load_params().model.max_seq_length,
              "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("| products | anchors | search s | peak RSS MiB | encode s (est.) | search cost x | size x |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['products']} | {r['anchors']} | {r['search_s']} | {r['peak_rss_mib']} | "
              f"{r['encode_s_estimated']} | {r['search_cost_ratio_vs_smallest']} | {r['size_ratio_vs_smallest']} |")
    print(f"encoding: {rate:.1f} product texts/s (max_seq_length {report['max_seq_length']})")


if __name__ == "__main__":
    main()
