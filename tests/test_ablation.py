"""bench/ablation.py's decision rule and the README sentence on the recipe against `plain`."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from ablation import ELEVEN, plain_summary, verdict  # noqa: E402

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
