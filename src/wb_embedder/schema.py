"""The contract every params section shares: the base class of all params schemas.

Only pydantic here: :mod:`wb_embedder.config` and every module that owns a section's schema
(``evaluation``, ``triplets``, ``synonyms``, ``training``, ``leakage``, ``near_duplicates``) import it,
and every stage loads the config.

Fields carry constraints, never defaults: ``params.yaml`` is the only place a default lives
(``tests/test_config.py`` checks it), so a key left out of the file is an error naming the key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictSection(BaseModel):
    """A params section: unknown keys are errors (extra=forbid), "3" is not an int and "yes" is not
    a bool (strict), and a loaded section cannot be changed by accident (frozen)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
