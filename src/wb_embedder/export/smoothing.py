"""SmoothQuant for the int8 copy: move activation outliers into the weights before quantizing.

Dynamic int8 quantizes a MatMul's input with one scale per batch. A few input channels of a BERT
layer carry values tens of times larger than the rest (the GELU output before the FFN
down-projection most of all), and that one scale then rounds every other channel to a handful of
levels. SmoothQuant (Xiao et al., 2023, arXiv:2211.10438) divides input channel ``j`` by

    s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha)

and multiplies row ``j`` of the weight by it, which leaves the product unchanged in exact
arithmetic and spreads the range between activations and weights (``alpha`` 0: all on the
activations, as without smoothing; 1: all on the weights). ``max|X_j|`` is measured on
calibration texts: texts of the **training** triplets (never a benchmark's), under the prompts the
model was trained with. Here the division is a ``Mul`` node before each weight MatMul's input
(one per distinct input: the query, key and value projections share theirs and one ``s``), since
the layer norms that produce those inputs also feed the residual stream and cannot absorb it.
Only the int8 copy is smoothed; ``model.onnx`` stays the traced graph.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wb_embedder.config import PromptPair
from wb_embedder.export.errors import ExportError

logger = logging.getLogger(__name__)

# Columns of a triplets file that hold a training text (anchor side, positive side).
_TEXT_COLUMNS = ("anchor", "positive")
# Below this, a channel's maximum is treated as this (a channel that never fires would divide by 0).
_FLOOR = 1e-5


def calibration_texts(triplets_dir: Path, prompts: Mapping[str, PromptPair], count: int) -> list[str]:
    """``count`` training texts with their task's prompt (anchor: query side, positive: document
    side), the same ones for the same triplets: the texts of every task file, ordered by a hash of
    the prompted text, first ``count`` (no random draw, so nothing to seed)."""
    import pandas as pd
    import pyarrow.parquet as pq

    texts: set[str] = set()
    files = sorted(Path(triplets_dir).glob("*.parquet"))
    if not files:
        raise ExportError(f"{triplets_dir}: no triplets files to calibrate the int8 smoothing on "
                          "(run the gen_triplets stage first, or set export.quantization.smoothing.alpha: null)")
    for path in files:
        # Only the text columns: the negatives' columns are as large and not used.
        present = set(pq.read_schema(path).names)
        frame = pd.read_parquet(path, columns=[column for column in _TEXT_COLUMNS if column in present])
        pair = prompts.get(path.stem)
        for column, side in zip(_TEXT_COLUMNS, ("query", "document"), strict=True):
            if column not in frame.columns:
                continue
            prompt = getattr(pair, side) if pair is not None else ""
            texts.update(prompt + str(text) for text in frame[column].dropna())
    ordered = sorted(texts, key=lambda t: hashlib.sha256(t.encode("utf-8")).digest())
    return ordered[:count]


def _weight_matmuls(graph: Any) -> dict[str, list[Any]]:
    """Each weight MatMul's input tensor -> the MatMul nodes that read it (initializer weights only:
    the attention score products multiply two activations and are not quantized with weights)."""
    weights = {init.name for init in graph.initializer}
    by_input: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            by_input.setdefault(node.input[0], []).append(node)
    return by_input


def channel_maxima(source: Path, feeds: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """max |x| per last-axis channel of every weight MatMul's input, over the calibration batches."""
    import onnx
    import onnxruntime

    model = onnx.load(str(source))
    inputs = sorted(_weight_matmuls(model.graph))
    present = {out.name for out in model.graph.output}
    for name in inputs:
        if name not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for feed in feeds:
        for name, values in zip(inputs, session.run(inputs, dict(feed)), strict=True):
            batch_max = np.abs(values).reshape(-1, values.shape[-1]).max(axis=0)
            maxima[name] = np.maximum(maxima[name], batch_max) if name in maxima else batch_max
    return maxima


def smooth(source: Path, target: Path, maxima: Mapping[str, np.ndarray], alpha: float) -> int:
    """Write ``source`` with SmoothQuant's scales folded in to ``target``; return how many MatMul
    inputs were smoothed. The graph computes the same function up to float rounding."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    scaling: dict[str, Any] = {}
    for name, nodes in sorted(_weight_matmuls(graph).items()):
        weights = [numpy_helper.to_array(initializers[node.input[1]]) for node in nodes]
        weight_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = (np.maximum(maxima[name], _FLOOR) ** alpha / np.maximum(weight_max, _FLOOR) ** (1 - alpha))
        scale = scale.astype(np.float32)
        inverse = numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{name}/smoothquant_inverse")
        graph.initializer.append(inverse)
        smoothed = f"{name}/smoothquant"
        scaling[name] = onnx.helper.make_node("Mul", [name, inverse.name], [smoothed], name=f"{name}/SmoothQuant")
        for node, weight in zip(nodes, weights, strict=True):
            initializers[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
            node.input[0] = smoothed
    # Each Mul goes right after the node that makes its input (graph inputs first): the order stays topological.
    smoothed_inputs = len(scaling)
    graph_inputs = {i.name for i in graph.input}
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(scaling.pop(name) for name in list(scaling) if name in graph_inputs)
    for node in nodes:
        graph.node.append(node)
        graph.node.extend(scaling.pop(out) for out in node.output if out in scaling)
    if scaling:  # an input made by no node: the graph is not one torch.onnx.export writes
        raise ExportError(f"{source}: cannot place the smoothing of {sorted(scaling)[:3]}")
    onnx.save(model, str(target))
    logger.info("SmoothQuant (alpha %.2f): %d MatMul inputs rescaled before quantization", alpha, smoothed_inputs)
    return smoothed_inputs
