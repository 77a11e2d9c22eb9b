"""The report stage: base, fine-tuned and the lexical baseline side by side, with intervals.

Reads the three folders the evaluate stages write (``data/eval/{base,finetuned,lexical}``: metrics
and per-item records for the dev and the test split; no model needed) and writes the git-tracked
``metrics/`` folder:

- ``metrics/<Benchmark>.json``: per split (``dev``, ``test``) each system's metrics, its headline
  with a 95% bootstrap interval (``<metric>_ci_low`` / ``_ci_high``), and the fine-tuned-minus-base
  ``delta`` with its paired interval and ``significant`` (the interval excludes 0);
- ``metrics/summary.json``: per split and benchmark the headline of every system with intervals,
  the delta, and the mean of the 11 headlines (bootstrapped the same way), plus counts (improved,
  significantly better / worse, beaten by the lexical baseline); on a dump that cannot build all
  11, the mean and counts are of those built and ``skipped`` names the others with the reason
  (their ``metrics/<Benchmark>.json`` says it too);
- ``metrics/comparison.csv``: the test headlines in long format (every system, int8 included);
- the charts (when given the plot templates' folder): ``metrics/plots/*.csv``, the data of
  ``dvc plots``, and ``metrics/results.svg``, the README's image (:mod:`.charts`);
- ``metrics/report.md``: the same as tables a person reads, naming every benchmark where the
  fine-tuned model does not beat its lexical baseline;
- the int8 ONNX export (stage evaluate_int8), when its folder is given and it was scored: its
  headline next to the others' (``int8``, ``int8_ci_low`` / ``_ci_high``), the paired interval of
  int8 minus fine-tuned (``int8_delta``, ``int8_significant``), the same in the mean and counts
  (``int8_below_finetuned``, ``int8_significantly_worse`` / ``_better``), and tables of its own
  after each report's; ``summary.json``'s ``int8.scored`` says whether it was (an export the
  export stage skipped gets a line in report.md instead). The other keys never change with it:
  int8 is bootstrapped on the same draws, after the others;
- the real-text suite (when the systems were scored on it), never averaged with the 11:
  ``summary.json``'s ``real`` key (per half and benchmark, the same entries, and counts),
  ``metrics/real.json`` (per benchmark, as ``<Benchmark>.json``) and ``metrics/real.md``.

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

from wb_embedder.evaluation.benchmarks import BENCHMARK_NAMES, REAL_NAMES, headline_metric, spec_of
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
from wb_embedder.evaluation.charts import write_charts
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.run import (
    DIGITS,
    EXTERNAL_FILE,
    LABEL,
    MAIN_SCORE,
    PREDICTION_PREFIX,
    SKIPPED_BENCHMARKS,
    RUN_FILE,
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
REAL_FILE = "real.json"
REAL_REPORT_FILE = "real.md"
REAL = "real"
REAL_DIGEST = "real_benchmarks"
COMPARISON_COLUMNS = ("benchmark", "metric", "model", "label", "value", "ci_low", "ci_high")
BASE, FINETUNED, LEXICAL, DELTA = "base", "finetuned", "lexical", "delta"
SYSTEMS = (LEXICAL, BASE, FINETUNED)
MEAN = "mean"
SIGNIFICANT = "significant"
# Benchmarks (and views) the data could not build, with the reason: summary.json's `skipped`
# (present only when some were), and the metrics file of each skipped benchmark.
SKIPPED = "skipped"
# The int8 ONNX export (stage evaluate_int8), beside the three when it was scored: its own keys
# next to theirs, and its paired difference to the fine-tuned model it was exported from.
INT8, INT8_DELTA, INT8_SIGNIFICANT = "int8", "int8_delta", "int8_significant"
# Each paired difference: (minuend, subtrahend, the key saying whether its interval excludes 0).
DIFFERENCES = {DELTA: (FINETUNED, BASE, SIGNIFICANT), INT8_DELTA: (INT8, FINETUNED, INT8_SIGNIFICANT)}


def columns(results: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The systems in ``results`` (keyed by system) and the paired differences between them."""
    return ((*SYSTEMS, INT8), (DELTA, INT8_DELTA)) if INT8 in results else (SYSTEMS, (DELTA,))


