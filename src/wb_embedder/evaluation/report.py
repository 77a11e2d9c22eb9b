"""The report stage: base, fine-tuned and the lexical baseline side by side, with intervals.

Reads the three folders the evaluate stages write (``data/eval/{base,finetuned,lexical}``: metrics
and per-item records for the dev and the test split; no model needed) and writes the git-tracked
``metrics/`` folder:

- ``metrics/<Benchmark>.json``: per split (``dev``, ``test``) each system's metrics, its headline
  with a 95% bootstrap interval (``<metric>_ci_low`` / ``_ci_high``), and the fine-tuned-minus-base
  ``delta`` with its paired interval and ``significant`` (the interval excludes 0);
- ``metrics/summary.json``: per split and benchmark the headline of every system with intervals,
  the delta, and the mean of the 11 headlines (bootstrapped the same way), plus counts (improved,
  significantly better / worse, beaten by the lexical baseline);
- ``metrics/comparison.csv``: the test headlines in long format, the data of ``dvc plots``;
- ``metrics/report.md``: the same as tables a person reads, naming every benchmark where the
  fine-tuned model does not beat its lexical baseline.

Dev is what choices are made on (`dvc exp show` on the ``dev`` keys); test is the figure reported.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wb_embedder.evaluation.benchmarks import SPECS, headline_metric
from wb_embedder.evaluation.bootstrap import (
    Interval,
    Statistic,
    accuracy_statistic,
    draw_indices,
    identity,
    macro_f1_statistic,
    percentile_interval,
    retrieval_statistic,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.run import (
    DIGITS,
    EXTERNAL_FILE,
    LABEL,
    MAIN_SCORE,
    PREDICTION_PREFIX,
    VIEW,
    Items,
    Results,
    read_results,
    read_run_info,
    round_metrics,
)
from wb_embedder.evaluation.schema import BootstrapConfig
from wb_embedder.io import atomic_dir, read_json, write_json
from wb_embedder.splits import EVAL_SPLITS, TEST

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
COMPARISON_FILE = "comparison.csv"
REPORT_FILE = "report.md"
COMPARISON_COLUMNS = ("benchmark", "metric", "model", "label", "value", "ci_low", "ci_high")
BASE, FINETUNED, LEXICAL, DELTA = "base", "finetuned", "lexical", "delta"
SYSTEMS = (LEXICAL, BASE, FINETUNED)
MEAN = "mean"
SIGNIFICANT = "significant"


def headline_statistic(name: str, items: pd.DataFrame, main_k: int) -> tuple[Statistic, list[int]]:
    """The bootstrap statistic of a benchmark's headline, from one system's per-item records."""
    metric = headline_metric(name, main_k)
    if SPECS[name].kind == "retrieval":
        return retrieval_statistic(items, metric, VIEW)
    predictions = [c for c in items.columns if c.startswith(PREDICTION_PREFIX)]
    if metric == "accuracy":
        return accuracy_statistic(items, LABEL, predictions)
    return macro_f1_statistic(items, LABEL, predictions)


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def _interval_keys(prefix: str, interval: Interval) -> dict[str, float]:
    return {prefix: _r(interval.value), f"{prefix}_ci_low": _r(interval.low), f"{prefix}_ci_high": _r(interval.high)}


def bootstrap_split(
    results: Mapping[str, Results], items: Mapping[str, Items], main_k: int, cfg: BootstrapConfig, seed: int,
    split_index: int,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Summary and per-benchmark metrics of one split (see the module docstring)."""
    summary: dict[str, Any] = {}
    per_benchmark: dict[str, dict[str, Any]] = {}
    mean_draws: dict[str, list[np.ndarray]] = {s: [] for s in (*SYSTEMS, DELTA)}
    mean_values: dict[str, list[float]] = {s: [] for s in (*SYSTEMS, DELTA)}
    for bench_index, name in enumerate(results[FINETUNED]):
        metric = headline_metric(name, main_k)
        stats = {system: headline_statistic(name, items[system][name], main_k) for system in SYSTEMS}
        sizes = stats[FINETUNED][1]
        if any(stats[s][1] != sizes for s in SYSTEMS):
            raise EvaluationError(f"{name}: the systems were scored on different items")
        rng = np.random.default_rng([seed, split_index, bench_index])
        indices = draw_indices(sizes, cfg.samples, rng)
        entry: dict[str, Any] = {}
        draws: dict[str, np.ndarray] = {}
        for system in SYSTEMS:
            statistic = stats[system][0]
            value = float(statistic(identity(sizes))[0])
            if not np.isclose(value, results[system][name][MAIN_SCORE], atol=2 * 10**-DIGITS):
                raise EvaluationError(f"{name}: {system}'s per-item records do not give its {metric}")
            draws[system] = statistic(indices)
            entry.update(_interval_keys(system, percentile_interval(value, draws[system], cfg.confidence)))
            mean_draws[system].append(draws[system])
            mean_values[system].append(value)
        delta_value = entry[FINETUNED] - entry[BASE]
        delta = percentile_interval(delta_value, draws[FINETUNED] - draws[BASE], cfg.confidence)
        mean_draws[DELTA].append(draws[FINETUNED] - draws[BASE])
        mean_values[DELTA].append(delta_value)
        entry.update({**_interval_keys(DELTA, delta), SIGNIFICANT: delta.significant})
        summary[name] = {metric: entry}
        per_benchmark[name] = {
            **{system: {**round_metrics(results[system][name]),
                        **{k.replace(system, metric, 1): v for k, v in entry.items()
                           if k.startswith(f"{system}_ci")}}
               for system in SYSTEMS},
            DELTA: {metric: entry[DELTA], f"{metric}_ci_low": entry[f"{DELTA}_ci_low"],
                    f"{metric}_ci_high": entry[f"{DELTA}_ci_high"], SIGNIFICANT: delta.significant},
        }
    mean_entry: dict[str, Any] = {}
    for system in (*SYSTEMS, DELTA):
        value = float(np.mean(mean_values[system]))
        interval = percentile_interval(value, np.mean(mean_draws[system], axis=0), cfg.confidence)
        mean_entry.update(_interval_keys(system, interval))
        if system == DELTA:
            mean_entry[SIGNIFICANT] = interval.significant
    summary[MEAN] = {MAIN_SCORE: mean_entry}
    summary["counts"] = _counts(summary)
    return summary, per_benchmark


