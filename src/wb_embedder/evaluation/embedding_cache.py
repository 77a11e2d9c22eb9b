"""Content-addressed embeddings: each distinct (prompt, text) is encoded once per model and run.

The 11 benchmarks share many texts (a product is a search document, a QA document and a
similar-goods query; a review feeds three classifiers; a WBQAGoods question is asked of three
corpus views). Benchmarks first *request* what they need, then everything missing is encoded in
one ``encode`` call per distinct prompt, which sorts the texts by token count into batches.
Not one call overall: sentence-transformers treats the prompt specially for some models (pooling
that skips prompt tokens, chat-style prompts), so prompt and text are never glued together for
encoding (only to count tokens for the batch order).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from wb_embedder.evaluation.errors import EvaluationError

logger = logging.getLogger(__name__)

# Between prompt and text in the key, so that ("ab", "c") and ("a", "bc") never collide.
_KEY_SEPARATOR = "\x1f"


class Encoder(Protocol):
    """What the cache needs of a model: embed texts under one prompt, rows aligned with texts."""

    def encode(self, texts: list[str], prompt: str) -> np.ndarray: ...


def cache_key(prompt: str, text: str) -> bytes:
    return hashlib.sha256(f"{prompt}{_KEY_SEPARATOR}{text}".encode()).digest()


class EmbeddingCache:
    """Two phases: :meth:`request` everything, :meth:`encode_pending`, then :meth:`get`."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._rows: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._pending: dict[str, dict[bytes, str]] = {}
        self.requested = 0  # texts asked for, repeats included
        self.encoded = 0  # texts actually encoded

    def __len__(self) -> int:
        return len(self._rows)

    def request(self, prompt: str, texts: Iterable[str]) -> None:
        pending = self._pending.setdefault(prompt, {})
        for text in texts:
            self.requested += 1
            key = cache_key(prompt, text)
            if key not in self._rows and key not in pending:
                pending[key] = text

    def encode_pending(self) -> None:
        # Sorted prompts: the same requests always give the same calls, hence identical batches.
        for prompt in sorted(self._pending):
            pending = self._pending[prompt]
            if not pending:
                continue
            keys, texts = list(pending), list(pending.values())
            logger.info("encoding %d distinct texts with prompt %r", len(texts), prompt)
            vectors = np.asarray(self.encoder.encode(texts, prompt), dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(texts):
                raise EvaluationError(f"encoder returned shape {vectors.shape} for {len(texts)} texts")
            offset = len(self._rows)
            for i, key in enumerate(keys):
                self._rows[key] = offset + i
            self._blocks.append(vectors)
            self.encoded += len(texts)
        self._pending = {}
        self._matrix = None

    def get(self, prompt: str, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` (rows aligned); every one must have been requested and encoded."""
        if self._matrix is None:
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.zeros((0, 0), np.float32)
        try:
            rows = [self._rows[cache_key(prompt, t)] for t in texts]
        except KeyError:
            raise RuntimeError("embedding requested before it was encoded: request() then encode_pending()") from None
        return self._matrix[rows]

    def embed(self, prompt: str, texts: Sequence[str]) -> np.ndarray:
        """Request, encode and return in one step (for callers with a single batch of needs)."""
        self.request(prompt, texts)
        self.encode_pending()
        return self.get(prompt, texts)


class SentenceTransformerEncoder:
    """:class:`Encoder` over a sentence-transformers model (or anything with its ``encode``
    signature, such as the ONNX export's loader), in batches sorted by token count.

    sentence-transformers sorts by *character* count; texts of one prompt mix Cyrillic reviews,
    Latin brand variants and long product cards, whose characters per token differ, so batches
    padded to their longest member waste work. Here the texts are tokenised once (prompt
    included, capped at the model's max_seq_length), ordered longest first (ties by position,
    so the same request always gives the same batches) and handed over one batch at a time.
    """

    def __init__(self, model: Any, batch_size: int, show_progress: bool = True) -> None:
        self.model = model
        self.batch_size = batch_size
        self.show_progress = show_progress

    def token_counts(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Tokens per text as the model will see it (capped at max_seq_length); characters for a
        model whose tokenizer cannot be called on plain strings. A model that counts its own
        tokens (the ONNX export's loader, whose tokenizer is the ``tokenizers`` library's) does."""
        if (counter := getattr(self.model, "token_counts", None)) is not None:
            return counter([prompt + t for t in texts])
        tokenizer = getattr(self.model, "tokenizer", None)
        limit = getattr(self.model, "max_seq_length", None)
        kwargs = {"truncation": True, "max_length": limit} if limit else {}
        try:
            ids = tokenizer([prompt + t for t in texts], add_special_tokens=True, **kwargs)["input_ids"]
            return np.array([len(i) for i in ids], dtype=np.int64)
        except (TypeError, KeyError, ValueError):
            return np.array([len(prompt) + len(t) for t in texts], dtype=np.int64)

    def batches(self, texts: Sequence[str], prompt: str) -> list[np.ndarray]:
        """Positions of ``texts`` per batch, longest first."""
        counts = self.token_counts(texts, prompt)
        order = np.lexsort((np.arange(len(texts)), -counts))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        out: np.ndarray | None = None
        for idx in tqdm(self.batches(texts, prompt), desc=f"encoding {prompt!r}", unit="batch",
                        disable=not self.show_progress):
            # prompt="" (never None): None would let a model's saved default prompt slip in.
            vectors = self.model.encode(
                [texts[i] for i in idx], prompt=prompt, batch_size=len(idx), show_progress_bar=False,
                convert_to_numpy=True,
            )
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=vectors.dtype)
            out[idx] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def load_model(model_dir: Path | str, device: str | None, trust_remote_code: bool) -> Any:
    """A sentence-transformers model (or LoRA adapter folder) from a local folder."""
    model_dir = Path(model_dir)
    markers = ("modules.json", "adapter_config.json", "config.json")
    if not model_dir.is_dir():
        raise EvaluationError(f"{model_dir}: model folder not found")
    if not any((model_dir / marker).exists() for marker in markers):
        raise EvaluationError(f"{model_dir}: not a sentence-transformers model folder (none of {markers})")
    from sentence_transformers import SentenceTransformer

    from wb_embedder.training.compat import unimplemented_attention

    model = SentenceTransformer(str(model_dir), device=device, trust_remote_code=trust_remote_code)
    if why := unimplemented_attention(model):
        raise EvaluationError(f"{model_dir}: {why}")
    model.eval()
    return model
