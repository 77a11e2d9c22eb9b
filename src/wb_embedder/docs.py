"""Keep the measured figures of the README and docs/ in the files the scripts wrote, never typed in.

    python -m wb_embedder.docs   # copy metrics/report.md into README.md's results block and
                                 # bench/results/pipeline.md into docs/performance.md's pipeline block

A page marks each generated block with ``<!-- BEGIN name -->`` / ``<!-- END name -->``; a test
fails when a block differs from its source file, so a figure on a page is always the one the
report stage (or a benchmark script) measured.

A block may equal the source as committed or as it is in the working tree: another machine's
``dvc repro`` rewrites metrics/ with figures that differ in the fourth decimal (its CPU rounds
differently: docs/experiments.md, Reproducibility), which leaves the committed page right about
the committed figures; a page synced from new figures before they are committed is right too.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

# block name -> (the page that shows it, the file a script wrote), both relative to the repository root
BLOCKS: dict[str, tuple[Path, Path]] = {
    "results": (Path("README.md"), Path("metrics/report.md")),
    "real_results": (Path("README.md"), Path("metrics/real.md")),
    "pipeline_summary": (Path("README.md"), Path("bench/results/pipeline_summary.md")),
    "suite_summary": (Path("README.md"), Path("bench/results/suite_summary.md")),
    "brandsyns": (Path("README.md"), Path("bench/results/brandsyns_before_after.md")),
    "onnx": (Path("README.md"), Path("bench/results/onnx.md")),
    "int8_dev": (Path("docs/export.md"), Path("bench/results/int8_dev.md")),
    "int8_sensitivity": (Path("docs/export.md"), Path("bench/results/int8_sensitivity.md")),
    "pipeline": (Path("docs/performance.md"), Path("bench/results/pipeline.md")),
    "targets": (Path("docs/performance.md"), Path("bench/results/targets.md")),
    "synonyms_quality": (Path("docs/synonyms.md"), Path("data/stats/synonyms_quality.md")),
    "synonyms_recall": (Path("README.md"), Path("data/stats/synonyms_quality.md")),
    "synonyms_dev_grid": (Path("docs/synonyms.md"), Path("bench/results/synonyms_dev_grid.md")),
    "sweep": (Path("docs/experiments.md"), Path("bench/results/sweep_dev.md")),
    "ablation": (Path("docs/experiments.md"), Path("bench/results/ablation_dev.md")),
    "ablation_plain": (Path("README.md"), Path("bench/results/ablation_plain.md")),
    "ablation_verdicts": (Path("README.md"), Path("bench/results/ablation_verdicts.md")),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n)(.*?)(<!-- END {re.escape(name)} -->)", re.S)


def block(text: str, name: str) -> str:
    """The content of block ``name`` in ``text``."""
    match = _pattern(name).search(text)
    if match is None:
        raise ValueError(f"page has no block {name!r} (<!-- BEGIN {name} --> ... <!-- END {name} -->)")
    return match.group(2)


def _as_block(text: str) -> str:
    return text.rstrip("\n") + "\n"


def expected(root: Path, source: Path) -> str:
    """The block a page should hold: the source file as it is now."""
    return _as_block((root / source).read_text(encoding="utf-8"))


def committed(root: Path, source: Path) -> str | None:
    """The source file as the checked-out commit has it (None outside git, or when untracked)."""
    proc = subprocess.run(["git", "show", f"HEAD:{source.as_posix()}"], cwd=root, capture_output=True)
    return _as_block(proc.stdout.decode("utf-8")) if proc.returncode == 0 else None


def stale_blocks(root: Path, blocks: dict[str, tuple[Path, Path]] = BLOCKS) -> list[str]:
    """The blocks that match neither their source as committed nor as it is in the working tree."""
    stale = []
    for name, (page, source) in blocks.items():
        shown = block((root / page).read_text(encoding="utf-8"), name)
        if shown not in (expected(root, source), committed(root, source)):
            stale.append(f"{page} block {name!r}")
    return stale


def sync(root: Path, blocks: dict[str, tuple[Path, Path]] = BLOCKS) -> list[str]:
    """Replace every block by its source file; return the names of the blocks that changed."""
    changed = []
    for name, (page, source) in blocks.items():
        text = (root / page).read_text(encoding="utf-8")
        content = expected(root, source)
        if block(text, name) != content:
            text = _pattern(name).sub(lambda m: m.group(1) + content + m.group(3), text)
            (root / page).write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args()
    changed = sync(args.root)
    print(f"updated: {', '.join(changed)}" if changed else "every generated block is up to date")


if __name__ == "__main__":
    main()