def _counts(summary: Mapping[str, Any]) -> dict[str, int]:
    entries = [next(iter(v.values())) for k, v in summary.items() if k != MEAN]
    return {
        "benchmarks": len(entries),
        "improved": sum(e[DELTA] > 0 for e in entries),
        "significantly_better": sum(e[SIGNIFICANT] and e[DELTA] > 0 for e in entries),
        "significantly_worse": sum(e[SIGNIFICANT] and e[DELTA] < 0 for e in entries),
        "finetuned_not_above_lexical": sum(e[FINETUNED] <= e[LEXICAL] for e in entries),
    }


def not_above_lexical(split_summary: Mapping[str, Any]) -> list[str]:
    return [name for name, v in split_summary.items() if name not in (MEAN, "counts")
            and next(iter(v.values()))[FINETUNED] <= next(iter(v.values()))[LEXICAL]]


def _fmt(entry: Mapping[str, Any], key: str) -> str:
    return f"{entry[key]:.4f} [{entry[f'{key}_ci_low']:.4f}, {entry[f'{key}_ci_high']:.4f}]"


def markdown(summary: Mapping[str, Any], confidence: float) -> str:
    """metrics/report.md: one table per split, test first."""
    lines = [f"Headline metric per benchmark with its {confidence:.0%} bootstrap interval; delta = fine-tuned - base "
             "(paired bootstrap); significant = its interval excludes 0. Written by the report stage.", ""]
    for split in (TEST, *[s for s in EVAL_SPLITS if s != TEST]):
        block = summary[split]
        counts = block["counts"]
        lines += [f"### {split}", "",
                  "| benchmark | metric | lexical | base | fine-tuned | delta | significant |",
                  "|---|---|---|---|---|---|---|"]
        for name, value in block.items():
            if name in (MEAN, "counts"):
                continue
            metric, entry = next(iter(value.items()))
            lines.append(f"| {name} | {metric} | {_fmt(entry, LEXICAL)} | {_fmt(entry, BASE)} | "
                         f"{_fmt(entry, FINETUNED)} | {entry[DELTA]:+.4f} [{entry[f'{DELTA}_ci_low']:+.4f}, "
                         f"{entry[f'{DELTA}_ci_high']:+.4f}] | {'yes' if entry[SIGNIFICANT] else 'no'} |")
        mean = block[MEAN][MAIN_SCORE]
        lines.append(f"| **mean of headlines** | | {_fmt(mean, LEXICAL)} | {_fmt(mean, BASE)} | {_fmt(mean, FINETUNED)} | "
                     f"{mean[DELTA]:+.4f} [{mean[f'{DELTA}_ci_low']:+.4f}, {mean[f'{DELTA}_ci_high']:+.4f}] | "
                     f"{'yes' if mean[SIGNIFICANT] else 'no'} |")
        behind = not_above_lexical(block)
        lines += ["", f"Fine-tuned above base on {counts['improved']} of {counts['benchmarks']} benchmarks, "
                  f"significantly on {counts['significantly_better']}, significantly below on "
                  f"{counts['significantly_worse']}.",
                  "Not above the lexical baseline: " + (", ".join(behind) if behind else "none") + ".", ""]
    return "\n".join(lines)


EXTERNAL = "external"


