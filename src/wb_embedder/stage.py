"""What every stage script shares: logging set-up and turning expected failures into one clear line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from wb_embedder.errors import WbEmbedderError


def run_stage(name: str, body: Callable[[], None]) -> None:
    """Run a stage's body; a failure the user can fix from its message alone (any
    :class:`WbEmbedderError`) ends the stage with that message on one line and exit status 1.
    Anything else is a bug and keeps its traceback."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    try:
        body()
    except WbEmbedderError as exc:
        logging.getLogger(name).error("%s", exc)
        sys.exit(1)
