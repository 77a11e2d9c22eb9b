"""The ``export:`` section of params.yaml (stage export: ONNX and int8, models/onnx/).

Only pydantic here: ``wb_embedder.config`` imports this module, and every stage loads the config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wb_embedder.schema import StrictSection as _Section


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
