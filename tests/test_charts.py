"""The report's charts: every DVC plot template is valid Vega-Lite and draws the systems with their
intervals; the chart data follow summary.json; the README's image is what its CSV renders to."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import vl_convert
from dvc_render.vega import VegaRenderer

from wb_embedder.errors import WbEmbedderError
from wb_embedder.evaluation.charts import (
    CHART_SYSTEMS,
    DELTA_TEMPLATE,
    IMAGE,
    IMAGE_SOURCE,
    IMAGE_TITLE,
    PLOTS_DIR,
    RESULTS_TEMPLATE,
    VL_VERSION,
    chart_tables,
    render_svg,
    write_charts,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / ".dvc" / "plots"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _entry(value: float, delta: float) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for offset, system in enumerate(("lexical", "base", "finetuned")):
        v = value + offset * delta
        entry.update({system: v, f"{system}_ci_low": v - 0.03, f"{system}_ci_high": v + 0.03})
    entry.update({"delta": delta, "delta_ci_low": delta - 0.02, "delta_ci_high": delta + 0.02,
                  "significant": abs(delta) > 0.02})
    return entry


def _block(names: list[str], with_mean: bool) -> dict[str, Any]:
    block: dict[str, Any] = {name: {"accuracy": _entry(0.3 + 0.1 * i, 0.04 - 0.03 * i)} for i, name in enumerate(names)}
    if with_mean:
        block["mean"] = {"main_score": _entry(0.4, 0.01)}
    block["counts"] = {"benchmarks": len(names)}
    return block


def _summary(real: bool) -> dict[str, Any]:
    summary = {split: _block(["BenchA", "BenchB"], True) for split in ("dev", "test")}
    if real:
        summary["real"] = {split: _block(["RealA"], False) for split in ("dev", "test")}
    return summary


def _rule_paths(svg: str) -> int:
    """How many rule marks (the whiskers, and the delta chart's zero line) the SVG draws."""
    tree = ET.fromstring(svg)
    return sum(len(g.findall(f"{SVG_NS}line")) for g in tree.iter(f"{SVG_NS}g")
               if g.get("class", "").startswith("mark-rule role-mark"))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_chart_tables_follow_the_summary(tmp_path: Path) -> None:
    write_charts(_summary(real=True), tmp_path, TEMPLATES)
    test = _read(tmp_path / PLOTS_DIR / "test.csv")
    assert [(r["label"], r["system"]) for r in test[:3]] == [("BenchA · accuracy", s) for s in CHART_SYSTEMS]
    assert len(test) == 3 * 3 and test[-1]["label"] == "mean of 2 · headlines"
    assert test[2] == {"benchmark": "BenchA", "metric": "accuracy", "label": "BenchA · accuracy", "system": "finetuned",
                       "value": "0.380000", "ci_low": "0.350000", "ci_high": "0.410000"}
    assert len(_read(tmp_path / PLOTS_DIR / "real_dev.csv")) == 3
    delta = _read(tmp_path / PLOTS_DIR / "delta.csv")
    assert [(r["suite"], r["benchmark"], r["delta"], r["significant"]) for r in delta] == [
        ("benchmarks", "BenchA", "+0.040000", "excludes 0"), ("benchmarks", "BenchB", "+0.010000", "includes 0"),
        ("benchmarks", "mean of 2", "+0.010000", "includes 0"), ("real text", "RealA", "+0.040000", "excludes 0")]
    assert (tmp_path / IMAGE).read_text(encoding="utf-8").startswith("<svg")


def test_without_the_real_text_its_charts_are_empty_tables() -> None:
    tables = chart_tables(_summary(real=False))
    assert tables[f"{PLOTS_DIR}/real_test.csv"][1] == [] and tables[f"{PLOTS_DIR}/real_dev.csv"][1] == []
    assert {r["suite"] for r in tables[f"{PLOTS_DIR}/delta.csv"][1]} == {"benchmarks"}


def test_every_template_draws_the_systems_with_interval_whiskers(tmp_path: Path) -> None:
    """Each template in .dvc/plots, filled by DVC's renderer as `dvc plots show` fills it, renders
    (vl-convert fails on an invalid spec) with a whisker per row and the systems in the legend."""
    write_charts(_summary(real=True), tmp_path, TEMPLATES)
    sources = {RESULTS_TEMPLATE: ["test.csv", "dev.csv", "real_test.csv", "real_dev.csv"], DELTA_TEMPLATE: ["delta.csv"]}
    assert {p.stem for p in TEMPLATES.glob("*.json")} == set(sources)
    for template, names in sources.items():
        for name in names:
            path = tmp_path / PLOTS_DIR / name
            svg = render_svg(path, template, TEMPLATES, "a title")
            rows = len(_read(path))
            zero_line = 1 if template == DELTA_TEMPLATE else 0
            assert _rule_paths(svg) == rows + zero_line, (template, name)
            words = ("fine-tuned minus base", "excludes 0", "includes 0") if template == DELTA_TEMPLATE else CHART_SYSTEMS
            assert all(w in svg for w in words), (template, name)
            if template == RESULTS_TEMPLATE:
                assert all(f">{system}</text>" in svg for system in CHART_SYSTEMS), name


def test_dvc_plots_diff_draws_each_revision(tmp_path: Path) -> None:
    """`dvc plots diff main branch` hands the template the rows of both revisions."""
    write_charts(_summary(real=False), tmp_path, TEMPLATES)
    rows = _read(tmp_path / PLOTS_DIR / "test.csv")
    datapoints = [{**r, "rev": rev} for rev in ("main", "my-branch") for r in rows]
    spec = VegaRenderer(datapoints, "test", template=RESULTS_TEMPLATE, template_dir=str(TEMPLATES),
                        title="diff").get_filled_template()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=VL_VERSION)
    assert _rule_paths(svg) == 2 * len(rows) and ">main</text>" in svg and ">my-branch</text>" in svg


