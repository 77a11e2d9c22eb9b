"""The ``export:`` section of params.yaml (stage export: ONNX and int8, models/onnx/).

Only pydantic here: ``wb_embedder.config`` imports this module, and every stage loads the config.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from wb_embedder.schema import StrictSection as _Section


class SmoothingSection(_Section):
    """SmoothQuant before the int8 quantization (wb_embedder.export.smoothing)."""

    # Share of each input channel's range moved into the weights (0: none; 1: all). null: no
    # smoothing, the int8 copy is quantized from the traced graph as it is.
    alpha: float | None = Field(ge=0, le=1)
    # Training texts (the triplets' anchors and positives, with their prompts) whose activation
    # maxima set the scales, and how many go through the graph at once.
    calibration_texts: int = Field(ge=1)
    batch_size: int = Field(ge=1)


class QuantizationSection(_Section):
    """ONNX Runtime's dynamic quantization (``onnxruntime.quantization.quantize_dynamic``): weights
    stored as 8-bit integers, activations quantized per batch at run time."""

    weight_type: Literal["qint8", "quint8"]
    # One scale per output channel of each weight matrix instead of one per matrix.
    per_channel: bool
    # 7-bit weights: for CPUs without VNNI, where 8-bit products can saturate.
    reduce_range: bool
    # ONNX operator types whose weights are quantized, by onnxruntime's names (MatMul: every
    # projection; Gather: the word-embedding table, three quarters of e5-small's weights).
    op_types: list[str] = Field(min_length=1)
    # Nodes left in fp32: regular expressions searched in the ONNX node names (each must match at
    # least one node). Dynamic quantization scales a whole activation tensor at once, and the input
    # of a BERT layer's FFN down-projection (GELU output) has outliers that such a scale crushes.
    keep_fp32: list[str]
    smoothing: SmoothingSection

    @field_validator("keep_fp32")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
        return patterns


class ParitySection(_Section):
    """How close the export's embeddings must stay to the PyTorch model's (cosine, per text, on
    the stage's probe texts): the stage stops with one line when the export strays further."""

    min_fp32_cosine: float = Field(gt=0, le=1)
    min_int8_mean_cosine: float = Field(gt=0, le=1)


class ExportConfig(_Section):
    """Stage ``export``: models/finetuned as ONNX (fp32) and an int8 copy, in models/onnx/."""

    # false: the stage writes only a manifest that says the export was skipped (decoder
    # profiles), and evaluate_int8 writes a skipped record the report shows as such.
    enabled: bool
    # ONNX opset of the graph; the TorchScript exporter writes 14 (scaled dot-product attention)
    # to 20.
    opset: int = Field(ge=14, le=20)
    quantization: QuantizationSection
    parity: ParitySection

    @model_validator(mode="after")
    def _distinct_op_types(self) -> ExportConfig:
        if len(set(self.quantization.op_types)) != len(self.quantization.op_types):
            raise ValueError("quantization.op_types must be distinct")
        return self
