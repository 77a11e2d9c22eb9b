"""Params section of the leakage audit (``leakage:``); free of project imports (see config.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LeakageConfig(BaseModel):
    """Limits the audit enforces; the near-copy rule itself is ``clean.near_duplicates``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Per benchmark and split: the largest share of its texts that may have a near-copy in training.
    max_near_duplicate_share: float = Field(ge=0, le=1)
    # The largest share of WBBrandSyns dev / test brands that may be mentioned (by name or by any
    # variant) in a training text.
    max_brand_leak_share: float = Field(ge=0, le=1)
    # The largest share of product families with members both in training and in dev / test.
    max_split_family_share: float = Field(ge=0, le=1)
