"""Fine-tune outside DVC, from a YAML file holding ``seed``, ``model`` and ``finetune`` sections
(the same keys as params.yaml). Used by the tests and benchmarks; the DVC stage is
``stages/finetune.py``.

    python -m wb_embedder.training.cli --config cfg.yaml --base models/base --triplets data/triplets \
        --out /tmp/model --checkpoints /tmp/ckpt --live /tmp/live
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from wb_embedder.io import read_yaml
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import FinetuneConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    for name in ("base", "triplets", "out", "checkpoints", "live"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from wb_embedder.config import ModelConfig
    from wb_embedder.training.launch import needs_relaunch, relaunch
    from wb_embedder.training.run import FinetunePaths, run_finetune

    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    raw = read_yaml(args.config)
    cfg = FinetuneConfig.model_validate(raw["finetune"])
    if needs_relaunch(cfg.distributed):
        relaunch(cfg.distributed, "wb_embedder.training.cli", argv, module=True)
        return
    paths = FinetunePaths(
        base=args.base, triplets=args.triplets, out=args.out, checkpoints=args.checkpoints, live=args.live
    )
    run_finetune(cfg, ModelConfig.model_validate(raw["model"]), int(raw["seed"]), paths)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main()
    except FinetuneError as exc:
        logging.getLogger("finetune").error("%s", exc)
        sys.exit(1)
