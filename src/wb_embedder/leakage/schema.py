"""Params section of the leakage audit (``leakage:``); pydantic only (see config.py)."""

from __future__ import annotations

from pydantic import Field

from wb_embedder.schema import StrictSection


class LeakageConfig(StrictSection):
    """Limits the audit enforces; the near-copy rule itself is ``clean.near_duplicates``."""

    # Per benchmark and split: the largest share of its texts that may have a near-copy in training.
    max_near_duplicate_share: float = Field(ge=0, le=1)
    # The largest share of WBBrandSyns dev / test brands that may be mentioned (by name or by any
    # variant) in a training text.
    max_brand_leak_share: float = Field(ge=0, le=1)
    # The largest share of product families with members both in training and in dev / test.
    max_split_family_share: float = Field(ge=0, le=1)
    # The largest share of the real texts (real_benchmarks) that may have a near-copy among the
    # training texts or the corpus: real text must be text the project did not write.
    max_real_near_duplicate_share: float = Field(ge=0, le=1)
