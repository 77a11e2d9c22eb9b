"""Stage evaluate_int8: the ONNX export scored by the path every other system takes.

The loader (:class:`~wb_embedder.export.onnx_encoder.OnnxEncoder`) is an encoder like a
sentence-transformers model: the shared embedding cache, the token-sorted batches and mteb's
scoring of the 11 benchmarks and the real-text suite (:func:`wb_embedder.evaluation.run.evaluate_system`)
never know which system they score, and the records written are the same, so the report pairs
them with the fine-tuned model's item by item. An export the export stage skipped gives a
record saying so (``run.json`` with ``skipped``), which the report shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.embedding_cache import SentenceTransformerEncoder
from wb_embedder.evaluation.run import EmbeddingSystem, Items, Results, benchmark_digests, evaluate_system, load_splits
from wb_embedder.evaluation.schema import EvaluateConfig
from wb_embedder.export.errors import ExportError
from wb_embedder.export.onnx_encoder import PROMPTS, OnnxEncoder, read_manifest, skip_reason

logger = logging.getLogger(__name__)


def evaluate_export(
    folder: Path | str, variant: str, benchmarks_dir: Path | str, prompts: Mapping[str, PromptPair],
    cfg: EvaluateConfig, seed: int, real_dir: Path | str | None = None,
) -> tuple[dict[str, tuple[Results, Items]], dict[str, Any]]:
    """Metrics and per-item records of one variant of the export on dev and test, and the run
    facts for run.json; nothing scored (and ``skipped`` in the facts) when the export stage skipped."""
    system_name = f"onnx-{variant}"
    why = skip_reason(read_manifest(folder))
    if why is not None:
        logger.info("%s: the export stage wrote no model (%s): %s is not scored", folder, why, system_name)
        return {}, {"system": system_name, "skipped": why}
    by_split = load_splits(benchmarks_dir, real_dir)
    encoder = OnnxEncoder(folder, variant)
    exported = {task: PromptPair(**pair) for task, pair in encoder.prompts.items()}
    if exported != dict(prompts):
        raise ExportError(f"{Path(folder) / PROMPTS}: the export holds other prompts than params give it "
                          "(model.prompts, finetune.prompts); run `dvc repro export` again")
    system = EmbeddingSystem(SentenceTransformerEncoder(encoder, cfg.batch_size), name=f"wb-embedder/{system_name}")
    started = time.perf_counter()
    results = evaluate_system(by_split, system, prompts, cfg, seed)
    logger.info("scored %s in %.1f s", system_name, time.perf_counter() - started)
    info = {
        "system": system_name,
        **benchmark_digests(benchmarks_dir, real_dir),
        "device": "cpu (onnxruntime CPUExecutionProvider)",
        "export_source_digest": encoder.manifest["source"]["digest"],
        "texts_requested": system.cache.requested,
        "texts_encoded": system.cache.encoded,
    }
    return results, info
