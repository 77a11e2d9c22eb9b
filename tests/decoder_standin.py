"""Tiny decoder-only embedders that stand in for Giga-Embeddings-instruct (a Llama-style decoder)
and Qwen/Qwen3-Embedding-0.6B, neither of which can be downloaded here.

Each is a randomly initialised 2-layer model built from a transformers config, with a byte-level
BPE tokenizer trained on a few Russian and English lines (any text tokenises, nothing is
unknown), saved as a sentence-transformers folder the way the hub ships such models:

- ``llama``: LlamaModel, mean pooling, a tokenizer with a begin-of-text token and **no pad token**
  (as Llama tokenizers come);
- ``qwen3``: Qwen3Model, last-token pooling, a tokenizer that appends ``<|endoftext|>`` to every
  text and pads **on the left** (as Qwen3-Embedding's does), and the model's own query prompt in
  ``config_sentence_transformers.json``.

What these expose (no pad token, left padding, a saved default prompt) is for the project's code
to handle; nothing here works around it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAMILIES = ("llama", "qwen3")
HIDDEN = 32
TOKENIZER_LINES = [
    "Instruct: Given a marketplace search query, retrieve product cards that match it\nQuery: ",
    "Instruct: Classify the category of a product from its title\nQuery:",
    "красное платье женское хлопок размер 42 кроссовки мужские черные куртка зимняя",
    "доставка возврат товара брак маломерит отличное качество быстро пришло спасибо",
    "найк адидас пума nike adidas puma xiaomi samsung чайник диван смартфон наушники",
    "Пол: Женский, Состав: хлопок 95%, Цвет: синий; категория: Обувь / Кроссовки",
]


def _tokenizer(family: str):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>"] if family == "qwen3" else ["<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TOKENIZER_LINES * 3, trainer)
    if family == "qwen3":
        eos = "<|endoftext|>"
        tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, tok.token_to_id(eos))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=eos, padding_side="left")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _config(family: str, vocab: int):  # -> PretrainedConfig
    from transformers import LlamaConfig, Qwen3Config

    common = dict(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        attn_implementation="eager",
    )
    if family == "qwen3":
        return Qwen3Config(head_dim=HIDDEN // 4, tie_word_embeddings=True, sliding_window=None, **common)
    return LlamaConfig(**common)


def build_decoder_standin(family: str, out: Path, seed: int = 0) -> Path:
    """Write the stand-in's sentence-transformers folder to ``out`` and return it."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    from wb_embedder.training.compat import Normalize, Pooling, token_embedding_dimension, transformer_module

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    tokenizer = _tokenizer(family)
    torch.manual_seed(seed)
    hf_dir = out.parent / f"{out.name}_hf"
    AutoModel.from_config(_config(family, len(tokenizer))).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = transformer_module(str(hf_dir), 128)
    pooling = Pooling(token_embedding_dimension(transformer), pooling_mode="lasttoken" if family == "qwen3" else "mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")
    model.save(str(out))
    if family == "qwen3":
        # Qwen3-Embedding's own prompt, not applied unless asked for: params decide every prompt.
        path = out / "config_sentence_transformers.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["prompts"] = {"query": "Instruct: Given a web search query, retrieve relevant passages\nQuery:", "document": ""}
        config["default_prompt_name"] = None
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out
