"""DVC stage finetune: multi-task contrastive fine-tuning of models/base on data/triplets.

With finetune.distributed.launcher: torchrun the script re-runs itself under torchrun
(finetune.distributed.nproc workers); each worker trains a data-parallel share.
"""

import sys
from pathlib import Path

from wb_embedder.config import load_params
from wb_embedder.stage import run_stage
from wb_embedder.training.launch import needs_relaunch, relaunch
from wb_embedder.training.run import FinetunePaths, run_finetune

PATHS = FinetunePaths(
    base=Path("models/base"),
    triplets=Path("data/triplets"),
    out=Path("models/finetuned"),
    checkpoints=Path("checkpoints/finetune"),
    live=Path("dvclive/finetune"),
)


def main() -> None:
    params = load_params()
    if needs_relaunch(params.finetune.distributed):
        relaunch(params.finetune.distributed, Path(__file__).resolve(), sys.argv[1:])
        return
    run_finetune(params.finetune, params.model, params.seed, PATHS)


if __name__ == "__main__":
    run_stage("finetune", main)
