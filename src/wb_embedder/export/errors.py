"""The error a user can fix from its message alone (no imports beyond the base error: the
torch-free loader raises it)."""

from __future__ import annotations

from wb_embedder.errors import WbEmbedderError


class ExportError(WbEmbedderError, ValueError):
    """The ONNX export cannot be written or read: no model, a bad or missing export folder, an
    export whose embeddings stray from the PyTorch model's."""
