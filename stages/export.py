"""DVC stage export: models/finetuned as ONNX (fp32, pooling and normalisation inside the graph)
and an int8 copy by ONNX Runtime's dynamic quantization, with the tokenizer, the prompts it was
trained with and a manifest, in models/onnx/ (replaced as a whole). With
export.quantization.smoothing on, the int8 copy is smoothed first, calibrated on training texts
(data/triplets).

With export.enabled: false, or a model the export does not support (a decoder), the folder holds
only a manifest saying so, and evaluate_int8 writes a skipped record.
"""

from pathlib import Path

from wb_embedder.config import load_params, trained_prompts
from wb_embedder.export.onnx_export import export_model
from wb_embedder.stage import run_stage

MODEL = Path("models/finetuned")
OUT = Path("models/onnx")
TRIPLETS = Path("data/triplets")


def main() -> None:
    params = load_params()
    prompts = trained_prompts(params.model.prompts, params.finetune.prompts)
    export_model(MODEL, OUT, params.export, prompts, params.model.trust_remote_code, TRIPLETS)


if __name__ == "__main__":
    run_stage("export", main)
