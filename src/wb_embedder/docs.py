"""Keep the README's measured figures in the files the scripts wrote, never typed in.

    python -m wb_embedder.docs            # copy metrics/report.md into README.md's results block

The README marks each generated block with ``<!-- BEGIN name -->`` / ``<!-- END name -->``; a
test fails when a block differs from its source file, so a figure in the README is always the
one the report stage (or a benchmark script) measured.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

BLOCKS: dict[str, Path] = {"results": Path("metrics/report.md")}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n)(.*?)(<!-- END {re.escape(name)} -->)", re.S)


def block(text: str, name: str) -> str:
    """The content of block ``name`` in ``text``."""
    match = _pattern(name).search(text)
    if match is None:
        raise ValueError(f"README has no block {name!r} (<!-- BEGIN {name} --> ... <!-- END {name} -->)")
    return match.group(2)


def sync(readme: Path, root: Path) -> list[str]:
    """Replace every block by its source file; return the names of the blocks that changed."""
    text = readme.read_text(encoding="utf-8")
    changed = []
    for name, source in BLOCKS.items():
        content = (root / source).read_text(encoding="utf-8").rstrip("\n") + "\n"
        if block(text, name) != content:
            text = _pattern(name).sub(lambda m: m.group(1) + content + m.group(3), text)
            changed.append(name)
    readme.write_text(text, encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args()
    changed = sync(args.readme, args.readme.resolve().parent)
    print(f"updated: {', '.join(changed)}" if changed else "README is up to date")


if __name__ == "__main__":
    main()
