"""Unsupervised samples (the second seed's): one text per kept training row of the clean tables,
the data of SimCSE (``finetune.simcse``).

The rows are those every triplet is drawn from (:func:`wb_embedder.triplets.tasks.training_tables`):
the training split only, rows that mention a WBBrandSyns dev / test brand withheld. A rendered text
can say more than the row's checked columns (a card's parent category, a seller's answer), so each
text is checked for those brands again; one that mentions one is withheld too. Both are counted.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from wb_embedder.clean import product_text
from wb_embedder.splits import TRAIN
from wb_embedder.triplets.schema import UnsupervisedConfig
from wb_embedder.triplets.tasks import TrainingTables, product_fused

logger = logging.getLogger(__name__)

# The file in data/triplets: its `anchor` column makes the leakage audit read it like every
# training text (wb_embedder.leakage.audit.training_texts); `source` names the clean table.
NAME = "unsupervised"
TEXT, SOURCE = "anchor", "source"


def sample_texts(frame: pd.DataFrame, source: str, card_text: str) -> pd.Series:
    """One text per row of a clean table."""
    if source == "products":
        if card_text == "natural":
            return product_text(frame)
        return pd.Series([product_fused(row) for _, row in frame.iterrows()], index=frame.index, dtype=object)
    if source == "reviews":
        return frame["text"].astype(str)
    if source == "product_qa":
        return frame["question"].astype(str) + " " + frame["answer"].astype(str)
    return frame["question"].astype(str)  # support: the customer's question (its fact is a triplet positive)


def unsupervised_samples(
    tables: dict[str, pd.DataFrame], training: TrainingTables, cfg: UnsupervisedConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The samples (``anchor``: the text, ``source``: its table) and their counts per source:
    the table's training rows, those withheld with the training tables, those whose text mentions
    an evaluated brand, and the samples written (the rest)."""
    parts, counts = [], {}
    for source in cfg.sources:
        train_rows = int((tables[source]["split"] == TRAIN).sum())
        kept = training.tables[source]
        texts = sample_texts(kept, source, cfg.card_text)
        mentions = texts.map(training.matcher.mentions) if training.matcher else pd.Series(False, index=texts.index)
        written = texts[~mentions.astype(bool)]
        parts.append(pd.DataFrame({TEXT: written.to_numpy(), SOURCE: source}))
        counts[source] = {
            "train_rows": train_rows,
            "withheld_eval_brand_rows": train_rows - len(kept),
            "withheld_eval_brand_text": int(mentions.sum()),
            "samples": len(written),
        }
    frame = pd.concat(parts, ignore_index=True)
    stats = {"card_text": cfg.card_text, "samples": len(frame), "sources": counts}
    logger.info("unsupervised samples: %s", {s: c["samples"] for s, c in counts.items()})
    return frame, stats
