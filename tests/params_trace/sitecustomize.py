"""Records which params keys a stage reads, for tests/test_pipeline.py's exact-dependencies check.

On PYTHONPATH with WB_PARAMS_TRACE set to a folder, every process that loads params through
``wb_embedder.config`` (``load_params`` or ``load_section``) writes there, when it exits, its
command line and the dotted keys its code read after validation: ``<script stem>.<pid>.json``. A
key is read when code takes a field of a params model that is not itself a model
(``params.evaluate.main_k``; a dict or list is read whole), and a model's whole subtree when code
dumps or copies it; stepping through a section (``params.evaluate``) reads nothing by itself. Reads made while validating (cross-section checks) are check_params'
business and not recorded. Without WB_PARAMS_TRACE nothing is patched.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import json
import os
import sys
from pathlib import Path
from typing import Any

TRACE_DIR = os.environ.get("WB_PARAMS_TRACE")
CONFIG_MODULE = "wb_embedder.config"


def _install() -> None:
    from pydantic import BaseModel

    paths: dict[int, str] = {}
    keep: list[BaseModel] = []  # ids stay unique while the models live
    reads: set[str] = set()

    def index(model: BaseModel, prefix: str) -> None:
        paths[id(model)] = prefix
        keep.append(model)
        for name in type(model).model_fields:
            value = object.__getattribute__(model, "__dict__").get(name)
            if isinstance(value, BaseModel):
                index(value, f"{prefix}{name}.")
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, BaseModel):
                        index(item, f"{prefix}{name}.{key}.")

    original_getattribute = BaseModel.__getattribute__

    def traced_getattribute(self: BaseModel, name: str) -> Any:
        value = original_getattribute(self, name)
        prefix = paths.get(id(self))
        if prefix is not None and name in type(self).model_fields and not isinstance(value, BaseModel):
            reads.add(prefix + name)
        return value

    def whole(method_name: str) -> None:
        original = getattr(BaseModel, method_name)

        def traced(self: BaseModel, *args: Any, **kwargs: Any) -> Any:
            prefix = paths.get(id(self))
            if prefix is not None:
                reads.add(prefix.rstrip("."))
            return original(self, *args, **kwargs)

        setattr(BaseModel, method_name, traced)

    BaseModel.__getattribute__ = traced_getattribute  # type: ignore[method-assign]
    for method_name in ("model_dump", "model_dump_json", "model_copy"):
        whole(method_name)

    def wrap(module: Any) -> None:
        load_params, load_section = module.load_params, module.load_section

        def traced_load_params(*args: Any, **kwargs: Any) -> Any:
            params = load_params(*args, **kwargs)
            index(params, "")
            return params

        def traced_load_section(name: str, *args: Any, **kwargs: Any) -> Any:
            section = load_section(name, *args, **kwargs)
            if isinstance(section, BaseModel):
                index(section, f"{name}.")
            else:
                reads.add(name)
            return section

        module.load_params, module.load_section = traced_load_params, traced_load_section

    def write() -> None:
        stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "python"
        out = Path(TRACE_DIR) / f"{stem}.{os.getpid()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"argv": sys.argv, "reads": sorted(reads)}), encoding="utf-8")

    class Finder(importlib.abc.MetaPathFinder):
        """Wraps the loaders of wb_embedder.config so that the module is patched as soon as it has
        run, before any `from wb_embedder.config import load_params` binds the original."""

        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname != CONFIG_MODULE:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            original_exec = loader.exec_module

            def exec_module(module: Any) -> None:
                original_exec(module)
                wrap(module)
                atexit.register(write)

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Finder())


if TRACE_DIR:
    _install()
