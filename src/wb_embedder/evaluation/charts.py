"""The report's charts: tidy CSVs for `dvc plots` and the README's image, drawn from one spec.

The Vega-Lite specs are DVC custom plot templates (``.dvc/plots/<name>.json``, DVC's own anchors
``<DVC_METRIC_DATA>`` and ``<DVC_METRIC_TITLE>``), so ``dvc plots show`` / ``dvc plots diff`` draw
the same charts the report stage renders to SVG here: the template is filled by DVC's own renderer
(dvc-render) from the CSV exactly as DVC reads it (strings, a ``rev`` per row; ``workspace``, the
name DVC gives the working tree), and vl-convert turns the filled spec into an SVG without a
browser. The picture and the metrics cannot disagree: ``tests/test_charts.py`` fails when the
committed SVG is not what the committed CSV renders to.

Files (under the report's ``metrics/``):

- ``plots/{test,dev}.csv``: the 11 benchmarks (and the mean of their headlines), one row per
  benchmark and system (lexical, base, fine-tuned) with the 95% interval;
- ``plots/real_{test,dev}.csv``: the same for the real-text suite (header only when not scored);
- ``plots/delta.csv``: test, fine-tuned minus base per benchmark of both suites, with the paired
  interval and whether it excludes 0;
- ``results.svg``: ``plots/test.csv`` drawn with the results template (the README's image).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import vl_convert
from dvc_render.vega import VegaRenderer

from wb_embedder.evaluation.benchmarks import BENCHMARK_NAMES, REAL_NAMES
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.run import DIGITS, MAIN_SCORE
from wb_embedder.splits import DEV, TEST

PLOTS_DIR = "plots"
RESULTS_TEMPLATE, DELTA_TEMPLATE = "results", "delta"
RESULT_COLUMNS = ("benchmark", "metric", "label", "system", "value", "ci_low", "ci_high")
DELTA_COLUMNS = ("suite", "benchmark", "metric", "label", "delta", "ci_low", "ci_high", "significant")
# The three systems the charts compare (the int8 export has tables of its own in report.md).
CHART_SYSTEMS = ("lexical", "base", "finetuned")
SUITE, REAL_SUITE = "benchmarks", "real text"
EXCLUDES_ZERO, INCLUDES_ZERO = "excludes 0", "includes 0"
# What DVC calls the working tree's revision in `dvc plots show`.
WORKSPACE = "workspace"
IMAGE = "results.svg"
# The oldest Vega-Lite vl-convert ships, the nearest to the 5.2 that `dvc plots show`'s page loads:
# a template that renders here uses nothing newer than the 5.x schema it names.
VL_VERSION = "5.8"
IMAGE_SOURCE = f"{PLOTS_DIR}/{TEST}.csv"
IMAGE_TITLE = "Test headline per benchmark: lexical vs base vs fine-tuned, with 95% bootstrap intervals"
_META = ("mean", "counts")
_ORDER = {name: i for i, name in enumerate((*BENCHMARK_NAMES, *REAL_NAMES))}


def _number(value: float, signed: bool = False) -> str:
    return f"{value:+.{DIGITS}f}" if signed else f"{value:.{DIGITS}f}"


def _entries(block: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(label name, metric, entry) per benchmark of a split's block, then its mean when it has one."""
    # In the benchmarks' own order, whatever order summary.json's keys were read in (the report stage
    # builds them in that order; the file on disk may be key-sorted).
    names = sorted((name for name in block if name not in _META), key=lambda n: (_ORDER.get(n, len(_ORDER)), n))
    rows = [(name, *next(iter(block[name].items()))) for name in names]
    if "mean" in block:
        rows.append((f"mean of {len(rows)}", "headlines", block["mean"][MAIN_SCORE]))
    return rows


def result_rows(block: Mapping[str, Any]) -> list[dict[str, str]]:
    """One split's results (summary.json's ``test`` / ``dev``, or a half of its ``real``) as rows of
    :data:`RESULT_COLUMNS`."""
    return [{"benchmark": name, "metric": metric, "label": f"{name} · {metric}", "system": system,
             "value": _number(entry[system]), "ci_low": _number(entry[f"{system}_ci_low"]),
             "ci_high": _number(entry[f"{system}_ci_high"])}
            for name, metric, entry in _entries(block) for system in CHART_SYSTEMS]


def delta_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """Test, fine-tuned minus base, of the 11 (with their mean) and of the real text when scored."""
    blocks = [(SUITE, summary[TEST])] + ([(REAL_SUITE, summary["real"][TEST])] if "real" in summary else [])
    return [{"suite": suite, "benchmark": name, "metric": metric, "label": f"{name} · {metric}",
             "delta": _number(entry["delta"], True), "ci_low": _number(entry["delta_ci_low"], True),
             "ci_high": _number(entry["delta_ci_high"], True),
             "significant": EXCLUDES_ZERO if entry["significant"] else INCLUDES_ZERO}
            for suite, block in blocks for name, metric, entry in _entries(block)]


def chart_tables(summary: Mapping[str, Any]) -> dict[str, tuple[Sequence[str], list[dict[str, str]]]]:
    """Each chart CSV (its path under metrics/) with its columns and rows."""
    real = summary.get("real", {})
    tables: dict[str, tuple[Sequence[str], list[dict[str, str]]]] = {}
    for split in (TEST, DEV):
        tables[f"{PLOTS_DIR}/{split}.csv"] = (RESULT_COLUMNS, result_rows(summary[split]))
        tables[f"{PLOTS_DIR}/real_{split}.csv"] = (RESULT_COLUMNS, result_rows(real[split]) if real else [])
    tables[f"{PLOTS_DIR}/delta.csv"] = (DELTA_COLUMNS, delta_rows(summary))
    return tables


def write_table(columns: Sequence[str], rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def render_svg(csv_path: Path | str, template: str, templates_dir: Path | str, title: str) -> str:
    """The chart ``dvc plots show`` draws of ``csv_path`` with ``template``, as an SVG document."""
    path = Path(templates_dir) / f"{template}.json"
    if not path.is_file():
        raise EvaluationError(f"{path}: no such plot template (run from the repository root)")
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        datapoints = [{**row, "rev": WORKSPACE} for row in csv.DictReader(handle)]
    spec = VegaRenderer(datapoints, str(csv_path), template=template, template_dir=str(templates_dir),
                        title=title).get_filled_template()
    try:
        return vl_convert.vegalite_to_svg(spec, vl_version=VL_VERSION)
    except ValueError as error:
        raise EvaluationError(f"{path}: not a valid Vega-Lite spec: {str(error).splitlines()[0]}") from error


def write_charts(summary: Mapping[str, Any], out_dir: Path, templates_dir: Path | str) -> None:
    """Write the chart CSVs and the README's image into ``out_dir`` (the report's folder)."""
    for name, (columns, rows) in chart_tables(summary).items():
        write_table(columns, rows, out_dir / name)
    svg = render_svg(out_dir / IMAGE_SOURCE, RESULTS_TEMPLATE, templates_dir, IMAGE_TITLE)
    (out_dir / IMAGE).write_text(svg, encoding="utf-8")
