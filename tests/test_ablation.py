"""bench/ablation.py's decision rule and the README sentence on the recipe against `plain`."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from ablation import ELEVEN, arrange, markdown, plain_summary, verdict, verdict_summary  # noqa: E402

sys.path.pop(0)


def interval(low: float, high: float) -> SimpleNamespace:
    return SimpleNamespace(low=low, high=high)


@pytest.mark.parametrize(("intervals", "expected"), [
    ([interval(0.01, 0.02), interval(-0.01, 0.01)], "better"),
    ([interval(-0.02, -0.01), interval(-0.01, 0.01)], "worse"),
    ([interval(0.01, 0.02), interval(-0.02, -0.01)], "mixed"),
    ([interval(-0.01, 0.01), interval(-0.001, 0.002)], "tied"),
])
def test_verdict_follows_the_written_rule(intervals: list[SimpleNamespace], expected: str) -> None:
    assert verdict(intervals) == expected


def _result(delta: float, low: float, high: float) -> dict:
    figure = {"value": 0.5, "delta": delta, "ci_low": low, "ci_high": high, "paired": True}
    real = {"value": 0.8, "delta": 0.01, "ci_low": -0.02, "ci_high": 0.03, "paired": True}
    return {"baseline": "abc1234", "confidence": 0.95,
            "rows": {"default": {}, "plain": {"figures": {ELEVEN: figure, "RealOzonTitleLeaf": real}}}}


def test_plain_summary_states_default_minus_plain() -> None:
    # Rows are candidate - default: plain below the default is a negative delta.
    won = plain_summary(_result(-0.03, -0.04, -0.02))
    assert "mean of the 11 +0.0300 [+0.0200, +0.0400]" in won and "beats `plain`" in won
    assert "RealOzonTitleLeaf -0.0100 [-0.0300, +0.0200]" in won
    assert "does **not** beat" in plain_summary(_result(-0.01, -0.03, 0.01))
    assert "**below** `plain`" in plain_summary(_result(0.03, 0.02, 0.04))
    assert "no experiment" in plain_summary({"rows": {"default": {}}})


def test_plain_summary_compares_plain_with_the_adopted_default_where_there_is_one() -> None:
    result = _result(0.01, -0.01, 0.03)
    result["adopted"] = {"name": "full-finetune", "minus_plain": {
        ELEVEN: {"delta": 0.012, "ci_low": 0.004, "ci_high": 0.02, "paired": True},
        "RealOzonTitleLeaf": {"delta": 0.004, "ci_low": -0.006, "ci_high": 0.014, "paired": True}}}
    text = plain_summary(result)
    assert text.startswith("The default (`full-finetune`, adopted by the rule) minus `plain`")
    assert "mean of the 11 +0.0120 [+0.0040, +0.0200]" in text and "beats `plain`" in text
    assert "RealOzonTitleLeaf +0.0040 [-0.0060, +0.0140]" in text


def test_a_table_joins_snapshots_each_candidate_against_its_own_default() -> None:
    queued = {"aaaaaaa1": {"default": "d1", "plain": "p1", "no-prompts": "n1"},
              "bbbbbbb2": {"default": "d2", "no-prompts": "n2", "combined": "c2"}}
    plan = arrange(["aaaaaaa1", "bbbbbbb2"], queued, ["default", "plain", "no-prompts", "combined", "never-run"])
    assert plan == [("default@aaaaaaa", "aaaaaaa1", "d1", True), ("default@bbbbbbb", "bbbbbbb2", "d2", True),
                    ("plain", "aaaaaaa1", "p1", False), ("no-prompts", "bbbbbbb2", "n2", False),
                    ("combined", "bbbbbbb2", "c2", False)]
    assert arrange(["aaaaaaa1"], queued, ["default", "plain"])[0] == ("default", "aaaaaaa1", "d1", True)
    with pytest.raises(SystemExit, match="no `default` experiment queued from bbbbbbb2"):
        arrange(["bbbbbbb2"], {"bbbbbbb2": {"plain": "p"}}, ["default"])


def test_the_table_names_each_rows_snapshot_when_it_joins_several() -> None:
    figure = {"value": 0.5, "delta": 0.01, "ci_low": -0.01, "ci_high": 0.03, "paired": True}
    rows = {"default@aaaaaaa": {"reference": True, "commit": "d1d1d1d", "baseline": "aaaaaaa", "train_runtime_s": 10.0,
                                "figures": {ELEVEN: figure}},
            "plain": {"reference": False, "commit": "p1p1p1p", "baseline": "aaaaaaa", "train_runtime_s": 9.0,
                      "verdict": "tied", "figures": {ELEVEN: figure}}}
    text = markdown({"baseline": "aaaaaaa1 bbbbbbb2", "confidence": 0.95, "samples": 200, "rows": rows})
    assert "| **default@aaaaaaa** (d1d1d1d) | 0.5000 | | 10 |" in text
    assert "| plain (p1p1p1p, from aaaaaaa) | +0.0100 [-0.0100, +0.0300] | tied | 9 |" in text


def test_the_readme_list_says_what_each_candidate_bought() -> None:
    up = {"value": 0.9, "delta": 0.02, "ci_low": 0.01, "ci_high": 0.03, "paired": True}
    flat = {"value": 0.5, "delta": 0.001, "ci_low": -0.01, "ci_high": 0.012, "paired": True}
    down = {"value": 0.4, "delta": -0.02, "ci_low": -0.03, "ci_high": -0.01, "paired": False}
    rows = {"default": {"reference": True, "figures": {ELEVEN: flat}},
            "simcse-mixed": {"reference": False, "verdict": "mixed", "figures": {ELEVEN: flat, "RealOzonTitleLeaf": up,
                                                                                "RealWBReviewsStars": down}}}
    text = verdict_summary({"rows": rows})
    assert "`default`" not in text
    assert ("- `simcse-mixed`: **mixed** (mean of the 11 +0.0010 [-0.0100, +0.0120]; above the default on "
            "RealOzonTitleLeaf; below it on RealWBReviewsStars)") in text
