"""The one rule that puts a key in train, dev or test: a salted SHA-256 of the key.

Every split in the project (products, support facts, brands) goes through :func:`assign_splits`,
so a key lands on the same side whichever stage asks, on any machine and Python version. The
hash is mapped to [0, 1): below ``test_fraction`` is test, the next ``dev_fraction`` is dev, the
rest train. Test comes first so that adding a dev split carves dev out of the old train side and
leaves every test key where it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from wb_embedder.schema import check_fractions

TRAIN, DEV, TEST = "train", "dev", "test"
SPLITS: tuple[str, ...] = (TRAIN, DEV, TEST)
EVAL_SPLITS: tuple[str, ...] = (DEV, TEST)


def stable_fraction(keys: Iterable[object], salt: str) -> np.ndarray:
    """A hash of each key mapped to [0, 1): stable across runs, machines and Python versions."""
    values = [str(key) for key in keys]
    out = np.empty(len(values), dtype=np.float64)
    for i, key in enumerate(values):
        digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2**64
    return out


def assign_splits(keys: Iterable[object], dev_fraction: float, test_fraction: float, salt: str) -> np.ndarray:
    """"train" / "dev" / "test" per key (see the module docstring)."""
    check_fractions(dev_fraction, test_fraction)
    fraction = stable_fraction(keys, salt)
    return np.where(fraction < test_fraction, TEST, np.where(fraction < test_fraction + dev_fraction, DEV, TRAIN))