def headline_statistic(name: str, items: pd.DataFrame, main_k: int) -> tuple[Statistic, list[int]]:
    """The bootstrap statistic of a benchmark's headline, from one system's per-item records."""
    metric = headline_metric(name, main_k)
    if spec_of(name).kind == "retrieval":
        return retrieval_statistic(items, metric, VIEW)
    predictions = [c for c in items.columns if c.startswith(PREDICTION_PREFIX)]
    if metric == "accuracy":
        return accuracy_statistic(items, LABEL, predictions)
    return macro_f1_statistic(items, LABEL, predictions)


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def _interval_keys(prefix: str, interval: Interval) -> dict[str, float]:
    return {prefix: _r(interval.value), f"{prefix}_ci_low": _r(interval.low), f"{prefix}_ci_high": _r(interval.high)}


def bootstrap_benchmark(
    name: str, results: Mapping[str, Results], items: Mapping[str, Items], main_k: int, cfg: BootstrapConfig,
    rng: np.random.Generator,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """One benchmark of one split: the summary entry (each system's headline with its interval,
    the paired fine-tuned-minus-base delta, and int8-minus-fine-tuned when int8 was scored), the
    per-benchmark metrics file's content, and the bootstrap draws per system and difference (the
    same items for every system)."""
    metric = headline_metric(name, main_k)
    systems, differences = columns(results)
    stats = {system: headline_statistic(name, items[system][name], main_k) for system in systems}
    sizes = stats[FINETUNED][1]
    if any(stats[s][1] != sizes for s in systems):
        raise EvaluationError(f"{name}: the systems were scored on different items")
    indices = draw_indices(sizes, cfg.samples, rng)
    entry: dict[str, Any] = {}
    draws: dict[str, np.ndarray] = {}
    for system in systems:
        statistic = stats[system][0]
        value = float(statistic(identity(sizes))[0])
        if not np.isclose(value, results[system][name][MAIN_SCORE], atol=2 * 10**-DIGITS):
            raise EvaluationError(f"{name}: {system}'s per-item records do not give its {metric}")
        draws[system] = statistic(indices)
        entry.update(_interval_keys(system, percentile_interval(value, draws[system], cfg.confidence)))
    for difference in differences:
        minuend, subtrahend, flag = DIFFERENCES[difference]
        draws[difference] = draws[minuend] - draws[subtrahend]
        interval = percentile_interval(entry[minuend] - entry[subtrahend], draws[difference], cfg.confidence)
        entry.update({**_interval_keys(difference, interval), flag: interval.significant})
    per_benchmark = {
        **{system: {**round_metrics(results[system][name]),
                    **{k.replace(system, metric, 1): v for k, v in entry.items() if k.startswith(f"{system}_ci")}}
           for system in systems},
        **{difference: {metric: entry[difference], f"{metric}_ci_low": entry[f"{difference}_ci_low"],
                        f"{metric}_ci_high": entry[f"{difference}_ci_high"], SIGNIFICANT: entry[DIFFERENCES[difference][2]]}
           for difference in differences},
    }
    return {metric: entry}, per_benchmark, draws


def bootstrap_split(
    results: Mapping[str, Results], items: Mapping[str, Items], main_k: int, cfg: BootstrapConfig, seed: int,
    split_index: int,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Summary and per-benchmark metrics of one split of the 11 (see the module docstring)."""
    summary: dict[str, Any] = {}
    per_benchmark: dict[str, dict[str, Any]] = {}
    keys = [key for group in columns(results) for key in group]
    mean_draws: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    mean_values: dict[str, list[float]] = {key: [] for key in keys}
    for name in results[FINETUNED]:
        # Each benchmark's stream is seeded by its place among the 11, so a skipped benchmark
        # moves no other benchmark's interval.
        rng = np.random.default_rng([seed, split_index, BENCHMARK_NAMES.index(name)])
        summary[name], per_benchmark[name], draws = bootstrap_benchmark(name, results, items, main_k, cfg, rng)
        entry = next(iter(summary[name].values()))
        for key in keys:
            mean_draws[key].append(draws[key])
            mean_values[key].append(entry[DIFFERENCES[key][0]] - entry[DIFFERENCES[key][1]] if key in DIFFERENCES
                                    else entry[key])
    mean_entry: dict[str, Any] = {}
    for key in keys:
        value = float(np.mean(mean_values[key]))
        interval = percentile_interval(value, np.mean(mean_draws[key], axis=0), cfg.confidence)
        mean_entry.update(_interval_keys(key, interval))
        if key in DIFFERENCES:
            mean_entry[DIFFERENCES[key][2]] = interval.significant
    summary[MEAN] = {MAIN_SCORE: mean_entry}
    summary["counts"] = _counts(summary)
    return summary, per_benchmark


_ITEM_KEYS = ("query_id", VIEW, LABEL)


def run_delta(
    reference: Items, candidate: Items, names: tuple[str, ...], main_k: int, cfg: BootstrapConfig,
    rng: np.random.Generator, paired: bool = True,
) -> tuple[Interval, float, float]:
    """Candidate minus reference on the mean headline of ``names`` (one name: its headline), from
    two runs' per-item records of the same system role (two experiments' fine-tuned models, say):
    the interval, the reference's and the candidate's values. Paired: the same items resampled for
    both (they must be the same items); unpaired, for runs scored on different items (another
    split), each run resampled on its own."""
    ref_draws, cand_draws, ref_values, cand_values = [], [], [], []
    for name in names:
        ref_stat, ref_sizes = headline_statistic(name, reference[name], main_k)
        cand_stat, cand_sizes = headline_statistic(name, candidate[name], main_k)
        if paired:
            keys = [k for k in _ITEM_KEYS if k in reference[name].columns]
            if ref_sizes != cand_sizes or not reference[name][keys].equals(candidate[name][keys]):
                raise EvaluationError(f"{name}: the two runs were scored on different items; compare them unpaired")
            ref_idx = cand_idx = draw_indices(ref_sizes, cfg.samples, rng)
        else:
            ref_idx, cand_idx = draw_indices(ref_sizes, cfg.samples, rng), draw_indices(cand_sizes, cfg.samples, rng)
        ref_draws.append(ref_stat(ref_idx))
        cand_draws.append(cand_stat(cand_idx))
        ref_values.append(float(ref_stat(identity(ref_sizes))[0]))
        cand_values.append(float(cand_stat(identity(cand_sizes))[0]))
    ref_value, cand_value = float(np.mean(ref_values)), float(np.mean(cand_values))
    draws = np.mean(cand_draws, axis=0) - np.mean(ref_draws, axis=0)
    return percentile_interval(cand_value - ref_value, draws, cfg.confidence), ref_value, cand_value


# The real-text suite draws from its own random streams (a fourth seed element), so adding or
# removing it never moves an interval of the 11.
_REAL_STREAM = 1


def bootstrap_real(
    results: Mapping[str, Results], items: Mapping[str, Items], main_k: int, cfg: BootstrapConfig, seed: int,
    split_index: int,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Summary and per-benchmark metrics of one split of the real-text suite: each benchmark on
    its own, with counts, and no mean (the suites measure different things)."""
    summary: dict[str, Any] = {}
    per_benchmark: dict[str, dict[str, Any]] = {}
    for bench_index, name in enumerate(results[FINETUNED]):
        rng = np.random.default_rng([seed, split_index, bench_index, _REAL_STREAM])
        summary[name], per_benchmark[name], _ = bootstrap_benchmark(name, results, items, main_k, cfg, rng)
    summary["counts"] = _counts(summary)
    return summary, per_benchmark


def _counts(summary: Mapping[str, Any]) -> dict[str, int]:
    entries = [next(iter(v.values())) for k, v in summary.items() if k not in (MEAN, "counts")]
    counts = {
        "benchmarks": len(entries),
        "improved": sum(e[DELTA] > 0 for e in entries),
        "significantly_better": sum(e[SIGNIFICANT] and e[DELTA] > 0 for e in entries),
        "significantly_worse": sum(e[SIGNIFICANT] and e[DELTA] < 0 for e in entries),
        "finetuned_not_above_lexical": sum(e[FINETUNED] <= e[LEXICAL] for e in entries),
    }
    if entries and INT8 in entries[0]:
        counts.update({
            "int8_below_finetuned": sum(e[INT8_DELTA] < 0 for e in entries),
            "int8_significantly_worse": sum(e[INT8_SIGNIFICANT] and e[INT8_DELTA] < 0 for e in entries),
            "int8_significantly_better": sum(e[INT8_SIGNIFICANT] and e[INT8_DELTA] > 0 for e in entries),
        })
    return counts


def not_above_lexical(split_summary: Mapping[str, Any]) -> list[str]:
    return [name for name, v in split_summary.items() if name not in (MEAN, "counts")
            and next(iter(v.values()))[FINETUNED] <= next(iter(v.values()))[LEXICAL]]


def _fmt(entry: Mapping[str, Any], key: str) -> str:
    return f"{entry[key]:.4f} [{entry[f'{key}_ci_low']:.4f}, {entry[f'{key}_ci_high']:.4f}]"


def _signed(entry: Mapping[str, Any], key: str) -> str:
    return f"{entry[key]:+.4f} [{entry[f'{key}_ci_low']:+.4f}, {entry[f'{key}_ci_high']:+.4f}]"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _row(name: str, value: Mapping[str, Any]) -> str:
    metric, entry = next(iter(value.items()))
    return (f"| {name} | {metric} | {_fmt(entry, LEXICAL)} | {_fmt(entry, BASE)} | {_fmt(entry, FINETUNED)} | "
            f"{_signed(entry, DELTA)} | {_yes(entry[SIGNIFICANT])} |")


_HEADER = ["| benchmark | metric | lexical | base | fine-tuned | delta | significant |", "|---|---|---|---|---|---|---|"]
_INT8_HEADER = ["| benchmark | metric | fine-tuned | int8 | int8 - fine-tuned | significant |", "|---|---|---|---|---|---|"]


def _int8_row(name: str, metric: str, entry: Mapping[str, Any]) -> str:
    return (f"| {name} | {metric} | {_fmt(entry, FINETUNED)} | {_fmt(entry, INT8)} | {_signed(entry, INT8_DELTA)} | "
            f"{_yes(entry[INT8_SIGNIFICANT])} |")


def _benchmarks(block: Mapping[str, Any]) -> list[str]:
    return [name for name in block if name not in (MEAN, "counts")]


def int8_scored(block: Mapping[str, Any]) -> bool:
    """Whether a split's block (of the 11 or of the real text) holds the int8 export's figures."""
    return any(INT8 in next(iter(block[name].values())) for name in _benchmarks(block))


def int8_markdown(block: Mapping[str, Any], title: str, what: str) -> list[str]:
    """The int8 export against the fine-tuned model it came from, on one split's benchmarks."""
    lines = [f"### {title}", "", *_INT8_HEADER]
    lines += [_int8_row(name, *next(iter(block[name].items()))) for name in _benchmarks(block)]
    if MEAN in block:
        lines.append(_int8_row("**mean of headlines**", "", block[MEAN][MAIN_SCORE]))
    counts = block["counts"]
    return [*lines, "", f"int8 below fine-tuned on {counts['int8_below_finetuned']} of {counts['benchmarks']} {what}, "
            f"significantly on {counts['int8_significantly_worse']}, significantly above on "
            f"{counts['int8_significantly_better']}.", ""]


_INT8_NOTE = ("int8 = the fine-tuned model exported to ONNX with int8 weights (stage export), run by ONNX Runtime; "
              "int8 - fine-tuned: paired bootstrap on the same items.")


def _int8_sections(blocks: Mapping[str, Any], title: str, what: str, skipped: str | None) -> list[str]:
    """int8 tables after a report's tables (test first), or the line saying why there are none."""
    if all(int8_scored(blocks[split]) for split in EVAL_SPLITS):
        return [_INT8_NOTE, "", *[line for split in _splits_test_first()
                                  for line in int8_markdown(blocks[split], title.format(split=split), what)]]
    return [f"int8 export: not scored ({skipped}).", ""] if skipped else []


def _counts_lines(block: Mapping[str, Any], what: str) -> list[str]:
    counts = block["counts"]
    behind = not_above_lexical(block)
    return [f"Fine-tuned above base on {counts['improved']} of {counts['benchmarks']} {what}, "
            f"significantly on {counts['significantly_better']}, significantly below on "
            f"{counts['significantly_worse']}.",
            "Not above the lexical baseline: " + (", ".join(behind) if behind else "none") + "."]


def _splits_test_first() -> tuple[str, ...]:
    return (TEST, *[s for s in EVAL_SPLITS if s != TEST])


def skipped_lines(skipped: Mapping[str, str], built: int) -> list[str]:
    """report.md's account of the benchmarks the data could not build (none for a full dump)."""
    if not skipped:
        return []
    return [f"**{built} of {len(BENCHMARK_NAMES)} benchmarks built** from this dump; the rest skipped, with the "
            "reason (summary.json `skipped`). The mean of headlines averages the benchmarks (and views) built only, "
            "so it is not comparable with a run on a dump that built others: compare benchmark by benchmark.", "",
            *[f"- {name}: {reason}" for name, reason in skipped.items()], ""]


def markdown(summary: Mapping[str, Any], confidence: float, int8_skipped: str | None = None) -> str:
    """metrics/report.md: one table per split of the benchmarks built (the 11 of a full dump), test
    first, after the list of those skipped; then the int8 export against the fine-tuned model per
    split, or why it was not scored (``int8_skipped``)."""
    lines = [f"Headline metric per benchmark with its {confidence:.0%} bootstrap interval; delta = fine-tuned - base "
             "(paired bootstrap); significant = its interval excludes 0. Written by the report stage.", ""]
    skipped = summary.get(SKIPPED, {})
    lines += skipped_lines(skipped, summary[TEST]["counts"]["benchmarks"])
    for split in _splits_test_first():
        block = summary[split]
        lines += [f"### {split}", "", *_HEADER]
        lines += [_row(name, value) for name, value in block.items() if name not in (MEAN, "counts")]
        mean = block[MEAN][MAIN_SCORE]
        label = f"**mean of headlines** ({block['counts']['benchmarks']} built)" if skipped else "**mean of headlines**"
        lines.append(f"| {label} | | {_fmt(mean, LEXICAL)} | {_fmt(mean, BASE)} | {_fmt(mean, FINETUNED)} | "
                     f"{_signed(mean, DELTA)} | {_yes(mean[SIGNIFICANT])} |")
        lines += ["", *_counts_lines(block, "benchmarks"), ""]
    return "\n".join([*lines, *_int8_sections(summary, "{split}: int8 export vs fine-tuned", "benchmarks", int8_skipped)])


def real_markdown(real: Mapping[str, Any], confidence: float, int8_skipped: str | None = None) -> str:
    """metrics/real.md: the real-text suite, one table per half, test first; no mean; then int8
    as in :func:`markdown`."""
    lines = [f"Real marketplace text (data/real/, evaluation only): headline per benchmark with its {confidence:.0%} "
             "bootstrap interval, each text scored by a classifier cross-fitted on the other folds of its half; "
             "delta = fine-tuned - base (paired bootstrap). Not averaged with the 11 benchmarks. Written by the "
             "report stage.", ""]
    for split in _splits_test_first():
        block = real[split]
        lines += [f"### real text, {split} half", "", *_HEADER]
        lines += [_row(name, value) for name, value in block.items() if name != "counts"]
        lines += ["", *_counts_lines(block, "real-text benchmarks"), ""]
    return "\n".join([*lines, *_int8_sections(real, "real text, {split} half: int8 export vs fine-tuned",
                                               "real-text benchmarks", int8_skipped)])


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
    per_benchmark: Mapping[str, Mapping[str, Any]], summary: Mapping[str, Any], text: str, out_dir: Path | str,
    real: tuple[Mapping[str, Any], str] | None = None, templates: Path | str | None = None,
) -> None:
    """Replace ``out_dir`` as a whole: no file of an earlier report is left behind. ``real``: the
    real-text suite's per-benchmark metrics and its tables (real.json, real.md); ``templates``: the
    folder of the plot templates, to write the charts (:mod:`wb_embedder.evaluation.charts`)."""
    rows = []
    for name, value in summary[TEST].items():
        if name == "counts":
            continue
        metric, entry = next(iter(value.items()))
        for system in (s for s in (*SYSTEMS, INT8) if s in entry):
            rows.append({"benchmark": name, "metric": metric, "model": system, "label": f"{name} ({system})",
                         "value": entry[system], "ci_low": entry[f"{system}_ci_low"],
                         "ci_high": entry[f"{system}_ci_high"]})
    with atomic_dir(out_dir) as tmp:
        for name, metrics in per_benchmark.items():
            write_json(dict(metrics), tmp / f"{name}.json")
        write_json(dict(summary), tmp / SUMMARY_FILE)
        (tmp / REPORT_FILE).write_text(text, encoding="utf-8")
        if real is not None:
            write_json(dict(real[0]), tmp / REAL_FILE)
            (tmp / REAL_REPORT_FILE).write_text(real[1], encoding="utf-8")
        with (tmp / COMPARISON_FILE).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COMPARISON_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, **{k: f"{row[k]:.{DIGITS}f}" for k in ("value", "ci_low", "ci_high")}}
                             for row in rows)
        if templates is not None:
            write_charts(summary, tmp, templates)


