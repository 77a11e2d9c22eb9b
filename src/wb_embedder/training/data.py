"""Training data: one ``datasets.Dataset`` per task from ``data/triplets``, and the per-column prompts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from wb_embedder.training.errors import FinetuneError

MANIFEST = "manifest.json"
ANCHOR, POSITIVE, LABEL = "anchor", "positive", "label"
NEGATIVE_PREFIX = "negative_"
GROUPS = ("retrieval", "classification", "pairwise")
# SimCSE's dataset and group (finetune.simcse), from the manifest's unsupervised samples.
SIMCSE = "simcse"
UNSUPERVISED = "unsupervised"


@dataclass(frozen=True)
class TaskData:
    """One task's rows, ready for the trainer: text columns in loss order, then ``label`` (int ids)."""

    name: str
    group: str
    frame: pd.DataFrame
    labels: tuple[str, ...]  # label id -> original label; empty for unlabelled tasks

    @property
    def text_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != LABEL]

    @property
    def labelled(self) -> bool:
        return LABEL in self.frame.columns

    @property
    def negatives(self) -> int:
        return len(self.text_columns) - 2


def read_manifest(triplets_dir: Path) -> dict[str, Any]:
    path = triplets_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FinetuneError(f"{path}: not found; run the gen_triplets stage first") from None
    except json.JSONDecodeError as exc:
        raise FinetuneError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tasks"), dict) or not manifest["tasks"]:
        raise FinetuneError(
            f"{path}: expected {{'tasks': {{task: {{group, file, rows, columns}}}}}} with at least one task"
        )
    return manifest


def _ordered_columns(columns: list[str], where: str) -> list[str]:
    negatives = sorted(
        (c for c in columns if c.startswith(NEGATIVE_PREFIX)), key=lambda c: int(c[len(NEGATIVE_PREFIX) :])
    )
    known = {ANCHOR, POSITIVE, LABEL, *negatives}
    if unknown := [c for c in columns if c not in known]:
        raise FinetuneError(f"{where}: unexpected columns {unknown}")
    if ANCHOR not in columns or POSITIVE not in columns:
        raise FinetuneError(f"{where}: needs 'anchor' and 'positive' columns, has {columns}")
    # The losses read columns by position: anchor, positive, then negatives in order.
    return [ANCHOR, POSITIVE, *negatives] + ([LABEL] if LABEL in columns else [])


def load_tasks(triplets_dir: Path, prompts: Mapping[str, Any]) -> list[TaskData]:
    """Read every task of the manifest; stop with the task and file named on any problem."""
    manifest = read_manifest(triplets_dir)
    tasks = []
    for name in sorted(manifest["tasks"]):
        entry = manifest["tasks"][name]
        group = entry.get("group")
        if group not in GROUPS:
            raise FinetuneError(f"{triplets_dir / MANIFEST}: task {name!r} has unknown group {group!r}")
        if name not in prompts:
            raise FinetuneError(f"task {name!r} has no prompts in model.prompts")
        path = triplets_dir / entry["file"]
        try:
            frame = pd.read_parquet(path)
        except FileNotFoundError:
            raise FinetuneError(f"task {name!r}: {path} not found") from None
        if frame.empty:
            raise FinetuneError(
                f"task {name!r}: {path} has no rows; give the task data or drop it from triplets.groups"
            )
        columns = _ordered_columns(list(frame.columns), f"task {name!r}: {path}")
        frame = frame[columns].reset_index(drop=True)
        text = [c for c in columns if c != LABEL]
        if frame[text].isna().any().any():
            raise FinetuneError(f"task {name!r}: {path} has empty (null) texts")
        frame[text] = frame[text].astype(str)
        labels: tuple[str, ...] = ()
        if group == "classification" and LABEL not in columns:
            raise FinetuneError(f"task {name!r}: {path} is a classification task without a 'label' column")
        if LABEL in columns:
            # Integer ids: the data collator turns the label column into a tensor.
            labels = tuple(sorted(frame[LABEL].astype(str).unique()))
            frame[LABEL] = frame[LABEL].astype(str).map({label: i for i, label in enumerate(labels)}).astype("int64")
        tasks.append(TaskData(name=name, group=group, frame=frame, labels=labels))
    return tasks