def external_summary(eval_dirs: Mapping[str, Path | str]) -> dict[str, Any]:
    """The forgetting check: each public MTEB task of ``evaluate.external_tasks`` that both models
    were scored on, base / fine-tuned / delta of its main score, and how many tasks were skipped.
    No interval: mteb gives these tasks' figures, not per-item records."""
    scores, skipped = {}, set()
    for system in (BASE, FINETUNED):
        path = Path(eval_dirs[system]) / EXTERNAL_FILE
        scores[system] = read_json(path) if path.exists() else {}
        skipped |= set(read_run_info(eval_dirs[system]).get("external_tasks", {}).get("skipped", []))
    tasks = {
        name: {BASE: _r(scores[BASE][name][MAIN_SCORE]), FINETUNED: _r(scores[FINETUNED][name][MAIN_SCORE]),
               DELTA: _r(scores[FINETUNED][name][MAIN_SCORE] - scores[BASE][name][MAIN_SCORE])}
        for name in sorted(set(scores[BASE]) & set(scores[FINETUNED]))
    }
    return {"tasks": tasks, "counts": {"evaluated": len(tasks), "skipped": len(skipped)}}


def external_markdown(external: Mapping[str, Any]) -> list[str]:
    counts = external["counts"]
    if not counts["evaluated"] and not counts["skipped"]:
        return []
    lines = ["### public tasks (evaluate.external_tasks: did fine-tuning cost general skills?)", ""]
    if external["tasks"]:
        lines += ["| task | base | fine-tuned | delta |", "|---|---|---|---|"]
        lines += [f"| {name} | {e[BASE]:.4f} | {e[FINETUNED]:.4f} | {e[DELTA]:+.4f} |" for name, e in external["tasks"].items()]
        lines.append("")
    lines += [f"MTEB main scores, no interval (mteb gives no per-item records for these); "
              f"{counts['evaluated']} scored, {counts['skipped']} skipped (no hub).", ""]
    return lines


def write_report(
    per_benchmark: Mapping[str, Mapping[str, Any]], summary: Mapping[str, Any], text: str, out_dir: Path | str
) -> None:
    """Replace ``out_dir`` as a whole: no file of an earlier report is left behind."""
    rows = []
    for name, value in summary[TEST].items():
        if name == "counts":
            continue
        metric, entry = next(iter(value.items()))
        for system in SYSTEMS:
            rows.append({"benchmark": name, "metric": metric, "model": system, "label": f"{name} ({system})",
                         "value": entry[system], "ci_low": entry[f"{system}_ci_low"],
                         "ci_high": entry[f"{system}_ci_high"]})
    with atomic_dir(out_dir) as tmp:
        for name, metrics in per_benchmark.items():
            write_json(dict(metrics), tmp / f"{name}.json")
        write_json(dict(summary), tmp / SUMMARY_FILE)
        (tmp / REPORT_FILE).write_text(text, encoding="utf-8")
        with (tmp / COMPARISON_FILE).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COMPARISON_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, **{k: f"{row[k]:.{DIGITS}f}" for k in ("value", "ci_low", "ci_high")}}
                             for row in rows)


def report(
    eval_dirs: Mapping[str, Path | str], out_dir: Path | str, main_k: int, cfg: BootstrapConfig, seed: int
) -> dict[str, Any]:
    """Compare the evaluate outputs of base, fine-tuned and lexical; write metrics/; return the summary."""
    missing = [s for s in SYSTEMS if s not in eval_dirs]
    if missing:
        raise EvaluationError(f"report needs the evaluation of {missing}")
    fingerprints = {s: read_run_info(eval_dirs[s]).get("benchmarks") for s in SYSTEMS}
    if len(set(fingerprints.values())) != 1:
        raise EvaluationError(
            f"{', '.join(str(eval_dirs[s]) for s in SYSTEMS)} were scored on different benchmark data: "
            "rerun the evaluate stages"
        )
    summary: dict[str, Any] = {}
    per_benchmark: dict[str, dict[str, Any]] = {}
    for split_index, split in enumerate(EVAL_SPLITS):
        loaded = {s: read_results(eval_dirs[s], split) for s in SYSTEMS}
        results = {s: loaded[s][0] for s in SYSTEMS}
        for system, by_name in results.items():
            for name, metrics in by_name.items():
                if metrics.get(headline_metric(name, main_k)) != metrics[MAIN_SCORE]:
                    raise EvaluationError(
                        f"{name}: {system}'s main_score is not {headline_metric(name, main_k)} "
                        "(evaluate.main_k changed since the evaluate stages ran?)"
                    )
        summary[split], split_metrics = bootstrap_split(
            results, {s: loaded[s][1] for s in SYSTEMS}, main_k, cfg, seed, split_index
        )
        for name, metrics in split_metrics.items():
            per_benchmark.setdefault(name, {})[split] = metrics
    summary[EXTERNAL] = external_summary(eval_dirs)
    text = "\n".join([markdown(summary, cfg.confidence), *external_markdown(summary[EXTERNAL])])
    write_report(per_benchmark, summary, text, out_dir)
    for split in EVAL_SPLITS:
        mean = summary[split][MEAN][MAIN_SCORE]
        logger.info("%s mean headline: lexical %.4f, base %.4f, fine-tuned %.4f (delta %+.4f [%+.4f, %+.4f])", split,
                    mean[LEXICAL], mean[BASE], mean[FINETUNED], mean[DELTA], mean[f"{DELTA}_ci_low"],
                    mean[f"{DELTA}_ci_high"])
    return summary
