"""Keep the measured figures of the README and docs/ in the files the scripts wrote, never typed in.

    python -m wb_embedder.docs   # copy metrics/report.md into README.md's results block and
                                 # bench/results/pipeline.md into docs/performance.md's pipeline block

A page marks each generated block with ``<!-- BEGIN name -->`` / ``<!-- END name -->``; a test
fails when a block differs from its source file, so a figure on a page is always the one the
report stage (or a benchmark script) measured.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

# block name -> (the page that shows it, the file a script wrote), both relative to the repository root
BLOCKS: dict[str, tuple[Path, Path]] = {
    "results": (Path("README.md"), Path("metrics/report.md")),
    "real_results": (Path("README.md"), Path("metrics/real.md")),
    "pipeline_summary": (Path("README.md"), Path("bench/results/pipeline_summary.md")),
    "brandsyns": (Path("README.md"), Path("bench/results/brandsyns_before_after.md")),
    "onnx": (Path("README.md"), Path("bench/results/onnx.md")),
    "pipeline": (Path("docs/performance.md"), Path("bench/results/pipeline.md")),
    "targets": (Path("docs/performance.md"), Path("bench/results/targets.md")),
    "synonyms_quality": (Path("docs/synonyms.md"), Path("data/stats/synonyms_quality.md")),
    "synonyms_recall": (Path("README.md"), Path("data/stats/synonyms_quality.md")),
    "synonyms_dev_grid": (Path("docs/synonyms.md"), Path("bench/results/synonyms_dev_grid.md")),
    "sweep": (Path("docs/experiments.md"), Path("bench/results/sweep_dev.md")),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n)(.*?)(<!-- END {re.escape(name)} -->)", re.S)


def block(text: str, name: str) -> str:
    """The content of block ``name`` in ``text``."""
    match = _pattern(name).search(text)
    if match is None:
        raise ValueError(f"page has no block {name!r} (<!-- BEGIN {name} --> ... <!-- END {name} -->)")
    return match.group(2)


def expected(root: Path, source: Path) -> str:
    return (root / source).read_text(encoding="utf-8").rstrip("\n") + "\n"


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