def _load_split(eval_dirs: Mapping[str, Path | str], systems: tuple[str, ...], split: str, names: tuple[str, ...],
                main_k: int) -> tuple[dict[str, Results], dict[str, Items]]:
    loaded = {s: read_results(eval_dirs[s], split, names) for s in systems}
    results = {s: loaded[s][0] for s in systems}
    for system, by_name in results.items():
        for name, metrics in by_name.items():
            if metrics.get(headline_metric(name, main_k)) != metrics[MAIN_SCORE]:
                raise EvaluationError(
                    f"{name}: {system}'s main_score is not {headline_metric(name, main_k)} "
                    "(evaluate.main_k changed since the evaluate stages ran?)"
                )
    return results, {s: loaded[s][1] for s in systems}


def _scored_on_real(eval_dirs: Mapping[str, Path | str], systems: tuple[str, ...]) -> bool:
    """Whether the systems were scored on the real-text suite: all of them, or none."""
    digests = {s: read_run_info(eval_dirs[s]).get(REAL_DIGEST) for s in systems}
    if len(set(digests.values())) != 1:
        raise EvaluationError(
            f"{', '.join(str(eval_dirs[s]) for s in systems)} were scored on different real-text benchmarks "
            "(or some on none): rerun the evaluate stages"
        )
    return next(iter(digests.values())) is not None


