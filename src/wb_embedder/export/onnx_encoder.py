"""Encode texts with the ONNX export (models/onnx/) and ONNX Runtime, without torch.

    from wb_embedder.export.onnx_encoder import OnnxEncoder

    encoder = OnnxEncoder("models/onnx")                  # the int8 graph; "fp32" for the other
    queries = encoder.encode(["красное платье"], prompt=encoder.prompt("search_query", "query"))

``encode`` has sentence-transformers' shape: a list of texts in, a float32 numpy array out (one
row per text; a single string gives one vector), ``batch_size``, ``prompt`` (prepended to every
text, as sentence-transformers does) and ``normalize_embeddings``. The export's graph pools and
normalises itself (its manifest says how: ``pooling``, ``normalized``), so a row is already the
model's sentence embedding; ``normalize_embeddings`` only matters for a model without a
Normalize module. Texts are tokenised with the ``tokenizers`` library from the export's
``tokenizer.json`` (truncated to the manifest's ``max_seq_length``), ordered by token count and
run in batches padded to their longest text, so little is spent on padding.

int8 embeddings depend a little on the rest of their batch: dynamic quantization scales the
activations of a whole batch at once. Batches are formed by a fixed rule (longest first, ties
in input order), so the same call always gives the same vectors.

Only numpy, onnxruntime, tokenizers and tqdm are imported (tests/test_onnx_export.py checks in a
fresh interpreter that torch is not), so search code can ship this module and the folder alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from wb_embedder.export.errors import ExportError

MANIFEST = "manifest.json"
PROMPTS = "prompts.json"
TOKENIZER = "tokenizer.json"
# What the manifest's "format" says; a loader refuses a folder written in another format.
FORMAT = 1
VARIANTS = ("fp32", "int8")
SIDES = ("query", "document")


def read_manifest(folder: Path | str) -> dict[str, Any]:
    """The export's manifest; a missing folder or a manifest that is not the export's is one line."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ExportError(f"{folder}: ONNX export folder not found (run `dvc repro export`)")
    if not path.is_file():
        raise ExportError(f"{folder}: not an ONNX export folder, no {MANIFEST} (run `dvc repro export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not a JSON manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not an export manifest of format {FORMAT} (run `dvc repro export` again)")
    return manifest


def skip_reason(manifest: dict[str, Any]) -> str | None:
    """Why the export stage wrote no model (its manifest says so), or None when it did."""
    return None if manifest.get("exported") else str(manifest.get("skipped") or "no reason recorded")


class OnnxEncoder:
    """One variant (``fp32`` or ``int8``) of the export in models/onnx/, with sentence-transformers'
    ``encode`` shape. ``max_seq_length`` overrides the manifest's (the graph takes any length up
    to the model's position table); ``threads``: ONNX Runtime's intra-op threads (None: its
    default, one per physical core)."""

    def __init__(self, folder: Path | str, variant: str = "int8", *, max_seq_length: int | None = None,
                 threads: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ExportError(f"unknown export variant {variant!r}; one of {VARIANTS}")
        self.folder = Path(folder)
        self.variant = variant
        self.manifest = read_manifest(self.folder)
        if (why := skip_reason(self.manifest)) is not None:
            raise ExportError(f"{self.folder}: the export stage wrote no model ({why})")
        try:
            self.max_seq_length = int(max_seq_length or self.manifest["max_seq_length"])
            self._input_names = list(self.manifest["inputs"])
            tokenizer = self.manifest["tokenizer"]
            self._pad_id = int(tokenizer["pad_id"])
            self._left_padding = tokenizer["padding_side"] == "left"
            self._lowercase = bool(tokenizer["do_lower_case"])
            truncation_side = str(tokenizer["truncation_side"])
            self.prompts: dict[str, dict[str, str]] = json.loads(
                (self.folder / PROMPTS).read_text(encoding="utf-8"))
            model_file = self.folder / self.manifest["files"][variant]
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ExportError(f"{self.folder / MANIFEST}: incomplete export ({type(exc).__name__}: {exc}); "
                              "run `dvc repro export` again") from None
        self._tokenizer = _load_tokenizer(self.folder / TOKENIZER, self.max_seq_length, truncation_side)
        self._session = _load_session(model_file, threads)

    @property
    def dimension(self) -> int:
        return int(self.manifest["embedding_dimension"])

    def prompt(self, task: str, side: str = "query") -> str:
        """The prompt the model was trained with for ``task`` (a ``model.prompts`` task) and side."""
        if task not in self.prompts or side not in SIDES:
            raise ExportError(f"{self.folder / PROMPTS}: no prompt for task {task!r}, side {side!r} "
                              f"(tasks: {sorted(self.prompts)}; sides: {SIDES})")
        return self.prompts[task][side]

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [t.lower() for t in texts] if self._lowercase else list(texts)
        return [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text as the graph sees it (special tokens included, truncated)."""
        return np.array([len(ids) for ids in self._ids(texts)], dtype=np.int64)

    def _features(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        """The graph's inputs for one batch, padded to its longest text."""
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            span = slice(width - len(row), width) if self._left_padding else slice(0, len(row))
            input_ids[i, span], mask[i, span] = row, 1
        features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return {name: features[name] for name in self._input_names}

    def features(self, texts: Sequence[str], batch_size: int) -> list[dict[str, np.ndarray]]:
        """The graph's inputs for ``texts`` (prompts already prepended), in batches of
        ``batch_size`` in input order: what the export's calibration runs through a graph."""
        ids = self._ids(texts)
        return [self._features(ids[i: i + batch_size]) for i in range(0, len(ids), batch_size)]

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        """One batch through the graph, padded to its longest text."""
        return self._session.run(None, self._features(ids))[0]

    def encode(self, sentences: str | Sequence[str], prompt: str | None = None, batch_size: int = 32,
               show_progress_bar: bool = False, normalize_embeddings: bool = False,
               convert_to_numpy: bool = True) -> np.ndarray:
        """Embeddings of ``sentences`` (rows aligned), as ``SentenceTransformer.encode`` gives them.
        ``convert_to_numpy`` is accepted for its signature's sake: the result is always numpy."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if texts:
            ids = self._ids([(prompt or "") + text for text in texts])
            # Longest first, ties in input order: the same texts always make the same batches.
            order = np.lexsort((np.arange(len(ids)), -np.array([len(row) for row in ids])))
            batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
            for batch in tqdm(batches, desc=f"onnx {self.variant}", unit="batch", disable=not show_progress_bar):
                out[batch] = self._run([ids[i] for i in batch])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out


def _load_tokenizer(path: Path, max_seq_length: int, side: str) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust library raises plain Exception for a missing or bad file
        raise ExportError(f"{path}: cannot load the tokenizer ({exc}); run `dvc repro export` again") from None
    # Padding is done per batch here (_run); truncation as sentence-transformers truncates.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length, direction=side)
    return tokenizer


def _load_session(path: Path, threads: int | None) -> Any:
    import onnxruntime

    if not path.is_file():
        raise ExportError(f"{path}: ONNX model file not found; run `dvc repro export` again")
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors (Fail, InvalidProtobuf, ...) derive from Exception
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: ONNX Runtime cannot load it ({first}); run `dvc repro export` again") from None
