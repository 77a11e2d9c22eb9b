"""dvc.yaml lists, for every stage, the project code its command runs.

DVC reruns a stage only when one of its listed dependencies changes, so a module the stage imports
but does not list is an edit that leaves the stage's outputs stale without a word (gen_synonyms
once read ``clean.read_clean_tables`` without depending on ``clean.py``). The test reads the
stages as DVC resolves them, follows each command's imports of ``wb_embedder`` through the source
(package ``__init__`` files and relative imports included), and names the stage and the module
that a dependency should cover. A listed code dependency that covers nothing the stage runs is
named too: it reruns the stage for edits that cannot change its outputs.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "wb_embedder"
# The folders whose files are code: a dependency under them must cover code the stage runs.
CODE_DIRS = ("src", "stages")


class UnknownCommand(ValueError):
    """A stage command this test cannot follow into the code it runs."""


def module_file(name: str, src: Path) -> Path | None:
    """The file of module ``name`` under ``src`` (a module file or a package's ``__init__``)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _ours(name: str | None) -> bool:
    return name is not None and (name == PACKAGE or name.startswith(PACKAGE + "."))


def _with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a``'s and ``a.b``'s ``__init__`` first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def is_inert(tree: ast.Module) -> bool:
    """A file with nothing but a docstring (and ``__future__`` imports) runs no code, so editing it
    cannot change an output: the package ``__init__`` files that only describe their package."""
    for i, node in enumerate(tree.body):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            return False
    return True


class _Imports(ast.NodeVisitor):
    """Every ``wb_embedder`` module one file imports, wherever the import statement is (a function
    body's import runs when the stage calls the function), except under ``if TYPE_CHECKING:``."""

    def __init__(self, package: str | None, src: Path) -> None:
        self.package, self.src = package, src
        self.found: set[str] = set()

    def _add(self, name: str) -> None:
        self.found.update(_with_parents(name))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _ours(alias.name):
                self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            if self.package is None:
                raise ValueError(f"relative import outside a package at line {node.lineno}")
            parts = self.package.split(".")
            if node.level - 1 >= len(parts):
                raise ValueError(f"relative import beyond the top package at line {node.lineno}")
            base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not _ours(base):
            return
        self._add(base)
        # ``from pkg import name``: name is a submodule (imported too) or an attribute of pkg.
        for alias in node.names:
            if alias.name != "*" and module_file(f"{base}.{alias.name}", self.src) is not None:
                self._add(f"{base}.{alias.name}")


@cache  # each file is parsed once per session, however many stages run it
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module, package: str | None, src: Path) -> set[str]:
    visitor = _Imports(package, src)
    visitor.visit(tree)
    return visitor.found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def code_closure(entry: Path, src: Path, entry_module: str | None = None) -> set[Path]:
    """The files that running ``entry`` executes: the entry itself and every ``wb_embedder`` module
    it imports, transitively, less the inert ones (:func:`is_inert`). ``entry_module`` is the
    module name when the entry is run with ``python -m`` (its parent packages are imported first)."""
    files = {entry}
    seen: set[str] = set()
    package = None
    todo: list[str] = []
    if entry_module:
        package = _package_of(entry_module, entry)
        seen.add(entry_module)
        todo += _with_parents(entry_module)[:-1]
    todo += imported_modules(_parse(entry), package, src)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, src)
        if path is None:
            raise ModuleNotFoundError(f"{entry} imports {name}, which has no file under {src}")
        tree = _parse(path)
        if not is_inert(tree):
            files.add(path)
        todo += imported_modules(tree, _package_of(name, path), src)
    return files


def entry_points(cmd: str | list[str], root: Path, src: Path) -> list[tuple[Path, str | None]]:
    """The Python files a stage command starts: ``python script.py ...`` or ``python -m module``."""
    entries = []
    for line in [cmd] if isinstance(cmd, str) else cmd:
        argv = shlex.split(line)
        if len(argv) >= 2 and Path(argv[0]).name.startswith("python"):
            if argv[1] == "-m" and len(argv) >= 3 and _ours(argv[2]):
                path = module_file(argv[2], src)
                if path is not None:
                    entries.append((path, argv[2]))
                    continue
            elif argv[1].endswith(".py") and (root / argv[1]).is_file():
                entries.append((root / argv[1], None))
                continue
        raise UnknownCommand(f"cannot tell which project code {line!r} runs: teach tests/test_dvc_deps.py")
    return entries


