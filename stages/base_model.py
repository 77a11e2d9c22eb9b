"""DVC stage base_model: materialise the base model (offline e5-small by default) to models/base."""

from pathlib import Path

from wb_embedder.base_model import materialize_base_model
from wb_embedder.config import load_section
from wb_embedder.stage import run_stage

OUT = Path("models/base")


def main() -> None:
    materialize_base_model(load_section("model"), OUT)


if __name__ == "__main__":
    run_stage("base_model", main)
