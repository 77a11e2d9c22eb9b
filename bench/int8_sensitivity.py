"""Which FFN down-projections the int8 export should keep fp32: how far quantizing each one moves
the embeddings, on DEV texts only, as the mean cosine of the int8 graph to the fp32 graph.

    python bench/int8_sensitivity.py [--rounds 3] [--per-benchmark 200]

Reads models/onnx (a default `dvc repro`) and the dev halves of the classification benchmarks
named below; quantizes with params' export.quantization except keep_fp32, first with every
down-projection quantized, then keeping one layer's at a time, then greedily adding the layer that
helps most. Writes bench/results/int8_sensitivity.md (shown in docs/export.md); the candidates of
bench/int8_dev.yaml that keep only some layers were taken from it, and are judged there on the dev
benchmarks. Test is never read.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "models" / "onnx"
DEV = ROOT / "data" / "benchmarks" / "dev"
RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ("WBReviewsSummarizationClassification", "WBGoodsCategoriesClassification", "WBGenderClassification")
LAYERS = 12

logger = logging.getLogger("int8_sensitivity")


def dev_texts(per_benchmark: int) -> list[str]:
    texts: list[str] = []
    for name in BENCHMARKS:
        texts += pd.read_parquet(DEV / name / "test.parquet")["text"].astype(str).tolist()[:per_benchmark]
    return texts


def down_projection(layers: list[int]) -> list[str]:
    return [rf"layer\.({'|'.join(map(str, sorted(layers)))})/output/dense/"] if layers else []


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="greedy additions after the best single layer")
    parser.add_argument("--per-benchmark", type=int, default=200, help="dev texts taken from each benchmark")
    args = parser.parse_args(argv)

    from wb_embedder.config import load_params
    from wb_embedder.export.onnx_encoder import OnnxEncoder
    from wb_embedder.export.onnx_export import _quantize

    export_cfg = load_params().export
    texts = dev_texts(args.per_benchmark)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "onnx"
        shutil.copytree(EXPORT, folder)
        reference = OnnxEncoder(folder, "fp32").encode(texts, batch_size=32)

        def mean_cosine(layers: list[int]) -> float:
            # The stage's own quantization, with only keep_fp32 replaced.
            quantization = export_cfg.quantization.model_copy(update={"keep_fp32": down_projection(layers)})
            _quantize(folder / "model.onnx", folder / "model_int8.onnx",
                      export_cfg.model_copy(update={"quantization": quantization}))
            embeddings = OnnxEncoder(folder, "int8").encode(texts, batch_size=32)
            value = float((embeddings * reference).sum(axis=1).mean())
            logger.info("down-projections kept fp32 %s: mean cosine %.4f", layers or "none", value)
            return value

        rows = [("none", mean_cosine([]))]
        single = {layer: mean_cosine([layer]) for layer in range(LAYERS)}
        rows += [(f"layer {layer} only", value) for layer, value in single.items()]
        kept = [max(single, key=single.get)]
        for _ in range(args.rounds):
            trial = {layer: mean_cosine(kept + [layer]) for layer in range(LAYERS) if layer not in kept}
            best = max(trial, key=trial.get)
            kept.append(best)
            rows.append((f"greedy: layers {', '.join(map(str, kept))}", trial[best]))
        rows.append(("all 12", mean_cosine(list(range(LAYERS)))))

    lines = [
        f"Mean cosine of int8 to the fp32 graph on {len(texts)} dev texts ({', '.join(BENCHMARKS)}; "
        f"the first {args.per_benchmark} of each), by which FFN down-projections stay fp32 (nothing else "
        "kept fp32; the other export.quantization settings as params give). Written by `python bench/int8_sensitivity.py`.",
        "",
        "| down-projections kept fp32 | mean cosine |",
        "|---|---|",
    ] + [f"| {label} | {value:.4f} |" for label, value in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "int8_sensitivity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