def _norm(dep: str) -> str:
    return dep.strip().removeprefix("./").rstrip("/")


def covers(dep: str, path: str) -> bool:
    """A dependency covers a file when it is the file or a folder above it."""
    dep = _norm(dep)
    return path == dep or path.startswith(dep + "/")


def uncovered(required: Iterable[str], deps: Iterable[str]) -> list[str]:
    deps = list(deps)
    return sorted(path for path in required if not any(covers(dep, path) for dep in deps))


def needless(required: Iterable[str], deps: Iterable[str]) -> list[str]:
    """Code dependencies (under ``src/`` or ``stages/``) that cover no file the stage runs."""
    required = list(required)
    code = [d for d in deps if _norm(d).split("/")[0] in CODE_DIRS]
    return sorted(d for d in code if not any(covers(d, path) for path in required))


def stage_code(cmd: str | list[str], root: Path, src: Path) -> set[str]:
    """Root-relative paths of every file a stage command executes from this repository."""
    files: set[Path] = set()
    for entry, module in entry_points(cmd, root, src):
        files |= code_closure(entry, src, module)
    return {p.relative_to(root).as_posix() for p in files}


@pytest.fixture(scope="module")
def stages() -> Mapping[str, tuple[set[str] | UnknownCommand, list[str]]]:
    """name -> (the code its command runs, or why that is unknown; its deps) of every stage, as
    DVC itself resolves dvc.yaml (templating, foreach and matrix stages included): the test sees
    what ``dvc repro`` sees."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        commands = {s.name: (s.cmd, [d.def_path for d in s.deps]) for s in repo.index.stages if getattr(s, "cmd", None)}
    out: dict[str, tuple[set[str] | UnknownCommand, list[str]]] = {}
    for name, (cmd, deps) in commands.items():
        try:
            out[name] = (stage_code(cmd, ROOT, SRC), deps)
        except UnknownCommand as exc:
            out[name] = (exc, deps)
    return out


def test_every_stage_depends_on_the_code_it_runs(
    stages: Mapping[str, tuple[set[str] | UnknownCommand, list[str]]],
) -> None:
    assert stages, "no stage with a command found in dvc.yaml"
    problems = []
    for name, (required, deps) in sorted(stages.items()):
        if isinstance(required, UnknownCommand):
            problems.append(f"{name}: {required}")
            continue
        problems += [f"{name}: runs {path}, which no dependency covers" for path in uncovered(required, deps)]
    assert not problems, "dvc.yaml misses code dependencies:\n  " + "\n  ".join(problems)


def test_no_stage_depends_on_code_it_does_not_run(
    stages: Mapping[str, tuple[set[str] | UnknownCommand, list[str]]],
) -> None:
    problems = []
    for name, (required, deps) in sorted(stages.items()):
        if isinstance(required, UnknownCommand):
            continue  # named by the test above
        problems += [
            f"{name}: depends on {dep}, which holds no code the stage runs" for dep in needless(required, deps)
        ]
    assert not problems, "dvc.yaml lists code a stage never runs (edits there rerun it for nothing):\n  " + "\n  ".join(
        problems
    )

# What Python imports when it loads each stage script, less the inert files: the static walk must
# see all of it (it sees more: imports inside functions, which run only when called).
_RUNTIME_IMPORTS = """
import importlib.util, json, sys
out = {}
for script in sys.argv[1:]:
    for name in [n for n in sys.modules if n == "wb_embedder" or n.startswith("wb_embedder.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location("stage_under_test", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    out[script] = sorted(m.__file__ for n, m in sys.modules.items() if n.startswith("wb_embedder") and m.__file__)
print(json.dumps(out))
"""


def test_the_walk_sees_every_module_a_stage_script_imports() -> None:
    import json
    import os
    import subprocess
    import sys

    scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "stages").glob("*.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _RUNTIME_IMPORTS, *scripts], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for script, files in json.loads(done.stdout).items():
        loaded = {Path(f).resolve().relative_to(ROOT).as_posix() for f in files}
        live = {f for f in loaded if not is_inert(_parse(ROOT / f))}
        missed = live - stage_code(f"python {script}", ROOT, SRC)
        assert not missed, f"{script} imports {sorted(missed)}, which the walk did not find"


# The walker itself, on a made-up package.

FAKE = {
    "wb_embedder/__init__.py": '"""Only a docstring."""\nfrom __future__ import annotations\n',
    "wb_embedder/top.py": "from .sub import helper\nfrom . import sibling\n",
    "wb_embedder/sibling.py": "X = 1\n",
    "wb_embedder/sub/__init__.py": "from .inner import helper\n",
    "wb_embedder/sub/inner.py": "from ..deep.leaf import VALUE\nhelper = VALUE\n",
    "wb_embedder/sub/helper_unused.py": "Y = 2\n",
    "wb_embedder/deep/__init__.py": '"""Inert."""\n',
    "wb_embedder/deep/leaf.py": "VALUE = 3\n",
    "wb_embedder/lazy.py": "Z = 4\n",
    "wb_embedder/typed.py": "T = 5\n",
    "wb_embedder/other.py": "import wb_embedder.lazy\n",
    "wb_embedder/cli.py": "from wb_embedder.top import sibling\n",
}
SCRIPT = """
from typing import TYPE_CHECKING
import os
from wb_embedder.top import sibling
if TYPE_CHECKING:
    from wb_embedder.typed import T
def main():
    from wb_embedder import other
"""


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    for rel, text in FAKE.items():
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "run.py").write_text(SCRIPT, encoding="utf-8")
    return tmp_path


def test_closure_follows_relative_and_lazy_imports_and_package_inits(fake_repo: Path) -> None:
    src = fake_repo / "src"
    got = stage_code("python stages/run.py --flag x", fake_repo, src)
    assert got == {
        "stages/run.py",
        "src/wb_embedder/top.py",
        "src/wb_embedder/sibling.py",
        "src/wb_embedder/sub/__init__.py",  # runs code: importing sub.inner goes through it
        "src/wb_embedder/sub/inner.py",
        "src/wb_embedder/deep/leaf.py",  # ``from ..deep.leaf`` two levels up
        "src/wb_embedder/other.py",  # imported inside main()
        "src/wb_embedder/lazy.py",
    }
    # Not there: the docstring-only __init__ files, typed.py (TYPE_CHECKING only), a module of
    # the package that nothing imports.
    got_module = stage_code(["python -m wb_embedder.cli"], fake_repo, src)
    assert got_module == {"src/wb_embedder/cli.py", "src/wb_embedder/top.py", "src/wb_embedder/sibling.py",
                          "src/wb_embedder/sub/__init__.py", "src/wb_embedder/sub/inner.py",
                          "src/wb_embedder/deep/leaf.py"}


def test_coverage_by_file_or_folder_and_needless_deps() -> None:
    required = {"stages/run.py", "src/wb_embedder/sub/inner.py", "src/wb_embedder/top.py"}
    deps = ["stages/run.py", "src/wb_embedder/sub/", "data/clean", "src/wb_embedder/lazy.py", "src/wb_embedder/to"]
    assert uncovered(required, deps) == ["src/wb_embedder/top.py"]  # a name prefix is no folder
    assert needless(required, deps) == ["src/wb_embedder/lazy.py", "src/wb_embedder/to"]  # data deps are not code


def test_an_unknown_command_or_a_missing_module_is_named(fake_repo: Path) -> None:
    src = fake_repo / "src"
    with pytest.raises(UnknownCommand, match="'bash run.sh'"):
        stage_code("bash run.sh", fake_repo, src)
    (fake_repo / "stages" / "broken.py").write_text("import wb_embedder.nowhere\n", encoding="utf-8")
    with pytest.raises(ModuleNotFoundError, match="wb_embedder.nowhere"):
        stage_code("python stages/broken.py", fake_repo, src)