def test_a_broken_or_missing_template_is_one_clear_error(tmp_path: Path) -> None:
    write_charts(_summary(real=False), tmp_path / "metrics", TEMPLATES)
    broken = json.loads((TEMPLATES / f"{RESULTS_TEMPLATE}.json").read_text(encoding="utf-8"))
    broken["layer"][1]["mark"]["type"] = "pointy"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "results.json").write_text(json.dumps(broken), encoding="utf-8")
    source = tmp_path / "metrics" / IMAGE_SOURCE
    with pytest.raises(WbEmbedderError, match="results.json: not a valid Vega-Lite spec"):
        render_svg(source, RESULTS_TEMPLATE, tmp_path / "templates", "t")
    with pytest.raises(WbEmbedderError, match="delta.json: no such plot template"):
        render_svg(source, DELTA_TEMPLATE, tmp_path / "templates", "t")


def test_the_committed_charts_are_what_the_committed_metrics_give() -> None:
    """The chart data are summary.json's figures, and the README's image is what the committed
    CSV renders to with the committed template: a stale picture fails here (rerun the report stage)."""
    metrics = ROOT / "metrics"
    summary = json.loads((metrics / "summary.json").read_text(encoding="utf-8"))
    for name, (columns, rows) in chart_tables(summary).items():
        with (metrics / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            assert (tuple(reader.fieldnames or ()), list(reader)) == (tuple(columns), rows), name
    expected = render_svg(metrics / IMAGE_SOURCE, RESULTS_TEMPLATE, TEMPLATES, IMAGE_TITLE)
    assert (metrics / IMAGE).read_text(encoding="utf-8") == expected, "metrics/results.svg is stale: rerun the report stage"
    assert f"](metrics/{IMAGE})" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_report_writes_the_charts_beside_its_tables_when_given_the_templates(tmp_path: Path) -> None:
    from wb_embedder.evaluation.report import write_report

    summary = _summary(real=False)
    write_report({}, summary, "tables", tmp_path / "with", templates=TEMPLATES)
    write_report({}, summary, "tables", tmp_path / "without")
    assert (tmp_path / "with" / IMAGE).is_file() and (tmp_path / "with" / PLOTS_DIR / "delta.csv").is_file()
    assert not (tmp_path / "without" / IMAGE).exists() and not (tmp_path / "without" / PLOTS_DIR).exists()
    assert (tmp_path / "with" / "comparison.csv").read_bytes() == (tmp_path / "without" / "comparison.csv").read_bytes()
