"""The ONNX export (stage export) and its torch-free loader: parity with the PyTorch model, the
loader's encode shape and normalisation, byte-identical exports, the skip for a disabled export
or an unsupported architecture (a decoder stand-in), and one clear line for every bad folder.
The models are tiny BERTs built here (no download)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from wb_embedder.config import PromptPair, load_params
from wb_embedder.export.errors import ExportError
from wb_embedder.export.onnx_encoder import MANIFEST, PROMPTS, TOKENIZER, OnnxEncoder, read_manifest
from wb_embedder.export.onnx_export import FILES, PROBE_TEXTS, export_model
from wb_embedder.export.schema import ExportConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
WORDS = ("красное синее платье куртка кроссовки женские мужские хлопок размер доставка возврат отличное плохое "
         "брак маломерит чайник диван быстро качество цвет ткань nike adidas xiaomi query passage").split()
PROMPTS_BY_TASK = {"search_query": PromptPair(query="query: ", document="passage: "),
                   "goods_category": PromptPair(query="query: ", document="query: ")}
MAX_SEQ_LENGTH = 24


def export_cfg(**overrides: object) -> ExportConfig:
    """params.yaml's export section, with overrides."""
    raw = load_params(ROOT / "params.yaml").export.model_dump()
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    return ExportConfig.model_validate(raw)


def sample_texts(n: int = 60, seed: int = 0) -> list[str]:
    """Texts of 1 to 40 words: many longer than MAX_SEQ_LENGTH tokens, so truncation counts too."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 40)))) for _ in range(n)]


def build_tiny_model(out: Path, normalize: bool = True) -> Path:
    """A 2-layer BERT without a pooler (as the rebuilt e5), mean pooling, as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from wb_embedder.training.compat import Normalize, Pooling, token_embedding_dimension, transformer_module

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([" ".join(WORDS)] * 3, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    hf_dir = out.parent / f"{out.name}_hf"
    BertModel(config, add_pooling_layer=False).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    transformer = transformer_module(str(hf_dir), MAX_SEQ_LENGTH, {"add_pooling_layer": False})
    modules = [transformer, Pooling(token_embedding_dimension(transformer), pooling_mode="mean")]
    SentenceTransformer(modules=[*modules, Normalize()] if normalize else modules, device="cpu").save(str(out))
    return out


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmoothQuant's calibration texts for the exports below, as a triplets folder (the stage's is
    the training triplets'): 32 anchors and their positives, 64 prompted texts."""
    folder = tmp_path_factory.mktemp("calibration")
    pd.DataFrame({"anchor": [" ".join(np.random.default_rng(i).choice(WORDS, size=8)) for i in range(32)],
                  "positive": [" ".join(np.random.default_rng(100 + i).choice(WORDS, size=12)) for i in range(32)]}
                 ).to_parquet(folder / "search_query.parquet")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def exported(tiny_model: Path, calibration: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "onnx"
    export_model(tiny_model, out, export_cfg(), PROMPTS_BY_TASK, trust_remote_code=False, triplets_dir=calibration)
    return out


def torch_embeddings(model_dir: Path, texts: list[str], prompt: str) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, prompt=prompt, batch_size=16, convert_to_numpy=True, show_progress_bar=False)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --------------------------------------------------------------------------- the export


def test_export_folder_holds_both_graphs_tokenizer_prompts_and_manifest(exported: Path, tiny_model: Path) -> None:
    from wb_embedder.io import tree_digest

    assert sorted(p.name for p in exported.iterdir()) == sorted([*FILES.values(), TOKENIZER, PROMPTS, MANIFEST])
    manifest = read_manifest(exported)
    assert manifest["exported"] and manifest["source"]["digest"] == tree_digest(tiny_model)
    assert manifest["opset"] == 17 and manifest["pooling"] == "mean" and manifest["normalized"]
    assert manifest["max_seq_length"] == MAX_SEQ_LENGTH and manifest["embedding_dimension"] == 32
    assert manifest["inputs"][:2] == ["input_ids", "attention_mask"] and manifest["output"] == "sentence_embedding"
    # The parity the stage checked, on every probe text under each prompt the model was trained with.
    assert manifest["parity"]["texts"] == len(PROBE_TEXTS) * 2
    assert manifest["parity"]["fp32_min_cosine"] >= 0.9999 and manifest["parity"]["int8_mean_cosine"] >= 0.99
    assert json.loads((exported / PROMPTS).read_text(encoding="utf-8")) == {
        task: pair.model_dump() for task, pair in PROMPTS_BY_TASK.items()}
    # Dynamic axes: batch and sequence are symbolic in the graph.
    import onnx

    graph = onnx.load(str(exported / FILES["fp32"]), load_external_data=False).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert all(d == ["batch", "sequence"] for d in dims), dims
    int8 = onnx.load(str(exported / FILES["int8"]))
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in int8.graph.node)
    # The projections export.quantization.keep_fp32 names stay fp32 (each layer's attention output
    # projection), every other projection is int8.
    import re

    patterns = export_cfg().quantization.keep_fp32
    projections = [n.name for n in graph.node if n.op_type == "MatMul" and "/dense/" in n.name]
    expected = [name for name in projections if any(re.search(p, name) for p in patterns)]
    kept = [n.name for n in int8.graph.node if n.op_type == "MatMul" and "/dense/" in n.name]
    assert kept == expected and len(kept) == manifest["quantization"]["nodes_kept_fp32"] >= 1
    assert all(name.endswith("/output/dense/MatMul") for name in kept)
    # The int8 copy is smoothed first (SmoothQuant, as params have it): a Mul before each distinct
    # projection input, on the calibration texts given.
    smoothed = sum(n.name.endswith("/SmoothQuant") for n in int8.graph.node)
    assert manifest["quantization"]["smoothed_inputs"] == smoothed > 0
    assert manifest["quantization"]["calibration_texts_used"] == 64
    assert not any(n.op_type == "MatMul" and "intermediate" in n.name for n in int8.graph.node)
    assert (exported / FILES["int8"]).stat().st_size < (exported / FILES["fp32"]).stat().st_size


