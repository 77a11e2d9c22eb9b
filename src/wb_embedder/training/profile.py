"""Params profiles: a YAML file of params.yaml keys to override (e.g. ``profiles/giga.yaml``),
turned into ``dvc exp run -S`` flags.

    python -m wb_embedder.training.profile profiles/giga.yaml            # print the command
    python -m wb_embedder.training.profile profiles/giga.yaml --flags    # one flag per line

``-S`` goes through DVC's own params editor, which keeps params.yaml's comments and layout, and
the overrides stay in the workspace for the next run (``dvc exp run --temp``, or
``git checkout params.yaml`` to go back). Before printing, the profile's ``model``,
``finetune`` and ``export`` sections, merged over the current params, are validated against the schemas, and a
model that runs its own code (``trust_remote_code: true``) must be pinned to a commit
(``model.revision``: 40 hex digits; the rule is ``wb_embedder.config.unpinned_remote_code``) unless
``--allow-unpinned`` is given, which adds ``model.allow_unpinned_remote_code: true`` to the flags
so that check_params accepts the run too. A hub model that runs no code of its own on a revision
that is no commit gets a warning on stderr (its weights can move), and the command is printed.
"""

from __future__ import annotations

import argparse
import copy
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from wb_embedder.errors import WbEmbedderError
from wb_embedder.io import YamlError, read_yaml
from wb_embedder.training.schema import FinetuneConfig


class ProfileError(WbEmbedderError, ValueError):
    """The profile is unreadable, or would produce invalid params."""


def load_profile(path: Path) -> dict[str, Any]:
    try:
        raw = read_yaml(path)
    except (OSError, YamlError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise ProfileError(f"{path}: expected a mapping of params.yaml sections")
    return raw


def leaves(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted keys of every non-mapping value (lists are values, as in params.yaml)."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += leaves(value, f"{dotted}.")
        else:
            out.append((dotted, value))
    return out


def hydra_value(value: Any) -> str:
    """A value in Hydra's override grammar, which ``dvc exp run -S`` parses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProfileError(f"float {value!r} cannot be a param: params.yaml takes finite numbers only")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    raise ProfileError(f"unsupported value {value!r}")


def _has_key(tree: dict[str, Any], dotted: str) -> bool:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def set_param_flags(profile: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """``-S`` arguments (unquoted) that turn ``params`` into ``params`` merged with ``profile``.
    Keys new to params get Hydra's ``+`` (add) prefix."""
    flags = []
    for dotted, value in leaves(profile):
        plus = "" if _has_key(params, dotted) else "+"
        flags += ["-S", f"{plus}{dotted}={hydra_value(value)}"]
    return flags


def merge(params: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(params)
    for dotted, value in leaves(profile):
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)
    return out


def validate(merged: dict[str, Any]) -> None:
    """The model, finetune and export sections after the merge must pass the schemas."""
    from pydantic import ValidationError

    from wb_embedder.config import ModelConfig, describe
    from wb_embedder.export.schema import ExportConfig

    for section, schema in (("model", ModelConfig), ("finetune", FinetuneConfig), ("export", ExportConfig)):
        if section not in merged:
            raise ProfileError(f"merged params have no {section!r} section")
        try:
            schema.model_validate(merged[section])
        except ValidationError as exc:
            raise ProfileError(f"the profile gives invalid {section} params: {describe(exc)}") from None


def _unpinned(model: dict[str, Any]) -> str | None:
    """The params schema's pin rule (``wb_embedder.config.unpinned_remote_code``) on a raw,
    merged model section."""
    from wb_embedder.config import unpinned_remote_code

    return unpinned_remote_code(str(model.get("base", "")), model.get("revision"), bool(model.get("trust_remote_code")))


def _unpinned_weights(model: dict[str, Any]) -> str | None:
    """The warning for a hub model on a moving revision that runs no remote code (remote code on
    one is refused: :func:`check_pinned`)."""
    from wb_embedder.config import unpinned_revision

    if model.get("trust_remote_code"):
        return None
    return unpinned_revision(str(model.get("base", "")), model.get("revision"))


def check_pinned(model: dict[str, Any], allow_unpinned: bool) -> None:
    """The pin rule, checked before the schemas so that its message names this tool's switch."""
    why = _unpinned(model)
    if why and not allow_unpinned and not model.get("allow_unpinned_remote_code"):
        raise ProfileError(f"{why}; pin model.revision to a commit, or pass --allow-unpinned")


def waive_pin(profile: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``profile`` with ``model.allow_unpinned_remote_code: true`` where the merged model would run
    unpinned remote code: --allow-unpinned recorded in params.yaml, where check_params and every
    stage apply the pin rule."""
    if not _unpinned(merge(params, profile).get("model", {})):
        return profile
    return merge(profile, {"model": {"allow_unpinned_remote_code": True}})


def shell_quote(arg: str) -> str:
    if "\n" in arg or "\t" in arg:
        # ANSI-C quoting keeps a prompt's newline a real newline inside one argument.
        escaped = arg.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
        return f"$'{escaped}'"
    if arg == shlex.quote(arg) or any(c in arg for c in '"$`\\!'):
        return shlex.quote(arg)
    return f'"{arg}"'  # Hydra's single quotes read better inside double quotes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="the params file the flags apply to")
    parser.add_argument("--flags", action="store_true", help="print the -S flags one per line, unquoted")
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept a trust_remote_code model whose revision is a branch or tag, not a commit",
    )
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    try:
        params = read_yaml(args.params)
    except (OSError, YamlError) as exc:
        raise ProfileError(f"{args.params}: cannot read params: {exc}") from None
    merged_model = merge(params, profile).get("model", {})
    check_pinned(merged_model, args.allow_unpinned)
    if why := _unpinned_weights(merged_model):
        print(f"warning: {why}", file=sys.stderr)
    if args.allow_unpinned:
        profile = waive_pin(profile, params)
    validate(merge(params, profile))
    flags = set_param_flags(profile, params)
    if args.flags:
        print("\n".join(flags[1::2]))
        return
    pairs = [f"  {flag} {shell_quote(value)}" for flag, value in zip(flags[::2], flags[1::2], strict=True)]
    print("dvc exp run \\\n" + " \\\n".join(pairs))


if __name__ == "__main__":
    try:
        main()
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
