"""DVC stage check_params: validate the whole params.yaml on every change of it.

It depends on the whole file and nothing depends on it, so any edit of params.yaml reruns only
this stage's second of work, and a typo anywhere stops `dvc repro` with the key's path.
"""

import logging
from pathlib import Path

from wb_embedder.config import DEFAULT_PARAMS_PATH, check_params
from wb_embedder.io import write_json
from wb_embedder.stage import run_stage

# The params as validated: a cached output, so that DVC's run cache can restore this stage.
OUT = Path("data/stats/params.json")


def main() -> None:
    write_json(check_params(DEFAULT_PARAMS_PATH), OUT)
    logging.getLogger("check_params").info("%s is valid", DEFAULT_PARAMS_PATH)


if __name__ == "__main__":
    run_stage("check_params", main)
