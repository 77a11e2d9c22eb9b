"""What a label means, for training and evaluation alike.

A review's polarity comes from its stars, a search-log row's relevance grade from its funnel
counters (cart > view > show). gen_triplets trains on these labels and the benchmarks score
models on them, so both call the functions here with the same params keys
(``benchmarks.review_polarity``, ``benchmarks.search_grades``): a model is trained on the
meaning it is scored by, and a change of rule reaches both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wb_embedder.evaluation.schema import ReviewPolarityConfig, SearchGradesConfig

POSITIVE, NEGATIVE = "positive", "negative"


def review_polarity(rating: pd.Series, rules: ReviewPolarityConfig) -> pd.Series:
    """positive / negative / "" (neither: left out) from the star rating."""
    return pd.Series(
        np.where(
            rating >= rules.positive_min_rating,
            POSITIVE,
            np.where(rating <= rules.negative_max_rating, NEGATIVE, ""),
        ),
        index=rating.index,
    )


def search_grades(log: pd.DataFrame, grades: SearchGradesConfig) -> np.ndarray:
    """The graded relevance of each (query, product) row of the search log (columns ``carts``
    and ``views``): its strongest signal, see :class:`SearchGradesConfig`."""
    return np.where(
        log["carts"] >= grades.min_carts,
        grades.cart,
        np.where(log["views"] >= grades.min_views, grades.view, grades.show),
    ).astype("int64")
