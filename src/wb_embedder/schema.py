"""The contract every params section shares: the base class of all params schemas.

Only pydantic here: :mod:`wb_embedder.config` and every module that owns a section's schema
(``evaluation``, ``triplets``, ``synonyms``, ``training``, ``leakage``) import it, and every stage
loads the config. Schemas import no logic: a module a schema imports is a code dependency of every
stage, so an edit to, say, the MinHash code would rerun training. Shared sections and checks
(near-duplicate settings, split fractions) live here for that reason.

Fields carry constraints, never defaults: ``params.yaml`` is the only place a default lives
(``tests/test_config.py`` checks it), so a key left out of the file is an error naming the key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class StrictSection(BaseModel):
    """A params section: unknown keys are errors (extra=forbid), "3" is not an int and "yes" is not
    a bool (strict), a float must be finite (YAML's ``.inf`` / ``.nan``: a learning rate of inf
    trained a model of NaN weights and exited 0), and a loaded section cannot be changed by
    accident (frozen)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# A seed every seeded library takes: numpy's legacy seeding (np.random.seed, which transformers'
# set_seed and datasketch's MinHash call) refuses anything outside 0 <= seed < 2**32, and
# torch.manual_seed overflows past 64 bits; left unchecked, -1 or a 30-digit seed passed
# check_params and raised a traceback stages later.
Seed = Annotated[int, Field(ge=0, lt=2**32)]


class NearDuplicateConfig(StrictSection):
    # Jaccard similarity of the shingle sets above which two texts are near-copies.
    threshold: float = Field(gt=0, lt=1)
    num_perm: int = Field(ge=16)
    shingle_words: int = Field(ge=1)
    # MinHash's permutation seed: fixed, so a borderline pair falls the same way on every run.
    seed: Seed


def check_fractions(dev_fraction: float, test_fraction: float) -> None:
    if not (0 <= dev_fraction < 1 and 0 < test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise ValueError(
            f"dev_fraction ({dev_fraction}) and test_fraction ({test_fraction}) must be >= 0 and > 0 "
            "and leave a training share (their sum below 1)"
        )
