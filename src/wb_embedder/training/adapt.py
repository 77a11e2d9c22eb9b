"""What is trained: loading the base model, LoRA adapters or full weights (optionally with frozen
word embeddings), and folding LoRA back into plain weights for export."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from torch import nn

from wb_embedder.training.compat import backbone as get_backbone
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import FinetuneConfig, LoraSection

logger = logging.getLogger(__name__)

ST_MARKERS = ("modules.json", "config.json")
# What the trainer writes into a checkpoint folder: the adapter alone in LoRA mode, else the model
# (one file, or shards listed in an index).
ADAPTER_WEIGHTS = "adapter_model.safetensors"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"


def load_base_model(path: Path, trust_remote_code: bool, max_seq_length: int, device: str | None) -> Any:
    """The base model, loaded from an absolute path with no hub access (a relative path is
    resolved first: the trainer and the adapter config record it, and the cwd may change)."""
    from wb_embedder.base_model import BaseModelError, load_embedder

    path = Path(path).resolve()
    if not path.is_dir() or not any((path / marker).is_file() for marker in ST_MARKERS):
        raise FinetuneError(
            f"base model {path} is missing or not a sentence-transformers folder (no modules.json / config.json); "
            "run the base_model stage first"
        )
    try:
        model = load_embedder(str(path), trust_remote_code=trust_remote_code, device=device, local_files_only=True)
    except BaseModelError as exc:
        raise FinetuneError(str(exc)) from None
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise FinetuneError(f"base model {path} cannot be loaded offline: {type(exc).__name__}: {exc}") from None
    model.max_seq_length = max_seq_length
    return model


def lora_target_names(model: nn.Module, targets: list[str]) -> dict[str, list[str]]:
    """Which modules each LoRA target name selects (peft's rule: the name or a dotted suffix).
    Stops when a target matches nothing: peft only complains when *no* target matches, so a typo
    in one of several targets would silently train fewer layers than the params say."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    found = {t: [n for n in names if n == t or re.search(rf"(^|\.){re.escape(t)}$", n)] for t in targets}
    if missing := [t for t, hits in found.items() if not hits]:
        sample = sorted({n.rsplit(".", 1)[-1] for n in names})[:30]
        raise FinetuneError(
            f"finetune.lora.target_modules {missing} match no linear layer of {type(model).__name__}; "
            f"its linear layer names include {sample}"
        )
    return found


def top_layer_indices(backbone: nn.Module, top: int | None) -> list[int] | None:
    if top is None:
        return None
    config = getattr(backbone, "config", None)
    config = getattr(config, "text_config", None) or config
    total = getattr(config, "num_hidden_layers", None)
    if not isinstance(total, int):
        raise FinetuneError("finetune.lora.top_layers needs a backbone whose config has num_hidden_layers")
    if top > total:
        raise FinetuneError(f"finetune.lora.top_layers {top} exceeds the model's {total} layers")
    return list(range(total - top, total))


def add_lora(model: Any, cfg: LoraSection) -> None:
    from peft import LoraConfig, TaskType

    backbone = get_backbone(model)
    lora_target_names(backbone, cfg.target_modules)
    model.add_adapter(
        LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            bias="none",
            layers_to_transform=top_layer_indices(backbone, cfg.top_layers),
        )
    )


def prepare_model(model: Any, cfg: FinetuneConfig) -> dict[str, int]:
    """Set what trains; returns trainable and total parameter counts."""
    backbone = get_backbone(model)
    if backbone is None:
        raise FinetuneError("the base model has no transformers backbone to fine-tune")
    if cfg.mode == "lora":
        add_lora(model, cfg.lora)
    else:
        if cfg.freeze_word_embeddings:
            backbone.get_input_embeddings().weight.requires_grad_(False)
    # A BERT pooler head is never used by sentence embeddings (they pool token states), so it gets
    # no gradient; left trainable, DDP would wait for its gradients and fail.
    pooler = getattr(backbone, "pooler", None)
    if isinstance(pooler, nn.Module):
        pooler.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("mode %s: %d trainable of %d parameters (%.2f%%)", cfg.mode, trainable, total, 100 * trainable / total)
    return {"trainable": trainable, "total": total}


def dropout_in_training(model: Any) -> dict[str, int]:
    """The dropout that acts while the model trains, by kind: ``nn.Dropout`` modules with p > 0 (the
    model's own, LoRA's ``lora_dropout``) and attention modules whose ``attention_dropout`` rate is
    above 0 (decoders pass it to the attention kernel rather than keeping a module)."""
    found: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p > 0:
            found["dropout modules"] = found.get("dropout modules", 0) + 1
        rate = getattr(module, "attention_dropout", None)
        if isinstance(rate, float) and rate > 0:
            found["attention dropout"] = found.get("attention dropout", 0) + 1
    return found


