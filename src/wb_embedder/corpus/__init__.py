"""Seeded synthetic Russian marketplace corpus: cards with search logs, reviews, product QA, support.

The demo data set of the pipeline; a real dump with the same columns can replace it.
"""

from .generate import (
    CARD_COLUMNS,
    QA_COLUMNS,
    REVIEW_COLUMNS,
    SUPPORT_COLUMNS,
    TABLES,
    generate_corpus,
)

__all__ = ["CARD_COLUMNS", "QA_COLUMNS", "REVIEW_COLUMNS", "SUPPORT_COLUMNS", "TABLES", "generate_corpus"]