def _with_int8(eval_dirs: Mapping[str, Path | str]) -> tuple[tuple[str, ...], str | None]:
    """The systems to report, and why the int8 export was not scored (its run.json says so)."""
    if INT8 not in eval_dirs:
        return SYSTEMS, None
    info = read_run_info(eval_dirs[INT8])
    if not info:
        raise EvaluationError(f"{eval_dirs[INT8]}: no {RUN_FILE} (run the evaluate_int8 stage first)")
    if "skipped" in info:
        logger.info("the int8 export was not scored (%s): no int8 rows", info["skipped"])
        return SYSTEMS, str(info["skipped"])
    return (*SYSTEMS, INT8), None


def report(
    eval_dirs: Mapping[str, Path | str], out_dir: Path | str, main_k: int, cfg: BootstrapConfig, seed: int,
    templates: Path | str | None = None,
) -> dict[str, Any]:
    """Compare the evaluate outputs of base, fine-tuned and lexical (and the int8 export, when
    ``eval_dirs`` names its folder); write metrics/ (with the charts when ``templates`` names the
    plot templates' folder); return the summary."""
    missing = [s for s in SYSTEMS if s not in eval_dirs]
    if missing:
        raise EvaluationError(f"report needs the evaluation of {missing}")
    systems, int8_skipped = _with_int8(eval_dirs)
    fingerprints = {s: read_run_info(eval_dirs[s]).get("benchmarks") for s in systems}
    if len(set(fingerprints.values())) != 1:
        raise EvaluationError(
            f"{', '.join(str(eval_dirs[s]) for s in systems)} were scored on different benchmark data: "
            "rerun the evaluate stages"
        )
    with_real = _scored_on_real(eval_dirs, systems)
    skipped = read_run_info(eval_dirs[FINETUNED]).get(SKIPPED_BENCHMARKS, {})
    names = tuple(name for name in BENCHMARK_NAMES if name not in skipped)
    summary: dict[str, Any] = {}
    # A skipped benchmark's metrics file (dvc.yaml declares one per benchmark) says why.
    per_benchmark: dict[str, dict[str, Any]] = {name: {SKIPPED: reason} for name, reason in skipped.items()
                                                if name in BENCHMARK_NAMES}
    real_summary: dict[str, Any] = {}
    real_metrics: dict[str, dict[str, Any]] = {}
    for split_index, split in enumerate(EVAL_SPLITS):
        results, items = _load_split(eval_dirs, systems, split, names, main_k)
        summary[split], split_metrics = bootstrap_split(results, items, main_k, cfg, seed, split_index)
        for name, metrics in split_metrics.items():
            per_benchmark.setdefault(name, {})[split] = metrics
        if with_real:
            results, items = _load_split(eval_dirs, systems, split, REAL_NAMES, main_k)
            real_summary[split], split_metrics = bootstrap_real(results, items, main_k, cfg, seed, split_index)
            for name, metrics in split_metrics.items():
                real_metrics.setdefault(name, {})[split] = metrics
    summary[EXTERNAL] = external_summary(eval_dirs)
    if skipped:
        summary[SKIPPED] = dict(skipped)
    if with_real:
        summary[REAL] = real_summary
    if INT8 in eval_dirs:
        summary[INT8] = {"scored": INT8 in systems}
    text = "\n".join([markdown(summary, cfg.confidence, int8_skipped), *external_markdown(summary[EXTERNAL])])
    real = (real_metrics, real_markdown(real_summary, cfg.confidence, int8_skipped)) if with_real else None
    write_report(per_benchmark, summary, text, out_dir, real, templates)
    for split in EVAL_SPLITS:
        mean = summary[split][MEAN][MAIN_SCORE]
        logger.info("%s mean headline: lexical %.4f, base %.4f, fine-tuned %.4f (delta %+.4f [%+.4f, %+.4f])", split,
                    mean[LEXICAL], mean[BASE], mean[FINETUNED], mean[DELTA], mean[f"{DELTA}_ci_low"],
                    mean[f"{DELTA}_ci_high"])
        if INT8 in mean:
            logger.info("%s mean headline: int8 %.4f, int8 - fine-tuned %+.4f [%+.4f, %+.4f]", split, mean[INT8],
                        mean[INT8_DELTA], mean[f"{INT8_DELTA}_ci_low"], mean[f"{INT8_DELTA}_ci_high"])
        if with_real:
            counts = real_summary[split]["counts"]
            logger.info("%s real text: fine-tuned above base on %d of %d, significantly on %d, significantly below on %d",
                        split, counts["improved"], counts["benchmarks"], counts["significantly_better"],
                        counts["significantly_worse"])
    return summary
