"""What is trained: loading the base model, LoRA adapters or full weights (optionally with frozen
word embeddings), and folding LoRA back into plain weights for export."""

from __future__ import annotations

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


def has_lora(model: Any) -> bool:
    backbone = get_backbone(model)
    return bool(getattr(backbone, "_hf_peft_config_loaded", False))


def merge_lora(model: Any) -> int:
    """Fold every LoRA layer into its base weight and put the plain layer back, so the model saves
    as ordinary full weights (loadable without peft or the base folder). Returns layers merged."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    backbone = get_backbone(model)
    merged = 0
    for name, module in list(backbone.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = backbone.get_submodule(parent_name) if parent_name else backbone
            setattr(parent, child, module.get_base_layer())
            merged += 1
    # Without these flags transformers would save (and reload) an adapter, not the weights.
    backbone._hf_peft_config_loaded = False
    if hasattr(backbone, "peft_config"):
        del backbone.peft_config
    return merged
