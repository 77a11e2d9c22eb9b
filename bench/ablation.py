"""The recipe, part by part, judged on dev: the candidates of bench/ablation.yaml as DVC experiments
from one snapshot, each compared with that snapshot's `default` experiment by paired bootstrap.

    python bench/ablation.py queue [name ...]       # queue every candidate (or these) and start the queue
    python bench/ablation.py table <commit> [...]   # the table of the experiments queued from these commits

Each candidate is compared with the `default` experiment of the commit it was queued from, so a table
may join snapshots (a later one adding candidates) as long as each has its own `default` run; a
candidate queued from several of them is taken from the last one named.

`table` reads each experiment's outputs from the DVC cache (data/eval/finetuned: the fine-tuned
model's per-item records on dev; dvclive/finetune/metrics.json: its training time), computes the
candidate-minus-default delta of the mean of the 11 headlines and of each real-text benchmark with
a 95% paired bootstrap interval (unpaired, and marked so, where a candidate changed the dev items
themselves), applies the decision rule of docs/experiments.md, and writes
bench/results/ablation_dev.md (shown in docs/experiments.md) and ablation_dev.json. Test is never
read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ROOT / "bench" / "ablation.yaml"
RESULTS = ROOT / "bench" / "results"
EVAL = "data/eval/finetuned"
CURVES = "dvclive/finetune/metrics.json"
SPLIT = "dev"
REFERENCE = "default"
# The table reads the fine-tuned model's dev records and its training curve only: the export,
# int8 scoring and report after `evaluate` would add minutes per candidate.
TARGET = "evaluate"
ELEVEN = "mean of the 11"

logger = logging.getLogger("ablation")


def candidates(path: Path = CANDIDATES) -> dict[str, dict[str, Any]]:
    return {name: dict(overrides or {}) for name, overrides in yaml.safe_load(path.read_text(encoding="utf-8")).items()}


def _override(key: str, value: Any) -> str:
    """One `-S key=value` in the override grammar DVC reads: strings single-quoted (a backslash
    before anything but a quote passes as written, so regexes need no escaping), lists in brackets."""
    if isinstance(value, list):
        return f"{key}=[{','.join(_scalar(v) for v in value)}]"
    return f"{key}={_scalar(value)}"


def _scalar(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def queue(names: list[str], path: Path = CANDIDATES, target: str = TARGET, prefix: str = "") -> None:
    """Queue the candidates of ``path`` (every one, or ``names``) as experiments `<prefix><name>`
    running up to ``target``, from one snapshot, and start one worker."""
    known = candidates(path)
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown candidates {unknown}; {path.name} has {list(known)}")
    # A queued experiment runs in a copy of the repository, but `pip install -e .` points
    # `import wb_embedder` at the workspace's src/: a relative PYTHONPATH makes every stage import
    # the src/ of the copy it runs in (the workspace may change while the queue runs).
    env = {**os.environ, "PYTHONPATH": "src"}
    for name in names or list(known):
        command = ["dvc", "exp", "run", "--queue", "-n", f"{prefix}{name}"]
        for key, value in known[name].items():
            command += ["-S", _override(key, value)]
        command.append(target)
        logger.info("%s", " ".join(command))
        subprocess.run(command, cwd=ROOT, env=env, check=True)
    subprocess.run(["dvc", "queue", "start", "--jobs", "1"], cwd=ROOT, env=env, check=True)


def experiments(baseline: str) -> dict[str, str]:
    """name -> commit of every experiment queued from ``baseline`` (DVC keeps them under
    refs/exps/<baseline[:2]>/<baseline[2:]>/<name>)."""
    sha = subprocess.run(["git", "rev-parse", baseline], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", f"refs/exps/{sha[:2]}/{sha[2:]}/"],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    return {ref.rsplit("/", 1)[-1].split()[0]: ref.split()[1] for ref in refs if ref.strip()}


class Run:
    """One experiment's outputs, read from the DVC cache through its commit."""

    def __init__(self, name: str, rev: str) -> None:
        from dvc.api import DVCFileSystem

        self.name, self.rev = name, rev
        self.fs = DVCFileSystem(str(ROOT), rev=rev)

    def json(self, path: str) -> Any:
        with self.fs.open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)

    def items(self, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
        out = {}
        for name in names:
            with self.fs.open(f"{EVAL}/{SPLIT}/{name}.items.parquet", "rb") as handle:
                out[name] = pd.read_parquet(handle)
        return out

    def scoring(self) -> tuple[Any, int, int]:
        """The experiment's bootstrap settings, headline cut-off and seed. Read from its own
        params.yaml by those keys alone: the snapshot may predate keys the current schema requires."""
        from wb_embedder.evaluation.schema import BootstrapConfig

        with self.fs.open("params.yaml", "r", encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
        return BootstrapConfig.model_validate(raw["evaluate"]["bootstrap"]), int(raw["evaluate"]["main_k"]), int(raw["seed"])


def verdict(intervals: list[Any]) -> str:
    """The decision rule of docs/experiments.md, on the candidate-minus-default intervals."""
    up = any(i.low > 0 for i in intervals)
    down = any(i.high < 0 for i in intervals)
    return "mixed" if up and down else "better" if up else "worse" if down else "tied"


def arrange(baselines: list[str], queued: Mapping[str, Mapping[str, str]], wanted: list[str]) -> list[tuple[str, str, str, bool]]:
    """(row name, baseline, experiment commit, is a reference) for the table: each baseline's
    `default` first, then every wanted candidate from the last baseline that queued it."""
    for baseline in baselines:
        if REFERENCE not in queued[baseline]:
            sys.exit(f"no `{REFERENCE}` experiment queued from {baseline}: found {sorted(queued[baseline])}")
    plan = [(f"{REFERENCE}@{b[:7]}" if len(baselines) > 1 else REFERENCE, b, queued[b][REFERENCE], True) for b in baselines]
    found = {name: (b, rev) for b in baselines for name, rev in queued[b].items() if name != REFERENCE}
    missing = [n for n in wanted if n != REFERENCE and n not in found]
    if missing:
        logger.warning("candidates without an experiment from %s (left out): %s", baselines, missing)
    plan += [(name, *found[name], False) for name in wanted if name in found]
    return plan


def suite_deltas(reference: tuple[Mapping[str, pd.DataFrame], Any], other: tuple[Mapping[str, pd.DataFrame], Any],
                 suites: Mapping[str, tuple[str, ...]], scoring: tuple[int, Any, int], stream: int) -> dict[str, Any]:
    """suite -> (interval of other minus reference, other's value, paired) for (items, run.json)
    pairs; paired where both scored the same benchmark files. Bootstrap stream [seed, stream, column]."""
    from wb_embedder.evaluation.report import run_delta

    (ref_items, ref_info), (items, info) = reference, other
    main_k, cfg, seed = scoring
    out = {}
    for column, (suite, suite_names) in enumerate(suites.items()):
        digest = "benchmarks" if suite == ELEVEN else "real_benchmarks"
        paired = info.get(digest) == ref_info.get(digest)
        interval, _, value = run_delta(ref_items, items, suite_names, main_k, cfg,
                                       np.random.default_rng([seed, stream, column]), paired)
        out[suite] = (interval, value, paired)
    return out


def table(baselines: list[str], adopted: str | None = None) -> dict[str, Any]:
    from wb_embedder.evaluation.benchmarks import BENCHMARK_NAMES, REAL_NAMES

    wanted = candidates()
    queued = {baseline: experiments(baseline) for baseline in baselines}
    plan = arrange(baselines, queued, list(wanted))
    suites = {ELEVEN: BENCHMARK_NAMES, **{name: (name,) for name in REAL_NAMES}}
    names = (*BENCHMARK_NAMES, *REAL_NAMES)
    references: dict[str, tuple[Run, dict[str, pd.DataFrame], Any]] = {}
    for row_name, baseline, rev, is_reference in plan:
        if is_reference:
            reference = Run(row_name, rev)
            references[baseline] = (reference, reference.items(names), reference.json(f"{EVAL}/run.json"))
    cfg, main_k, seed = references[baselines[0]][0].scoring()
    order = [(row_name, baseline, references[baseline][0] if is_reference else Run(row_name, rev))
             for row_name, baseline, rev, is_reference in plan]
    rows: dict[str, Any] = {}
    kept: dict[str, tuple[dict[str, pd.DataFrame], Any]] = {}
    for index, (name, baseline, run) in enumerate(order):
        reference, ref_items, ref_info = references[baseline]
        info = run.json(f"{EVAL}/run.json")
        items = ref_items if run is reference else run.items(names)
        kept[name] = (items, info)
        overrides = {} if run is reference else wanted[name]
        row: dict[str, Any] = {"commit": run.rev[:7], "baseline": baseline[:7], "overrides": overrides,
                               "train_runtime_s": round(float(run.json(CURVES).get("runtime_s", float("nan"))), 1),
                               "figures": {}}
        for suite, (interval, value, paired) in suite_deltas((ref_items, ref_info), (items, info), suites,
                                                             (main_k, cfg, seed), index).items():
            row["figures"][suite] = {"value": round(value, 6), "delta": round(interval.value, 6),
                                     "ci_low": round(interval.low, 6), "ci_high": round(interval.high, 6),
                                     "paired": paired, "_interval": interval}
        row["reference"] = run is reference
        if run is not reference:
            row["verdict"] = verdict([f["_interval"] for f in row["figures"].values()])
        for figure in row["figures"].values():
            figure.pop("_interval")
        rows[name] = row
    result = {"baseline": " ".join(baselines), "split": SPLIT, "confidence": cfg.confidence, "samples": cfg.samples, "rows": rows}
    if adopted is not None and "plain" in kept and adopted in kept:
        # The default the rule adopted against `plain`, directly: the bar is the default's.
        deltas = suite_deltas(kept["plain"], kept[adopted], suites, (main_k, cfg, seed), len(order))
        figures = {suite: {"delta": round(interval.value, 6), "ci_low": round(interval.low, 6),
                           "ci_high": round(interval.high, 6), "paired": paired}
                   for suite, (interval, _, paired) in deltas.items()}
        result["adopted"] = {"name": adopted, "minus_plain": figures}
    write(result)
    return result


def _cell(figure: Mapping[str, Any]) -> str:
    mark = "" if figure["paired"] else " (unpaired)"
    return f"{figure['delta']:+.4f} [{figure['ci_low']:+.4f}, {figure['ci_high']:+.4f}]{mark}"


def markdown(result: Mapping[str, Any]) -> str:
    rows = result["rows"]
    suites = list(next(iter(rows.values()))["figures"])
    lines = [
        f"Dev only. Experiments queued from commit(s) {result['baseline']}; each row is its commit's `default` run with "
        "the overrides of bench/ablation.yaml. Bold rows: each commit's default, its dev figures; other rows: candidate "
        "minus the default of the same commit, "
        f"{result['confidence']:.0%} paired bootstrap interval ({result['samples']} resamples of the same dev items). "
        "Verdict: the rule of docs/experiments.md. Written by bench/ablation.py.",
        "",
        "| candidate | " + " | ".join(f"{s}" for s in suites) + " | verdict | training s |",
        "|---|" + "---|" * len(suites) + "---|---|",
    ]
    for name, row in rows.items():
        if row.get("reference", name == REFERENCE):
            cells = [f"{row['figures'][s]['value']:.4f}" for s in suites]
            lines.append(f"| **{name}** ({row['commit']}) | " + " | ".join(cells) + f" | | {row['train_runtime_s']:.0f} |")
        else:
            cells = [_cell(row["figures"][s]) for s in suites]
            source = f"{row['commit']}, from {row['baseline']}" if " " in str(result["baseline"]) else row["commit"]
            lines.append(f"| {name} ({source}) | " + " | ".join(cells) + f" | {row['verdict']} | "
                         f"{row['train_runtime_s']:.0f} |")
    return "\n".join(lines) + "\n"


def plain_summary(result: Mapping[str, Any]) -> str:
    """The README's sentence on the recipe against `plain`: default minus plain on dev, each suite
    with its interval, and whether the default wins on the mean of the 11 (the issue's bar). The
    default is the candidate the rule adopted (``--adopted``) where the table names one."""
    rows = result["rows"]
    if "plain" not in rows:
        return "The `plain` candidate has no experiment in this table.\n"
    if "adopted" in result:
        who = f"The default (`{result['adopted']['name']}`, adopted by the rule)"
        flipped = {s: (f["delta"], f["ci_low"], f["ci_high"], f["paired"]) for s, f in result["adopted"]["minus_plain"].items()}
    else:
        who = "Default"
        figures = rows["plain"]["figures"]
        flipped = {s: (-f["delta"], -f["ci_high"], -f["ci_low"], f["paired"]) for s, f in figures.items()}
    value, low, high, _ = flipped[ELEVEN]
    if low > 0:
        bar = "the default beats `plain` on the mean of the 11 with an interval above 0"
    elif high < 0:
        bar = "the default is **below** `plain` on the mean of the 11, with an interval below 0"
    else:
        bar = "the default does **not** beat `plain` on the mean of the 11 beyond its interval"
    others = "; ".join(f"{s} {v:+.4f} [{lo:+.4f}, {hi:+.4f}]{'' if paired else ' (unpaired)'}"
                       for s, (v, lo, hi, paired) in flipped.items() if s != ELEVEN)
    return (f"{who} minus `plain` on dev ({result['confidence']:.0%} paired bootstrap, experiments from "
            f"{result['baseline']}): mean of the 11 {value:+.4f} [{low:+.4f}, {high:+.4f}], so {bar}; real text: "
            f"{others}. Written by bench/ablation.py; the full table is in docs/experiments.md.\n")


def verdict_summary(result: Mapping[str, Any]) -> str:
    """The README's list of what each candidate bought on dev: its verdict by the rule, and its
    mean-of-the-11 delta against the default with the interval."""
    lines = []
    for name, row in result["rows"].items():
        if row.get("reference", name == REFERENCE):
            continue
        figure = row["figures"][ELEVEN]
        ups = [s for s, f in row["figures"].items() if f["ci_low"] > 0]
        downs = [s for s, f in row["figures"].items() if f["ci_high"] < 0]
        where = "; ".join(part for part in (f"above the default on {', '.join(ups)}" if ups else "",
                                            f"below it on {', '.join(downs)}" if downs else "") if part)
        lines.append(f"- `{name}`: **{row['verdict']}** (mean of the 11 {_cell(figure)}"
                     f"{'; ' + where if where else ''})")
    return ("What each candidate bought on dev, by the rule of docs/experiments.md (candidate - default; "
            "written by bench/ablation.py):\n\n" + "\n".join(lines) + "\n")


def write(result: Mapping[str, Any]) -> None:
    from wb_embedder.io import atomic_path, write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(result, RESULTS / "ablation_dev.json")
    for name, text in (("ablation_dev.md", markdown(result)), ("ablation_plain.md", plain_summary(result)),
                       ("ablation_verdicts.md", verdict_summary(result))):
        with atomic_path(RESULTS / name) as tmp:
            tmp.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queue", help="queue the candidates as DVC experiments and start the queue")
    q.add_argument("names", nargs="*")
    t = sub.add_parser("table", help="the dev table of the experiments queued from a commit")
    t.add_argument("baselines", nargs="+", metavar="commit")
    t.add_argument("--adopted", help="the candidate the rule made the default: compared with `plain` directly")
    args = parser.parse_args(argv)
    if args.command == "queue":
        queue(args.names)
    else:
        result = table(args.baselines, args.adopted)
        print(markdown(result))


if __name__ == "__main__":
    main()
