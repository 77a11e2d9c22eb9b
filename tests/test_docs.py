"""The README's generated blocks hold exactly what the scripts wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from wb_embedder.docs import BLOCKS, block, sync


def test_readme_results_are_the_report_stage_output(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    for name, source in BLOCKS.items():
        expected = (repo_root / source).read_text(encoding="utf-8").rstrip("\n") + "\n"
        assert block(readme, name) == expected, f"README block {name!r} is stale: run python -m wb_embedder.docs"


def test_sync_replaces_only_the_block(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "report.md").write_text("| a | 0.5 |\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- BEGIN results -->\n| a | 0.4 |\n<!-- END results -->\nafter\n", encoding="utf-8")
    assert sync(readme, tmp_path) == ["results"]
    assert readme.read_text(encoding="utf-8") == "before\n<!-- BEGIN results -->\n| a | 0.5 |\n<!-- END results -->\nafter\n"
    assert sync(readme, tmp_path) == []
    readme.write_text("no block\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no block 'results'"):
        sync(readme, tmp_path)
