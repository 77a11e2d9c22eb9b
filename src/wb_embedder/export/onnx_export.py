"""Stage export: the fine-tuned model as ONNX, an int8 copy, its tokenizer and prompts (models/onnx/).

What the folder holds (``manifest.json`` lists it, with the opset, pooling, max_seq_length and
the source model's digest):

- ``model.onnx``: the whole sentence-transformers model, traced by ``torch.onnx.export`` with
  dynamic batch and sequence axes: inputs ``input_ids`` and ``attention_mask`` (and
  ``token_type_ids`` where the tokenizer makes them), output ``sentence_embedding``. Pooling and
  normalisation are **inside the graph** (the model's own Pooling and Normalize modules were
  traced with it), so a loader only tokenises and pads;
- ``model_int8.onnx``: ``model.onnx`` through ONNX Runtime's dynamic quantization
  (``export.quantization``): weights stored as int8, activations quantized per batch at run time;
  with ``export.quantization.smoothing.alpha`` set, SmoothQuant's per-channel scales are folded in
  first, measured on training texts (:mod:`wb_embedder.export.smoothing`);
- ``tokenizer.json`` (the ``tokenizers`` library's file, as the model tokenises) and
  ``prompts.json`` (the prompt pair of every task, those the model was trained and is scored with).

Before the folder is written, both graphs encode the probe texts below (with each prompt the model
was trained with) through :class:`~wb_embedder.export.onnx_encoder.OnnxEncoder`, the loader search
code uses, and their cosine to the PyTorch model's embeddings must pass ``export.parity``; the
figures go into the manifest.

Exported are encoder models (``SUPPORTED_MODEL_TYPES``) made of a Transformer, a Pooling and
optionally a Normalize module. Anything else (the decoder profiles' Llama and Qwen3 models,
Giga-Embeddings-instruct's own pooling code) is skipped with one warning line, as is every model
when ``export.enabled`` is false: the folder then holds only a manifest that says so, which the
int8 evaluation and the report read.

The export is deterministic: the same model folder and params give the same bytes (the legacy
TorchScript exporter traces the same graph every time; ``torch.onnx``'s newer dynamo exporter
needs the onnxscript package and was not needed for these models).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from wb_embedder.config import PromptPair
from wb_embedder.evaluation.embedding_cache import load_model
from wb_embedder.export.errors import ExportError
from wb_embedder.export.onnx_encoder import FORMAT, MANIFEST, PROMPTS, TOKENIZER, OnnxEncoder
from wb_embedder.export.schema import ExportConfig
from wb_embedder.export.smoothing import calibration_texts, channel_maxima, smooth
from wb_embedder.io import atomic_dir, tree_digest, write_json

logger = logging.getLogger(__name__)

FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
OUTPUT = "sentence_embedding"
# Encoder families the export is checked on (tests/test_onnx_export.py: a tiny BERT; the real
# e5-small, a BERT with XLM-R's tokenizer). RoBERTa-style models trace the same way.
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Marketplace-like texts of every length the models see (one past any max_seq_length, so the
# truncation is checked too); each is encoded under every prompt the model was trained with.
PROBE_TEXTS = (
    "платье",
    "кроссовки мужские nike air черные 43",
    "Чайник электрический Xiaomi Mi Smart Kettle, 1.7 л, белый",
    "Пришло быстро, качество отличное, размер подошёл, спасибо продавцу!",
    "Маломерит на размер, ткань тонкая, после стирки села. Возврат оформила, деньги вернули через неделю.",
    "как вернуть товар если прошло больше 14 дней",
    "adidas",
    "адидас",
    "Пол: Женский; Состав: хлопок 95%, эластан 5%; Цвет: синий; Сезон: лето; Страна: Россия. "
    * 12,
)


def _skipped_manifest(reason: str, digest: str) -> dict[str, Any]:
    return {"format": FORMAT, "exported": False, "skipped": reason, "source": {"digest": digest}}


def unsupported(model: Any) -> str | None:
    """Why ``model`` (a SentenceTransformer) cannot be exported, or None."""
    from wb_embedder.training.compat import Normalize, Pooling, Transformer, backbone

    modules = list(model)
    if not modules or not isinstance(modules[0], Transformer):
        return f"its first module is {type(modules[0]).__name__ if modules else 'missing'}, not a Transformer"
    network = backbone(model)
    model_type = getattr(getattr(network, "config", None), "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        return (f"it is a {type(network).__name__} (model_type {model_type!r}); the ONNX export supports the encoder "
                f"types {', '.join(SUPPORTED_MODEL_TYPES)}")
    others = [type(m).__name__ for m in modules[1:] if not isinstance(m, (Pooling, Normalize))]
    if others or not any(isinstance(m, Pooling) for m in modules[1:]):
        return f"its modules after the Transformer are {[type(m).__name__ for m in modules[1:]]}, not Pooling (+ Normalize)"
    pooling = next(m for m in modules[1:] if isinstance(m, Pooling))
    if not getattr(pooling, "include_prompt", True):
        return "its pooling leaves the prompt's tokens out (include_prompt: false), which the graph cannot know"
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False) or tokenizer.pad_token_id is None:
        return "its tokenizer is not a fast (tokenizers library) tokenizer with a pad token"
    return None


def _traceable(model: Any, names: tuple[str, ...]) -> Any:
    """The model as a module of its token tensors (in ``names`` order) to its sentence embedding."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors, strict=True)))[OUTPUT]

    return SentenceEmbedding().eval()