def require_dropout(model: Any) -> None:
    """SimCSE's noise: stop with one line when the prepared model has no dropout to train with."""
    found = dropout_in_training(model)
    if not found:
        raise FinetuneError(
            f"finetune.simcse needs dropout (its two embeddings of a text differ by dropout alone), and "
            f"{type(get_backbone(model)).__name__} has none that acts in training (no dropout layer above 0, "
            "attention dropout 0, finetune.lora.dropout 0); raise finetune.lora.dropout, or set "
            "finetune.simcse.arrangement: none"
        )
    logger.info("SimCSE noise: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(found.items())))


def has_lora(model: Any) -> bool:
    """Whether the model carries (unmerged) adapters: transformers' adapter integration, which
    ``SentenceTransformer.add_adapter`` uses, lists them in ``active_adapters``."""
    active = getattr(get_backbone(model), "active_adapters", None)
    try:
        return bool(active and active())
    except ValueError:  # transformers: "No adapter loaded"
        return False


def merged_copy(model: Any, base: Path, trust_remote_code: bool, max_seq_length: int) -> Any:
    """A standalone copy of a LoRA-trained model, adapters folded into plain weights (it loads
    without peft or the base folder): the base model reloaded, the trained adapter put in with
    peft's ``LoraModel`` and its public state-dict loader, and folded in with ``merge_and_unload``.
    The trained model itself carries transformers' adapter integration, which has no merge (folding
    it in place meant resetting private flags). ``LoraModel``, not ``PeftModel``: the latter reads
    a property transformers 5 deprecates, with a FutureWarning at every export. The card data,
    filled while training, moves to the copy."""
    import copy as copying

    from peft import LoraModel, set_peft_model_state_dict

    trained = get_backbone(model)
    (name, config), = trained.peft_config.items()  # add_lora adds one adapter
    plain = load_base_model(base, trust_remote_code, max_seq_length, "cpu")
    target = get_backbone(plain)
    tuner = LoraModel(target, copying.deepcopy(config), name)
    loaded = set_peft_model_state_dict(target, trained.get_adapter_state_dict(name), adapter_name=name)
    if [k for k in loaded.missing_keys if "lora_" in k] or loaded.unexpected_keys:
        raise FinetuneError(f"the trained adapter does not fit a fresh {type(target).__name__}: {loaded}")
    tuner.merge_and_unload()
    plain.model_card_data = model.model_card_data
    plain.model_card_data.register_model(plain)
    return plain


PEFT_KEY_PREFIX = "base_model.model."


def restore_weights(model: Any, checkpoint: Path) -> None:
    """Load the trained weights of a trainer checkpoint into the prepared model (the adapter in
    LoRA mode, every weight otherwise), with peft's and safetensors' public loaders. Used where the
    trainer's own resume cannot serve: resumed at its last step, it would train one step more."""
    from safetensors.torch import load_file

    backbone = get_backbone(model)
    if has_lora(model):
        from peft import set_peft_model_state_dict

        # peft's file format names keys by the PeftModel path ("base_model.model.<name>"): the
        # trainer of transformers 4.x (the GPU stack) saves the adapter so, 5.x by the bare names
        # that the model's own adapter integration uses. transformers' load_adapter strips the
        # prefix the same way.
        state = {key.removeprefix(PEFT_KEY_PREFIX): value for key, value in load_file(checkpoint / ADAPTER_WEIGHTS).items()}
        loaded = set_peft_model_state_dict(backbone, state)
        missing = [k for k in loaded.missing_keys if "lora_" in k]
    else:
        index = checkpoint / WEIGHTS_INDEX
        shards = json.loads(index.read_text(encoding="utf-8"))["weight_map"].values() if index.is_file() else [WEIGHTS]
        files = sorted(set(shards))
        state: dict[str, Any] = {}
        for name in files:
            state.update(load_file(checkpoint / name))
        loaded = backbone.load_state_dict(state, strict=False)
        missing = list(loaded.missing_keys)
    if missing or loaded.unexpected_keys:
        raise FinetuneError(
            f"checkpoint {checkpoint} does not fit the model: missing {missing[:5]}, "
            f"unexpected {list(loaded.unexpected_keys)[:5]}; delete the checkpoint folder and train again"
        )
