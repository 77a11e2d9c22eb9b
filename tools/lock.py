"""Write the hashed locks of both stacks from their requirements files.

    python tools/lock.py            # requirements.lock (main stack) and requirements-gpu.lock

Each lock is pip's own resolution of the stack's requirements (``pip install --dry-run
--ignore-installed --report``, run with this interpreter and its package indexes), every package
pinned to one version with the sha256 of the file pip chose. torch is left out on purpose: it is
installed first, on its own and pinned (the CPU wheel on a CPU machine, the CUDA build with its
nvidia-* packages on a GPU machine), so no single hash fits every machine. The project itself is
installed after the lock with ``pip install --no-deps -e .``. The hashes are for Linux x86_64 and
CPython 3.11, what CI and the GPU machines run; elsewhere install from the requirements files.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACKS = {"requirements.lock": "requirements.txt", "requirements-gpu.lock": "requirements-gpu.txt"}
# Installed before the lock, by the set-up command (see the module docstring).
UNLOCKED = {"torch"}

logger = logging.getLogger("lock")


def expand(path: Path) -> list[str]:
    """The requirement lines of a requirements file, its `-r` includes inlined; the editable
    project (`-e .`) is left out (it is installed after the lock, without dependencies)."""
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-e "):
            continue
        if line.startswith("-r "):
            lines += expand(path.parent / line[3:].strip())
        else:
            lines.append(line)
    return lines


def resolve(requirements: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        source, report = Path(tmp) / "in.txt", Path(tmp) / "report.json"
        source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), "-r", str(source)], check=True)
        return json.loads(report.read_text(encoding="utf-8"))["install"]


def render(stack: str, packages: list[dict]) -> str:
    lines = [f"# {STACKS[stack]}, locked: written by `python tools/lock.py`; do not edit.",
             "# Install torch==2.13.0 first, then: pip install --no-deps --require-hashes -r " + stack,
             "# then: pip install --no-deps -e .   (README, set-up)"]
    for package in sorted(packages, key=lambda p: p["metadata"]["name"].lower()):
        name, version = package["metadata"]["name"], package["metadata"]["version"]
        if name.lower() in UNLOCKED:
            continue
        digest = package["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", nargs="*", help=f"some of {list(STACKS)} (default: both)")
    stacks = parser.parse_args().stacks or list(STACKS)
    unknown = [s for s in stacks if s not in STACKS]
    if unknown:
        parser.error(f"unknown stacks {unknown}: choose from {list(STACKS)}")
    for stack in stacks:
        logger.info("resolving %s", STACKS[stack])
        text = render(stack, resolve(expand(ROOT / STACKS[stack])))
        (ROOT / stack).write_text(text, encoding="utf-8")
        logger.info("wrote %s", stack)


if __name__ == "__main__":
    main()