def _export_fp32(model: Any, path: Path, opset: int) -> tuple[str, ...]:
    """Trace ``model`` into ``path``; return the graph's input names."""
    import torch

    sample = model.tokenizer(["пример", "пример текста подлиннее"], padding=True, return_tensors="pt")
    names = tuple(name for name in _INPUTS if name in sample)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (module docstring); its deprecation notice and
        # the tracer's notes on shape-dependent Python branches in transformers' code are expected.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # transformers' attention mask indexes the padding mask with aranges, never negative
        # indices, which is what this caution is about (the parity check runs the graph anyway).
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced indexing")
        try:
            with torch.no_grad():
                torch.onnx.export(
                    _traceable(model, names), tuple(sample[name] for name in names), str(path),
                    input_names=list(names), output_names=[OUTPUT],
                    dynamic_axes={**axes, OUTPUT: {0: "batch"}}, opset_version=opset, dynamo=False,
                )
        except (RuntimeError, ValueError) as exc:  # torch.onnx.errors.* derive from these
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"torch.onnx.export failed at export.opset {opset}: {first}") from None
    return names


def _quantize(source: Path, target: Path, cfg: ExportConfig) -> list[str]:
    """Write the int8 copy of ``source``; return the names of the nodes kept in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    q = cfg.quantization
    unknown = sorted(set(q.op_types) - set(IntegerOpsRegistry))
    if unknown:
        raise ExportError(f"export.quantization.op_types: onnxruntime quantizes no {unknown} dynamically "
                          f"(it does {sorted(IntegerOpsRegistry)})")
    names = [node.name for node in onnx.load(str(source), load_external_data=False).graph.node
             if node.op_type in q.op_types]
    keep: list[str] = []
    for pattern in q.keep_fp32:
        matched = [name for name in names if re.search(pattern, name)]
        if not matched:
            raise ExportError(f"export.quantization.keep_fp32: {pattern!r} matches no {'/'.join(q.op_types)} node "
                              f"(node names look like {names[len(names) // 2]!r})")
        keep += [name for name in matched if name not in keep]
    weight_type = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[q.weight_type]
    # onnxruntime's quantizer logs on the root logger, at INFO a line per tensor it leaves alone
    # (60 on e5-small), which would bury the stage's own lines; its warnings still pass.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(source, target, op_types_to_quantize=list(q.op_types), per_channel=q.per_channel,
                         reduce_range=q.reduce_range, weight_type=weight_type, nodes_to_exclude=keep)
    finally:
        root.setLevel(level)
    return keep


def _write_tokenizer(model: Any, path: Path) -> None:
    """The tokenizer as the model runs it, with no padding or truncation of its own (the loader
    sets both from the manifest)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(path))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def check_parity(model: Any, folder: Path, prompts: Mapping[str, PromptPair], cfg: ExportConfig) -> dict[str, Any]:
    """Cosine of each graph's embeddings to the PyTorch model's on the probe texts, under every
    prompt; stop with one line when an export strays past ``export.parity``."""
    distinct = sorted({p for pair in prompts.values() for p in (pair.query, pair.document)})
    figures: dict[str, Any] = {"texts": len(PROBE_TEXTS) * len(distinct)}
    cosines = {}
    for variant in FILES:
        encoder = OnnxEncoder(folder, variant)
        cosines[variant] = np.concatenate([
            _cosines(encoder.encode(list(PROBE_TEXTS), prompt=prompt),
                     model.encode(list(PROBE_TEXTS), prompt=prompt, convert_to_numpy=True, show_progress_bar=False))
            for prompt in distinct])
        figures[f"{variant}_min_cosine"] = round(float(cosines[variant].min()), 6)
        figures[f"{variant}_mean_cosine"] = round(float(cosines[variant].mean()), 6)
    limits = cfg.parity
    if figures["fp32_min_cosine"] < limits.min_fp32_cosine:
        raise ExportError(f"the fp32 ONNX graph strays from the PyTorch model: cosine {figures['fp32_min_cosine']:.6f} "
                          f"on a probe text, below export.parity.min_fp32_cosine {limits.min_fp32_cosine}")
    if figures["int8_mean_cosine"] < limits.min_int8_mean_cosine:
        raise ExportError(f"the int8 copy strays from the PyTorch model: mean cosine {figures['int8_mean_cosine']:.6f} on "
                          f"the probe texts, below export.parity.min_int8_mean_cosine {limits.min_int8_mean_cosine} "
                          "(try export.quantization.per_channel: true, or fewer op_types)")
    return figures


