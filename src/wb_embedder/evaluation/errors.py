"""The one error a user can fix from its message: bad benchmark data, model folder or prompts."""

from __future__ import annotations

from wb_embedder.errors import WbEmbedderError


class EvaluationError(WbEmbedderError, ValueError):
    """A benchmark cannot be built or evaluated (no rows, missing file, model folder, prompt)."""
