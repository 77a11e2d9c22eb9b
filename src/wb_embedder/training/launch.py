"""Multi-process launch: with ``finetune.distributed.launcher: torchrun`` the entry script runs
itself again under ``torch.distributed.run`` (one worker per process); workers train."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import DistributedSection

logger = logging.getLogger(__name__)


def inside_torchrun() -> bool:
    # torchrun (torch.distributed.run) sets LOCAL_RANK for every worker it starts.
    return "LOCAL_RANK" in os.environ


def needs_relaunch(cfg: DistributedSection) -> bool:
    return cfg.launcher == "torchrun" and not inside_torchrun()


def torchrun_command(cfg: DistributedSection, target: Path | str, argv: list[str], module: bool = False) -> list[str]:
    """torchrun through this interpreter (the same virtual environment for sure). ``module``: run
    ``target`` as ``-m package.module``; a script inside the package would put its own folder on
    sys.path, where e.g. ``profile.py`` shadows the standard library module of that name."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={cfg.nproc}",
        *(["-m", str(target)] if module else [str(target)]),
        *argv,
    ]


def relaunch(cfg: DistributedSection, target: Path | str, argv: list[str], module: bool = False) -> None:
    """Run ``target argv`` under torchrun and wait; raise if any worker failed."""
    command = torchrun_command(cfg, target, argv, module)
    logger.info("launching %d workers: %s", cfg.nproc, " ".join(command))
    code = subprocess.run(command, check=False).returncode
    if code:
        raise FinetuneError(f"torchrun workers failed (exit status {code}); their log is above")