def export_model(model_dir: Path | str, out_dir: Path | str, cfg: ExportConfig, prompts: Mapping[str, PromptPair],
                 trust_remote_code: bool, triplets_dir: Path | None = None) -> dict[str, Any]:
    """Write the export of ``model_dir`` to ``out_dir`` (replaced as a whole) and return its manifest.
    ``triplets_dir``: the training triplets, whose texts calibrate ``export.quantization.smoothing``
    (None: smoothing must be off)."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not model_dir.is_dir():
        raise ExportError(f"{model_dir}: model folder not found (run the finetune stage first)")
    digest = tree_digest(model_dir)
    with atomic_dir(out_dir) as tmp:
        if not cfg.enabled:
            manifest = _skipped_manifest("export.enabled is false", digest)
            logger.info("export.enabled is false: no ONNX export of %s; %s says so and evaluate_int8 is skipped",
                        model_dir, out_dir / MANIFEST)
        else:
            model = load_model(model_dir, "cpu", trust_remote_code)
            why = unsupported(model)
            if why is not None:
                manifest = _skipped_manifest(f"{model_dir} is not exportable: {why}", digest)
                logger.warning("export skipped: %s is not exportable: %s; evaluate_int8 is skipped too "
                               "(set export.enabled: false for this model)", model_dir, why)
            else:
                manifest = _export(model, model_dir, tmp, cfg, prompts, digest, triplets_dir)
        write_json(manifest, tmp / MANIFEST)
    return manifest


def _export(model: Any, model_dir: Path, tmp: Path, cfg: ExportConfig, prompts: Mapping[str, PromptPair],
            digest: str, triplets_dir: Path | None) -> dict[str, Any]:
    from wb_embedder.training.compat import Normalize, Pooling, embedding_dimension

    names = _export_fp32(model, tmp / FILES["fp32"], cfg.opset)
    _write_tokenizer(model, tmp / TOKENIZER)
    write_json({task: pair.model_dump() for task, pair in sorted(prompts.items())}, tmp / PROMPTS)
    pooling = next(m for m in model if isinstance(m, Pooling))
    tokenizer = model.tokenizer
    manifest = {
        "format": FORMAT,
        "exported": True,
        "source": {"path": model_dir.as_posix(), "digest": digest},
        "files": FILES,
        "opset": cfg.opset,
        "inputs": list(names),
        "output": OUTPUT,
        # Both are inside the graph: a row of the output is the sentence embedding.
        "pooling": str(getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()),  # 6.x / 5.x
        "normalized": any(isinstance(m, Normalize) for m in model),
        "embedding_dimension": embedding_dimension(model),
        "max_seq_length": model.max_seq_length,
        "tokenizer": {"file": TOKENIZER, "pad_id": tokenizer.pad_token_id, "padding_side": tokenizer.padding_side,
                      "truncation_side": tokenizer.truncation_side,
                      "do_lower_case": bool(getattr(model[0], "do_lower_case", False))},
        "prompts": PROMPTS,
        "quantization": cfg.quantization.model_dump(),
        "versions": {name: version(name) for name in ("torch", "onnx", "onnxruntime", "tokenizers")},
    }
    write_json(manifest, tmp / MANIFEST)  # the loader reads it for the calibration and the parity check
    source = tmp / FILES["fp32"]
    smoothing = cfg.quantization.smoothing
    if smoothing.alpha is not None:
        if triplets_dir is None:
            raise ExportError("export.quantization.smoothing needs calibration texts (the training triplets)")
        calibration = calibration_texts(triplets_dir, prompts, smoothing.calibration_texts)
        feeds = OnnxEncoder(tmp, "fp32").features(calibration, smoothing.batch_size)
        source = tmp / "model_smoothed.onnx"
        manifest["quantization"]["smoothed_inputs"] = smooth(tmp / FILES["fp32"], source,
                                                             channel_maxima(tmp / FILES["fp32"], feeds), smoothing.alpha)
        manifest["quantization"]["calibration_texts_used"] = len(calibration)
    kept_fp32 = _quantize(source, tmp / FILES["int8"], cfg)
    if source != tmp / FILES["fp32"]:
        source.unlink()  # the smoothed fp32 graph is a step, not part of the export
    manifest["quantization"]["nodes_kept_fp32"] = len(kept_fp32)
    write_json(manifest, tmp / MANIFEST)
    manifest["parity"] = check_parity(model, tmp, prompts, cfg)
    logger.info("exported %s: fp32 %.1f MiB, int8 %.1f MiB; cosine to PyTorch on %d probe texts: fp32 min %.6f, "
                "int8 mean %.6f (min %.6f)", model_dir, (tmp / FILES["fp32"]).stat().st_size / 2**20,
                (tmp / FILES["int8"]).stat().st_size / 2**20, manifest["parity"]["texts"],
                manifest["parity"]["fp32_min_cosine"], manifest["parity"]["int8_mean_cosine"],
                manifest["parity"]["int8_min_cosine"])
    return manifest
