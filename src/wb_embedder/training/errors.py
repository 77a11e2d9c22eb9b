"""The error a user can fix from its message alone (no torch import here: stage.py imports it)."""

from __future__ import annotations

from wb_embedder.errors import WbEmbedderError


class FinetuneError(WbEmbedderError, RuntimeError):
    """Fine-tuning cannot start or finish: bad inputs, an unloadable base model, out of memory."""
