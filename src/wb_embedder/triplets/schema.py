"""The ``triplets:`` section of params.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wb_embedder.schema import StrictSection as _Section


# Every task the pipeline knows (a triplet builder each in tasks.py, a benchmark each in
# evaluation/benchmarks.py). Task names are keys in params (model.prompts.<task>, the lists in
# triplets.groups): as a closed set, a misspelt one is an unknown key like any other.
TaskName = Literal[
    "search_query", "product_qa", "similar_goods", "support_facts", "review_rating", "review_polarity",
    "review_reason", "goods_category", "goods_gender", "support_intent", "brand_synonyms",
]


class PositivesConfig(_Section):
    max_anchors_per_task: int = Field(gt=0)
    max_positives_per_anchor: int = Field(gt=0)
    # (query, product) pairs whose relevance grade is below this are not positives. The grades,
    # like review polarity, are the benchmarks' (benchmarks.search_grades, benchmarks.review_polarity):
    # training labels mean what the benchmarks score.
    search_min_grade: int = Field(ge=1)


class MinedConfig(_Section):
    range_min: int = Field(ge=0)
    range_max: int = Field(gt=0)
    relative_margin: float = Field(ge=0, lt=1)
    # Candidates asked of the miner per negative kept: the guards reject some afterwards.
    oversample: int = Field(ge=1)
    batch_size: int = Field(gt=0)
    use_faiss: bool


class NegativesConfig(_Section):
    strategy: Literal["random", "same_category", "fusion_multineg", "mined"]
    num_negatives: int = Field(ge=1)
    fusion_num_negatives: int = Field(ge=1)
    mined: MinedConfig


class AnnotationConfig(_Section):
    # confidence = cos(anchor, positive) - cos(anchor, negative) - overlap_weight * overlap,
    # overlap = Jaccard of character trigrams of positive and negative.
    overlap_weight: float = Field(ge=0)
    # Below this the "negative" is likely a false negative: it is replaced by the next candidate.
    false_negative_below: float
    # In [false_negative_below, uncertain_below) a person should look: the annotation queue.
    uncertain_below: float
    max_queue: int = Field(ge=0)
    # Keep queued triplets out of training until a verdict accepts them.
    hold_uncertain: bool
    encode_batch_size: int = Field(gt=0)

    @model_validator(mode="after")
    def _band_is_ordered(self) -> AnnotationConfig:
        if self.false_negative_below > self.uncertain_below:
            raise ValueError("annotation.false_negative_below must be <= annotation.uncertain_below")
        return self


# The clean tables an unsupervised sample can come from (one text per kept training row).
UnsupervisedSource = Literal["products", "reviews", "product_qa", "support"]


class UnsupervisedConfig(_Section):
    """Unsupervised samples (the second seed's): one text per kept training row, for SimCSE
    (``finetune.simcse``), written to ``data/triplets/unsupervised.parquet``."""

    # Off, nothing is written and data/triplets stays as without this section.
    enabled: bool
    sources: list[UnsupervisedSource] = Field(min_length=1)
    # A product card as text: "fields" joins "название: ..., бренд: ..." parts (the seed's column:
    # value rendering, the fusion_multineg positive's); "natural" is the card's own text (title.
    # brand. subject. characteristics. description), the document the benchmarks rank.
    card_text: Literal["fields", "natural"]

    @model_validator(mode="after")
    def _sources_once(self) -> UnsupervisedConfig:
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("unsupervised.sources names a table twice")
        return self


class TripletsConfig(_Section):
    groups: dict[Literal["retrieval", "classification", "pairwise"], list[TaskName]]
    positives: PositivesConfig
    negatives: NegativesConfig
    annotation: AnnotationConfig
    unsupervised: UnsupervisedConfig