def test_two_exports_are_byte_identical(exported: Path, tiny_model: Path, tmp_path: Path, calibration: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    again = tmp_path / "onnx"
    with caplog.at_level(logging.INFO):
        export_model(tiny_model, again, export_cfg(), PROMPTS_BY_TASK, trust_remote_code=False, triplets_dir=calibration)
    for path in sorted(exported.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    # The stage's log is its own lines, not onnxruntime's quantizer's line per tensor.
    assert not [r.getMessage() for r in caplog.records if r.name == "root" and r.levelno < logging.WARNING]


def test_onnx_embeddings_match_torch(exported: Path, tiny_model: Path) -> None:
    """fp32: cosine >= 0.9999 for every text of the test set; int8: mean cosine >= 0.99."""
    texts = sample_texts()
    for prompt in ("query: ", ""):
        reference = torch_embeddings(tiny_model, texts, prompt)
        fp32 = OnnxEncoder(exported, "fp32").encode(texts, prompt=prompt, batch_size=16)
        int8 = OnnxEncoder(exported, "int8").encode(texts, prompt=prompt, batch_size=16)
        assert cosines(fp32, reference).min() >= 0.9999
        assert cosines(int8, reference).mean() >= 0.99
        # Batching and padding do not change an fp32 embedding (int8's activations are scaled per batch).
        one_by_one = OnnxEncoder(exported, "fp32").encode(texts, prompt=prompt, batch_size=1)
        np.testing.assert_allclose(one_by_one, fp32, atol=1e-5)


def test_loader_has_the_sentence_transformers_encode_shape(exported: Path, tiny_model: Path) -> None:
    encoder = OnnxEncoder(exported)
    texts = sample_texts(10)
    out = encoder.encode(texts, prompt=encoder.prompt("search_query", "query"), batch_size=4)
    assert out.shape == (10, encoder.dimension) == (10, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)  # the graph normalises
    single = encoder.encode(texts[0], prompt="query: ")
    assert single.shape == (32,)
    assert encoder.encode([]).shape == (0, 32)
    assert encoder.prompt("search_query", "document") == "passage: "
    with pytest.raises(ExportError, match="no prompt for task 'review_rating'"):
        encoder.prompt("review_rating")
    # Token counts as the graph sees them: special tokens included, truncated at max_seq_length.
    counts = encoder.token_counts(["платье", " ".join(WORDS * 3)])
    assert counts[0] >= 3 and counts[1] == MAX_SEQ_LENGTH
    assert OnnxEncoder(exported, max_seq_length=48).token_counts([" ".join(WORDS * 3)])[0] == 48


def test_normalize_embeddings_for_a_model_without_normalize(tmp_path: Path, calibration: Path) -> None:
    model = build_tiny_model(tmp_path / "model", normalize=False)
    export_model(model, tmp_path / "onnx", export_cfg(), PROMPTS_BY_TASK,
                 trust_remote_code=False, triplets_dir=calibration)
    encoder = OnnxEncoder(tmp_path / "onnx", "fp32")
    assert not encoder.manifest["normalized"]
    texts = sample_texts(8)
    raw = encoder.encode(texts)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(raw, torch_embeddings(model, texts, ""), atol=1e-5)
    normalized = encoder.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(normalized, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


_NO_TORCH = """
import sys
from wb_embedder.export.onnx_encoder import OnnxEncoder
encoder = OnnxEncoder(sys.argv[1])
vectors = encoder.encode(["красное платье", "кроссовки"], prompt=encoder.prompt("search_query"), batch_size=2)
assert vectors.shape == (2, 32), vectors.shape
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
print(",".join(loaded) or "none")
"""


def test_loader_runs_without_torch(exported: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _NO_TORCH, str(exported)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "none"


# --------------------------------------------------------------------------- skipped exports


def test_disabled_export_writes_a_skipped_manifest(tiny_model: Path, tmp_path: Path, calibration: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"stale")  # an earlier export: replaced as a whole
    with caplog.at_level(logging.INFO, logger="wb_embedder.export.onnx_export"):
        manifest = export_model(tiny_model, out, export_cfg(enabled=False), PROMPTS_BY_TASK,
                                trust_remote_code=False, triplets_dir=calibration)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST]
    assert not manifest["exported"] and manifest["skipped"] == "export.enabled is false"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("wb_embedder")]
    assert len(lines) == 1 and "export.enabled is false" in lines[0] and "evaluate_int8 is skipped" in lines[0]
    with pytest.raises(ExportError, match=r"the export stage wrote no model \(export.enabled is false\)"):
        OnnxEncoder(out)


def test_a_decoder_is_skipped_with_one_line(tmp_path: Path, calibration: Path, caplog: pytest.LogCaptureFixture) -> None:
    from decoder_standin import build_decoder_standin

    decoder = build_decoder_standin("llama", tmp_path / "llama")
    with caplog.at_level(logging.INFO, logger="wb_embedder.export.onnx_export"):
        manifest = export_model(decoder, tmp_path / "onnx", export_cfg(), PROMPTS_BY_TASK,
                                trust_remote_code=False, triplets_dir=calibration)
    assert not manifest["exported"] and "LlamaModel" in manifest["skipped"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("wb_embedder")]
    assert len(warnings) == 1 and "export skipped" in warnings[0] and "model_type 'llama'" in warnings[0]
    assert "export.enabled: false" in warnings[0]
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [MANIFEST]


def test_profiles_switch_the_export_off(tmp_path: Path) -> None:
    """The decoder profiles turn the export off themselves, and the profile tool validates it."""
    from wb_embedder.training.profile import ProfileError, merge, validate, waive_pin

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for name in ("giga", "qwen3"):
        profile = yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text(encoding="utf-8"))
        assert profile["export"] == {"enabled": False}, name
        validate(merge(params, waive_pin(profile, params)))  # giga is unpinned: the tool's --allow-unpinned
    with pytest.raises(ProfileError, match=r"invalid export params: opset: Input should be less than or equal to 20"):
        validate(merge(params, {"export": {"opset": 21}}))


# --------------------------------------------------------------------------- bad input: one clear line


def test_bad_or_missing_export_folder_is_one_clear_line(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"models/nowhere: ONNX export folder not found"):
        OnnxEncoder("models/nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=r"empty: not an ONNX export folder, no manifest.json"):
        OnnxEncoder(tmp_path / "empty")
    with pytest.raises(ExportError, match=r"unknown export variant 'int4'"):
        OnnxEncoder(exported, "int4")

    def broken(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(exported, folder)
        change(folder)
        return folder

    not_json = broken("not_json", lambda f: (f / MANIFEST).write_text("{oops", encoding="utf-8"))
    with pytest.raises(ExportError, match=r"not_json/manifest.json: not a JSON manifest"):
        OnnxEncoder(not_json)
    other = broken("other", lambda f: (f / MANIFEST).write_text('{"format": 99}', encoding="utf-8"))
    with pytest.raises(ExportError, match=r"other/manifest.json: not an export manifest of format 1"):
        OnnxEncoder(other)
    partial = broken("partial", lambda f: (f / MANIFEST).write_text(
        json.dumps({k: v for k, v in read_manifest(exported).items() if k != "tokenizer"}), encoding="utf-8"))
    with pytest.raises(ExportError, match=r"partial/manifest.json: incomplete export \(KeyError: 'tokenizer'\)"):
        OnnxEncoder(partial)
    no_model = broken("no_model", lambda f: (f / FILES["int8"]).unlink())
    with pytest.raises(ExportError, match=r"no_model/model_int8.onnx: ONNX model file not found"):
        OnnxEncoder(no_model)
    corrupt = broken("corrupt", lambda f: (f / FILES["int8"]).write_bytes(b"\x00not an onnx graph"))
    with pytest.raises(ExportError, match=r"corrupt/model_int8.onnx: ONNX Runtime cannot load it") as caught:
        OnnxEncoder(corrupt)
    assert "\n" not in str(caught.value)
    bad_tokenizer = broken("bad_tokenizer", lambda f: (f / TOKENIZER).write_text("[]", encoding="utf-8"))
    with pytest.raises(ExportError, match=r"bad_tokenizer/tokenizer.json: cannot load the tokenizer") as caught:
        OnnxEncoder(bad_tokenizer)
    assert "\n" not in str(caught.value)


def test_unknown_quantization_op_type_and_parity_failure_are_named(tiny_model: Path, tmp_path: Path,
                                                                   calibration: Path) -> None:
    out = tmp_path / "onnx"
    with pytest.raises(ExportError, match=r"export.quantization.op_types: onnxruntime quantizes no \['Softmax'\]"):
        export_model(tiny_model, out, export_cfg(quantization={"op_types": ["MatMul", "Softmax"]}), PROMPTS_BY_TASK,
                     trust_remote_code=False, triplets_dir=calibration)
    with pytest.raises(ExportError, match=r"keep_fp32: 'attention/nowhere' matches no MatMul/Gather node"):
        export_model(tiny_model, out, export_cfg(quantization={"keep_fp32": ["attention/nowhere"]}), PROMPTS_BY_TASK,
                     trust_remote_code=False, triplets_dir=calibration)
    # An int8 copy must be as close as asked, or nothing is written.
    with pytest.raises(ExportError, match=r"int8 copy strays .* below export.parity.min_int8_mean_cosine 1.0"):
        export_model(tiny_model, out, export_cfg(parity={"min_int8_mean_cosine": 1.0}), PROMPTS_BY_TASK,
                     trust_remote_code=False, triplets_dir=calibration)
    assert not out.exists()
    with pytest.raises(ExportError, match=r"model folder not found \(run the finetune stage first\)"):
        export_model(tmp_path / "missing", out, export_cfg(), PROMPTS_BY_TASK,
                     trust_remote_code=False, triplets_dir=calibration)


# --------------------------------------------------------------------------- SmoothQuant


def _toy_matmul_graph(path: Path, weight: np.ndarray) -> None:
    """y = relu(x) @ W: a weight MatMul whose input a node makes, as in a traced model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["h"], name="act"), helper.make_node("MatMul", ["h", "w"], ["y"], name="proj")],
        "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", weight.shape[1]])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_smoothing_moves_the_outlier_channel_into_the_weights_and_keeps_the_function(tmp_path: Path) -> None:
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    from wb_embedder.export.smoothing import channel_maxima, smooth

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3)).astype(np.float32)
    _toy_matmul_graph(tmp_path / "toy.onnx", weight)
    x = np.abs(rng.normal(size=(8, 4))).astype(np.float32)
    x[:, 2] *= 50.0  # one outlier channel, as the GELU output has
    maxima = channel_maxima(tmp_path / "toy.onnx", [{"x": x[:4]}, {"x": x[4:]}])
    np.testing.assert_allclose(maxima["h"], x.max(axis=0))  # over every calibration batch
    assert smooth(tmp_path / "toy.onnx", tmp_path / "smooth.onnx", maxima, alpha=0.5) == 1
    model = onnx.load(str(tmp_path / "smooth.onnx"))
    inverse = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("smoothquant_inverse"))
    expected = np.sqrt(x.max(axis=0)) / np.sqrt(np.abs(weight).max(axis=1))  # alpha 0.5
    np.testing.assert_allclose(1 / inverse, expected, rtol=1e-5)
    # The smoothed input's channels span a narrower range than the raw ones did.
    assert np.ptp((x * inverse).max(0)) < np.ptp(x.max(0))
    run = {name: onnxruntime.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
           for name in ("toy.onnx", "smooth.onnx")}
    np.testing.assert_allclose(run["smooth.onnx"].run(None, {"x": x})[0], run["toy.onnx"].run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-5)
    # alpha 0: the activations keep their whole range and the weights are untouched up to a scale of 1/max|W|^1.
    smooth(tmp_path / "toy.onnx", tmp_path / "zero.onnx", maxima, alpha=0.0)
    zero = onnx.load(str(tmp_path / "zero.onnx"))
    inverse0 = next(numpy_helper.to_array(i) for i in zero.graph.initializer if i.name.endswith("smoothquant_inverse"))
    np.testing.assert_allclose(inverse0, np.abs(weight).max(axis=1), rtol=1e-5)


def test_smoothed_int8_export_keeps_parity_and_records_its_calibration(tiny_model: Path, tmp_path: Path,
                                                                      calibration: Path) -> None:
    """The stage's path with smoothing on: every projection int8, a Mul before each distinct
    projection input, the function kept (parity checked by the stage), and the manifest says
    how many inputs were smoothed on how many calibration texts. Without texts it stops."""
    import onnx

    cfg = export_cfg(quantization={"keep_fp32": [], "smoothing": {"alpha": 0.8, "calibration_texts": 32,
                                                                   "batch_size": 8}})
    manifest = export_model(tiny_model, tmp_path / "onnx", cfg, PROMPTS_BY_TASK, trust_remote_code=False,
                            triplets_dir=calibration)
    assert manifest["quantization"]["smoothed_inputs"] == 2 * 4  # per layer: q/k/v share one; attention out, up, down
    assert manifest["quantization"]["calibration_texts_used"] == 32  # the params' count, of 64
    assert manifest["parity"]["int8_mean_cosine"] >= 0.99
    int8 = onnx.load(str(tmp_path / "onnx" / FILES["int8"]))
    assert sum(n.name.endswith("/SmoothQuant") for n in int8.graph.node) == 8
    assert not any(n.op_type == "MatMul" and "/dense/" in n.name for n in int8.graph.node)
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted([*FILES.values(), TOKENIZER, PROMPTS,
                                                                           MANIFEST])
    with pytest.raises(ExportError, match=r"smoothing needs calibration texts"):
        export_model(tiny_model, tmp_path / "none", cfg, PROMPTS_BY_TASK, trust_remote_code=False)
    assert not (tmp_path / "none").exists()


def test_calibration_texts_are_prompted_training_texts_in_a_fixed_order(tmp_path: Path) -> None:
    import pandas as pd

    from wb_embedder.export.smoothing import calibration_texts

    with pytest.raises(ExportError, match=r"no triplets files to calibrate"):
        calibration_texts(tmp_path, PROMPTS_BY_TASK, 4)
    pd.DataFrame({"anchor": ["a1", "a2", None], "positive": ["p1", "p2", "p3"], "negative_1": ["n1", "n2", "n3"]}
                 ).to_parquet(tmp_path / "search_query.parquet")
    pd.DataFrame({"anchor": ["c1"], "positive": ["c2"], "label": ["x"]}).to_parquet(tmp_path / "goods_category.parquet")
    every = calibration_texts(tmp_path, PROMPTS_BY_TASK, 100)
    assert sorted(every) == sorted(["query: a1", "query: a2", "passage: p1", "passage: p2", "passage: p3",
                                    "query: c1", "query: c2"])  # negatives are not read; no null
    assert calibration_texts(tmp_path, PROMPTS_BY_TASK, 3) == every[:3] == calibration_texts(tmp_path, PROMPTS_BY_TASK, 3)


def test_stage_script_fails_with_one_line_without_a_model(tmp_path: Path) -> None:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "export.py")], cwd=tmp_path, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "models/finetuned: model folder not found" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
