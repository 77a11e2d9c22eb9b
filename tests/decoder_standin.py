"""Tiny decoder-only embedders that stand in for Giga-Embeddings-instruct (a Llama-style decoder),
Qwen/Qwen3-Embedding-0.6B and google/embeddinggemma-300m, none of which can be downloaded here.

Each is a randomly initialised 2-layer model built from a transformers config, with a byte-level
BPE tokenizer trained on a few Russian and English lines (any text tokenises, nothing is
unknown), saved as a sentence-transformers folder the way the hub ships such models:

- ``llama``: LlamaModel, mean pooling, a tokenizer with a begin-of-text token and **no pad token**
  (as Llama tokenizers come);
- ``qwen3``: Qwen3Model, last-token pooling, a tokenizer that appends ``<|endoftext|>`` to every
  text and pads **on the left** (as Qwen3-Embedding's does), and the model's own query prompt in
  ``config_sentence_transformers.json``;
- ``gemma3``: Gemma3TextModel with bidirectional attention (``use_bidirectional_attention``, as
  EmbeddingGemma's config has it; transformers learnt it in 4.56) and a sliding-window layer,
  mean pooling then two bias-free linear ``Dense`` layers (up 4x, back down) and normalisation,
  a tokenizer that wraps every text in ``<bos>`` ... ``<eos>`` and has a ``<pad>`` token, and the
  model's own prompts (``task: search result | query: `` ...) in ``config_sentence_transformers.json``.

What these expose (no pad token, left padding, a saved default prompt) is for the project's code
to handle; nothing here works around it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAMILIES = ("llama", "qwen3", "gemma3")
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

    specials = {"qwen3": ["<|endoftext|>"], "gemma3": ["<pad>", "<eos>", "<bos>", "<unk>"]}.get(family, ["<s>", "</s>", "<unk>"])
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
    if family == "gemma3":
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A <eos>", special_tokens=[(t, tok.token_to_id(t)) for t in ("<bos>", "<eos>")]
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                       unk_token="<unk>", padding_side="right")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _config(family: str, vocab: int):  # -> PretrainedConfig
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen3Config

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
    if family == "gemma3":
        # EmbeddingGemma's shape in small: one key-value head, query_pre_attn_scalar = head_dim,
        # a sliding-window layer before a global one, attention both ways.
        gemma = {**common, "num_key_value_heads": 1}
        return Gemma3TextConfig(head_dim=HIDDEN // 4, query_pre_attn_scalar=HIDDEN // 4, sliding_window=8,
                                layer_types=["sliding_attention", "full_attention"], use_bidirectional_attention=True,
                                pad_token_id=0, eos_token_id=1, bos_token_id=2, **gemma)
    return LlamaConfig(**common)


# EmbeddingGemma's own prompts (its config_sentence_transformers.json; the model card's list).
GEMMA_PROMPTS = {
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
    "Classification": "task: classification | query: ",
    "Clustering": "task: clustering | query: ",
    "STS": "task: sentence similarity | query: ",
}


def build_decoder_standin(family: str, out: Path, seed: int = 0) -> Path:
    """Write the stand-in's sentence-transformers folder to ``out`` and return it."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    from wb_embedder.training.compat import Dense, Normalize, Pooling, token_embedding_dimension, transformer_module

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    tokenizer = _tokenizer(family)
    torch.manual_seed(seed)
    hf_dir = out.parent / f"{out.name}_hf"
    AutoModel.from_config(_config(family, len(tokenizer))).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = transformer_module(str(hf_dir), 128)
    dim = token_embedding_dimension(transformer)
    pooling = Pooling(dim, pooling_mode="lasttoken" if family == "qwen3" else "mean")
    head = []
    if family == "gemma3":  # EmbeddingGemma's 768 -> 3072 -> 768, linear, no bias
        identity = torch.nn.Identity()
        head = [Dense(dim, 4 * dim, bias=False, activation_function=identity),
                Dense(4 * dim, dim, bias=False, activation_function=identity)]
    model = SentenceTransformer(modules=[transformer, pooling, *head, Normalize()], device="cpu")
    model.save(str(out))
    own_prompts = {
        "qwen3": {"query": "Instruct: Given a web search query, retrieve relevant passages\nQuery:", "document": ""},
        "gemma3": GEMMA_PROMPTS,
    }.get(family)
    if own_prompts:
        # The model's own prompts, not applied unless asked for: params decide every prompt.
        path = out / "config_sentence_transformers.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["prompts"] = own_prompts
        config["default_prompt_name"] = None
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out
