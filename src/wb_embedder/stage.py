"""What every stage script shares: logging set-up and turning expected failures into one clear line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from wb_embedder.base_model import BaseModelError
from wb_embedder.config import ParamsError
from wb_embedder.contract import ContractError
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.leakage.audit import LeakageError
from wb_embedder.training.errors import FinetuneError
from wb_embedder.triplets.annotation import AnnotationError
from wb_embedder.triplets.generate import TripletsError

# Failures a user can fix from the message alone; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    ParamsError, ContractError, BaseModelError, TripletsError, AnnotationError, EvaluationError, FinetuneError,
    LeakageError,
)


def run_stage(name: str, body: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    try:
        body()
    except EXPECTED_ERRORS as exc:
        logging.getLogger(name).error("%s", exc)
        sys.exit(1)
