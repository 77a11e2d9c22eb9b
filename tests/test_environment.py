"""The locked environment: every package the code imports is declared and locked, in both stacks."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ("src", "stages", "bench", "tests", "tools")
RUNTIME = ("src", "stages")
LOCKS = ("requirements.lock", "requirements-gpu.lock")
# Installed before the lock, on its own (tools/lock.py says why).
UNLOCKED = {"torch"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """top-level module -> files importing it (absolute imports only)."""
    local = {path.stem for folder in ("tests", "bench", "tools") for path in (ROOT / folder).glob("*.py")}
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local and top != "wb_embedder":
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """distribution -> files importing it; a module no installed distribution provides fails."""
    provided = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    missing = {module: files for module, files in modules.items() if module not in provided}
    assert not missing, f"imported but installed by no package: {missing}"
    for module, files in modules.items():
        for dist in provided[module]:
            out.setdefault(normal(dist), set()).update(files)
    return out


def locked(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}$", text, flags=re.M))
    assert pins, f"{lock}: no hashed pins"
    return {normal(name): version for name, version in pins.items()}


def declared(extras: bool = True) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    if extras:
        specs += [spec for extra in project["optional-dependencies"].values() for spec in extra]
    return {normal(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in specs}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_imported_package_is_locked_with_a_hash(lock: str) -> None:
    pins = locked(lock)
    imported = distributions(imported_modules(CODE))
    unlocked = {dist: sorted(files)[:3] for dist, files in imported.items() if dist not in pins and dist not in UNLOCKED}
    assert not unlocked, f"{lock} lacks packages the code imports (run python tools/lock.py): {unlocked}"
    assert not UNLOCKED & set(pins), f"{lock} pins {UNLOCKED & set(pins)}, which the set-up installs on its own"


def test_every_imported_package_is_declared_in_pyproject() -> None:
    names = declared()
    imported = distributions(imported_modules(CODE))
    undeclared = {dist: sorted(files)[:3] for dist, files in imported.items() if dist not in names}
    assert not undeclared, f"pyproject.toml declares none of {undeclared}"
    runtime = set(distributions(imported_modules(RUNTIME)))
    base = declared(extras=False)
    assert runtime <= base, f"the pipeline imports {sorted(runtime - base)}, declared only as an extra"


@pytest.mark.parametrize(("lock", "requirements"), [("requirements.lock", "requirements.txt"),
                                                    ("requirements-gpu.lock", "requirements-gpu.txt")])
def test_the_lock_holds_the_versions_the_requirements_pin(lock: str, requirements: str) -> None:
    """A pin edited in a requirements file without running tools/lock.py leaves the lock stale."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from lock import expand
    finally:
        sys.path.pop(0)
    pins = locked(lock)
    wanted = dict(re.findall(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)$", "\n".join(expand(ROOT / requirements)), flags=re.M))
    stale = {name: (version, pins.get(normal(name))) for name, version in wanted.items()
             if normal(name) not in UNLOCKED and pins.get(normal(name)) != version}
    assert not stale, f"{lock} is stale against {requirements} (pinned, locked): {stale}"


def test_the_installed_environment_is_the_lock() -> None:
    """What the tests run with is what the lock says (the main stack's lock, or the GPU stack's
    where transformers 4.x is installed)."""
    lock = "requirements-gpu.lock" if importlib.metadata.version("transformers").startswith("4.") else "requirements.lock"
    installed = {normal(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    drift = {name: (version, installed.get(name)) for name, version in locked(lock).items() if installed.get(name) != version}
    assert not drift, f"installed packages differ from {lock} (locked, installed): {drift}"
