"""One base error for the package, and what a stage does with it."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil

import pytest

import wb_embedder
from wb_embedder.errors import WbEmbedderError
from wb_embedder.stage import run_stage


def _package_errors() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package (imported, not parsed)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(wb_embedder.__path__, f"{wb_embedder.__name__}."):
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_package_error_derives_from_the_base() -> None:
    errors = _package_errors()
    # The walk reaches every sub-package (contract, config, evaluation, training, triplets, leakage).
    assert {"ContractError", "ParamsError", "EvaluationError", "FinetuneError", "TripletsError",
            "AnnotationError", "LeakageError", "BaseModelError", "ProfileError"} <= {
        key.rsplit(".", 1)[1] for key in errors
    }
    outside = sorted(key for key, cls in errors.items() if not issubclass(cls, WbEmbedderError))
    assert outside == []


def test_a_package_error_ends_the_stage_with_its_message(caplog: pytest.LogCaptureFixture) -> None:
    from wb_embedder.contract import ContractError

    message = "data/demo/cards.parquet: row 7, column 'nmid': expected an integer, got 'x'"

    def body() -> None:
        raise ContractError(message)

    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stop:
        run_stage("clean", body)
    assert stop.value.code == 1
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [message]


def test_anything_else_keeps_its_traceback() -> None:
    def body() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_stage("clean", body)
