"""Speed of the shipped model: PyTorch fp32 (sentence-transformers) vs the ONNX export, fp32 and int8.

    python bench/bench_onnx.py [--model models/finetuned] [--onnx models/onnx] [--repeats 2] \
        [--out bench/results/bench_onnx.json]

Texts per second at batch 1 and batch 32, at 64 and 256 tokens (real Ozon titles from
data/real/titles.tsv, joined until every text is longer than the length and truncated to it, so
each text is exactly that many tokens), each variant with the same number of threads (the CPU's
cores unless --threads). Each variant runs in a fresh process of its own (the ONNX ones import no
torch, as search code using the loader would), so its peak RSS is its own; the variants are
interleaved over --repeats rounds and every figure is the median over rounds. One untimed batch
before each timing takes first-call allocations out. Also written: the model files' sizes and the
1-minute load before and after (the machine is shared: a load above the thread count means other
jobs took turns on the cores).

After a default ``dvc repro`` (which writes both folders); bench/harness.py --only onnx runs it and
writes the table the README shows (bench/results/onnx.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

logger = logging.getLogger("bench_onnx")

VARIANTS = ("torch-fp32", "onnx-fp32", "onnx-int8")
BATCHES = (1, 32)
LENGTHS = (64, 256)
# Texts timed per setting: enough batches for a stable figure, few enough for minutes in all.
TEXTS = {(1, 64): 16, (1, 256): 8, (32, 64): 96, (32, 256): 64}
TITLES = ROOT / "data" / "real" / "titles.tsv"
PROMPT = "query: "


def setting(batch: int, length: int) -> str:
    return f"batch{batch}_tokens{length}"


def bench_texts(count: int, min_chars: int = 2500) -> list[str]:
    """``count`` texts of real titles, each joined until it is longer than any length measured."""
    with TITLES.open(encoding="utf-8", newline="") as handle:
        titles = [row["title"] for row in csv.DictReader(handle, delimiter="\t")]
    texts, i = [], 0
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 2 for p in parts) < min_chars:
            parts.append(titles[i % len(titles)])
            i += 1
        texts.append(". ".join(parts))
    return texts


class _Torch:
    def __init__(self, model_dir: Path, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_dir), device="cpu")

    def configure(self, length: int) -> None:
        self.model.max_seq_length = length

    def tokens(self, texts: list[str]) -> list[int]:
        ids = self.model.tokenizer([PROMPT + t for t in texts], truncation=True, max_length=self.model.max_seq_length)
        return [len(row) for row in ids["input_ids"]]

    def encode(self, texts: list[str], batch: int) -> Any:
        return self.model.encode(texts, prompt=PROMPT, batch_size=batch, show_progress_bar=False, convert_to_numpy=True)


class _Onnx:
    def __init__(self, folder: Path, variant: str, threads: int) -> None:
        self.folder, self.variant, self.threads = folder, variant, threads
        self.encoder: Any = None

    def configure(self, length: int) -> None:
        from wb_embedder.export.onnx_encoder import OnnxEncoder

        self.encoder = OnnxEncoder(self.folder, self.variant, max_seq_length=length, threads=self.threads)

    def tokens(self, texts: list[str]) -> list[int]:
        return [int(n) for n in self.encoder.token_counts([PROMPT + t for t in texts])]

    def encode(self, texts: list[str], batch: int) -> Any:
        return self.encoder.encode(texts, prompt=PROMPT, batch_size=batch)


def worker(variant: str, model_dir: Path, folder: Path, threads: int) -> dict[str, Any]:
    """Every setting for one variant, in this process: texts/s per setting and the peak RSS."""
    runner = _Torch(model_dir, threads) if variant == "torch-fp32" else _Onnx(folder, variant.split("-")[1], threads)
    texts = bench_texts(max(TEXTS.values()) + max(BATCHES))
    out: dict[str, Any] = {"texts_per_s": {}}
    for length in LENGTHS:
        runner.configure(length)
        counts = set(runner.tokens(texts))
        if counts != {length}:
            raise SystemExit(f"bench texts are not all {length} tokens long: {sorted(counts)[:5]}")
        for batch in BATCHES:
            n = TEXTS[(batch, length)]
            runner.encode(texts[n: n + batch], batch)  # warm-up, untimed
            started = time.perf_counter()
            runner.encode(texts[:n], batch)
            out["texts_per_s"][setting(batch, length)] = round(n / (time.perf_counter() - started), 2)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["torch_imported"] = "torch" in sys.modules
    return out


def _run_worker(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--worker", variant, "--model", str(args.model), "--onnx",
                           str(args.onnx), "--threads", str(args.threads)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from wb_embedder.export.onnx_encoder import read_manifest

    manifest = read_manifest(args.onnx)
    load_before = os.getloadavg()[0]
    rounds: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            rounds[variant].append(_run_worker(variant, args))
            logger.info("round %d, %s: %s", repeat + 1, variant, rounds[variant][-1]["texts_per_s"])
    load_after = os.getloadavg()[0]
    settings = [setting(b, n) for b in BATCHES for n in LENGTHS]
    texts_per_s = {v: {s: statistics.median(r["texts_per_s"][s] for r in rounds[v]) for s in settings} for v in VARIANTS}
    return {
        "threads": args.threads,
        "repeats": args.repeats,
        "prompt": PROMPT,
        "texts_timed": {setting(b, n): TEXTS[(b, n)] for b, n in TEXTS},
        "texts_per_s": texts_per_s,
        "speed_up_vs_torch": {v: {s: round(texts_per_s[v][s] / texts_per_s["torch-fp32"][s], 2) for s in settings}
                              for v in VARIANTS[1:]},
        "peak_rss_mib": {v: max(r["peak_rss_mib"] for r in rounds[v]) for v in VARIANTS},
        "torch_imported": {v: any(r["torch_imported"] for r in rounds[v]) for v in VARIANTS},
        "file_mib": {"torch-fp32": _mib(args.model / "model.safetensors"),
                     "onnx-fp32": _mib(args.onnx / manifest["files"]["fp32"]),
                     "onnx-int8": _mib(args.onnx / manifest["files"]["int8"])},
        "parity": manifest["parity"],
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "rounds": rounds,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/finetuned"))
    parser.add_argument("--onnx", type=Path, default=Path("models/onnx"))
    parser.add_argument("--repeats", type=int, default=5)  # 2 rounds swung 1.25x-1.67x on this VM
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.onnx, args.threads)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    figures = measure(args)
    print(json.dumps({k: v for k, v in figures.items() if k != "rounds"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
