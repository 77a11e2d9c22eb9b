"""The report stage: the fine-tuned model's metrics beside the base model's (no model needed).

Reads the two folders the evaluate stages write (``data/eval/base``, ``data/eval/finetuned``)
and writes the git-tracked ``metrics/`` folder:

- ``metrics/<Benchmark>.json``: the fine-tuned model's flat metrics, so that
  ``dvc metrics diff main my-branch --all`` lists every metric of every benchmark;
- ``metrics/summary.json``: per benchmark its headline metric (NDCG@main_k, accuracy or macro-F1)
  for the base and the fine-tuned model and the delta, plus the mean of the 11 headlines;
- ``metrics/comparison.csv``: the same headlines in long format, the data of ``dvc plots``
  (one bar per benchmark and model).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wb_embedder.evaluation.benchmarks import headline_metric
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.run import (
    DIGITS,
    MAIN_SCORE,
    read_results,
    read_run_info,
    round_metrics,
)
from wb_embedder.io import atomic_dir, write_json

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
COMPARISON_FILE = "comparison.csv"
COMPARISON_COLUMNS = ("benchmark", "metric", "model", "label", "value")
BASE, FINETUNED, DELTA = "base", "finetuned", "delta"
MEAN = "mean"


def _headline(results: Mapping[str, Mapping[str, float]], name: str, metric: str, model: str) -> float:
    if name not in results or metric not in results[name]:
        raise EvaluationError(f"{model} results have no {metric} for {name}")
    return round(float(results[name][metric]), DIGITS)


def compare(
    base: Mapping[str, Mapping[str, float]], finetuned: Mapping[str, Mapping[str, float]], main_k: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary (numbers only, so that ``dvc metrics`` diffs every leaf) and the plot rows.

    Summary: ``{benchmark: {metric: {base, finetuned, delta}}, "mean": {"main_score": {...}}}``.
    Values are rounded to the digits of the metric files; a delta is computed from the rounded
    values, so it is exactly what a reader subtracting the two files gets.
    """
    if set(base) != set(finetuned):
        raise EvaluationError(
            f"base and fine-tuned results cover different benchmarks: {sorted(set(base) ^ set(finetuned))}"
        )
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    heads: dict[str, list[float]] = {BASE: [], FINETUNED: []}
    for name in finetuned:
        metric = headline_metric(name, main_k)
        values = {BASE: _headline(base, name, metric, BASE), FINETUNED: _headline(finetuned, name, metric, FINETUNED)}
        summary[name] = {metric: {**values, DELTA: round(values[FINETUNED] - values[BASE], DIGITS)}}
        for model, value in values.items():
            heads[model].append(value)
            rows.append({"benchmark": name, "metric": metric, "model": model, "label": f"{name} ({model})",
                         "value": value})
    means = {model: round(float(np.mean(values)), DIGITS) for model, values in heads.items()}
    summary[MEAN] = {MAIN_SCORE: {**means, DELTA: round(means[FINETUNED] - means[BASE], DIGITS)}}
    for model, value in means.items():
        rows.append({"benchmark": MEAN, "metric": MAIN_SCORE, "model": model, "label": f"{MEAN} ({model})",
                     "value": value})
    return summary, rows


def write_report(
    finetuned: Mapping[str, Mapping[str, float]],
    summary: Mapping[str, Any],
    rows: list[dict[str, Any]],
    out_dir: Path | str,
) -> None:
    """Replace ``out_dir`` as a whole: no file of an earlier report is left behind."""
    with atomic_dir(out_dir) as tmp:
        for name, metrics in finetuned.items():
            write_json(round_metrics(metrics), tmp / f"{name}.json")
        write_json(dict(summary), tmp / SUMMARY_FILE)
        with (tmp / COMPARISON_FILE).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COMPARISON_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, "value": f"{row['value']:.{DIGITS}f}"} for row in rows)


def report(base_dir: Path | str, finetuned_dir: Path | str, out_dir: Path | str, main_k: int) -> dict[str, Any]:
    """Compare two evaluate outputs and write the metrics folder; return the summary."""
    base, finetuned = read_results(base_dir), read_results(finetuned_dir)
    base_info, tuned_info = read_run_info(base_dir), read_run_info(finetuned_dir)
    if base_info.get("benchmarks") != tuned_info.get("benchmarks"):
        raise EvaluationError(
            f"{base_dir} and {finetuned_dir} were scored on different benchmark data: rerun both evaluate stages"
        )
    for name, metrics in {**base, **finetuned}.items():
        metric = headline_metric(name, main_k)
        if metrics.get(metric) != metrics[MAIN_SCORE]:
            raise EvaluationError(
                f"{name}: main_score is not {metric} (evaluate.main_k changed since the evaluate stages ran?)"
            )
    summary, rows = compare(base, finetuned, main_k)
    write_report(finetuned, summary, rows, out_dir)
    mean = summary[MEAN][MAIN_SCORE]
    logger.info("mean headline metric: base %.4f, fine-tuned %.4f (delta %+.4f)", mean[BASE], mean[FINETUNED],
                mean[DELTA])
    return summary