def load_simcse(triplets_dir: Path, arrangement: str) -> TaskData:
    """SimCSE's dataset: each unsupervised sample as the pair (text, text), in file order."""
    manifest = read_manifest(triplets_dir)
    entry = manifest.get(UNSUPERVISED)
    if not isinstance(entry, dict) or "file" not in entry:
        raise FinetuneError(
            f"finetune.simcse.arrangement {arrangement} trains on unsupervised samples, but "
            f"{triplets_dir / MANIFEST} lists none: set triplets.unsupervised.enabled: true and rerun gen_triplets"
        )
    path = triplets_dir / entry["file"]
    try:
        texts = pd.read_parquet(path, columns=[ANCHOR])[ANCHOR]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise FinetuneError(f"unsupervised samples: {path} cannot be read ({type(exc).__name__}: {exc})") from None
    if texts.empty or texts.isna().any():
        raise FinetuneError(f"unsupervised samples: {path} has no rows or empty (null) texts")
    texts = texts.astype(str).reset_index(drop=True)
    # Two embeddings of the same text, told apart by dropout alone (SimCSE).
    return TaskData(name=SIMCSE, group=SIMCSE, frame=pd.DataFrame({ANCHOR: texts, POSITIVE: texts}), labels=())


def one_negative_per_row(task: TaskData) -> TaskData:
    """A task's rows as triplets for TripletLoss, which takes one negative: a row with k
    negatives becomes k rows (anchor, positive, negative_j), in row order."""
    negatives = [c for c in task.text_columns if c.startswith(NEGATIVE_PREFIX)]
    if len(negatives) <= 1:
        return task
    keep = [ANCHOR, POSITIVE] + ([LABEL] if task.labelled else [])
    parts = [task.frame[keep].assign(**{f"{NEGATIVE_PREFIX}1": task.frame[column]}) for column in negatives]
    frame = pd.concat(parts, keys=range(len(parts)), names=["negative", "row"]).swaplevel().sort_index()
    frame = frame.reset_index(drop=True)[[ANCHOR, POSITIVE, f"{NEGATIVE_PREFIX}1", *keep[2:]]]
    return TaskData(task.name, task.group, frame, task.labels)


POOLED = "pooled"


def shape_tasks(tasks: list[TaskData], use_negatives: bool, pooled: bool) -> list[TaskData]:
    """The tasks as the trainer gets them: without their negative columns when ``use_negatives``
    is off, and all in one dataset (labels dropped, rows in task order) when ``pooled``."""
    if not use_negatives:
        tasks = [TaskData(t.name, t.group, t.frame[[c for c in t.frame.columns if not c.startswith(NEGATIVE_PREFIX)]],
                          t.labels) for t in tasks]
    if not pooled:
        return tasks
    columns = {tuple(t.text_columns) for t in tasks}
    if len(columns) != 1:
        raise FinetuneError(
            f"finetune.multi_dataset_sampler: pooled needs every task to have the same columns, got {sorted(columns)} "
            "(set finetune.use_negatives: false, or give every task the same number of negatives)"
        )
    frame = pd.concat([t.frame[t.text_columns] for t in tasks], ignore_index=True)
    return [TaskData(POOLED, "retrieval", frame, ())]


def column_prompts(tasks: list[TaskData], prompts: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Per dataset, per column: the query prompt on the anchor, the document prompt elsewhere."""
    return {
        task.name: {
            column: prompts[task.name].query if column == ANCHOR else prompts[task.name].document
            for column in task.text_columns
        }
        for task in tasks
    }


def task_stats(tasks: list[TaskData]) -> dict[str, dict[str, Any]]:
    return {
        t.name: {"group": t.group, "rows": len(t.frame), "negatives": t.negatives, "labels": len(t.labels)}
        for t in tasks
    }

