"""The model card (README.md) written into the exported model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def _loss_summary(log_history: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    losses = [(int(e["step"]), float(e["loss"])) for e in log_history if "loss" in e and "step" in e]
    if not losses:
        return "no training steps were logged", {}
    first, last = losses[0], losses[-1]
    tail = losses[-max(1, len(losses) // 10) :]
    stats = {
        "first_step": first[0],
        "first_loss": first[1],
        "last_step": last[0],
        "last_loss": last[1],
        "min_loss": min(v for _, v in losses),
        "mean_last_10pct": sum(v for _, v in tail) / len(tail),
    }
    text = (
        f"loss {first[1]:.4f} at step {first[0]} -> {last[1]:.4f} at step {last[0]} "
        f"(minimum {stats['min_loss']:.4f}; mean of the last 10% of logged steps {stats['mean_last_10pct']:.4f})"
    )
    return text, stats


def model_card(
    *,
    base: str,
    revision: str | None,
    base_path: str,
    finetune: dict[str, Any],
    stats: dict[str, dict[str, Any]],
    strategy: str | None,
    summary: dict[str, Any],
    log_history: list[dict[str, Any]],
    merged: bool,
    prompts: dict[str, Any],
) -> str:
    loss_text, _ = _loss_summary(log_history)
    rows = "\n".join(
        f"| {task} | {s['group']} | {s['rows']} | {s['negatives']} | {s['labels'] or ''} |"
        for task, s in sorted(stats.items())
    )
    prompt_rows = "\n".join(
        f"| {task} | `{p['query']!r}` | `{p['document']!r}` |" for task, p in sorted(prompts.items())
    )
    if merged:
        weights = "LoRA adapters merged into the weights: a standalone model, loads without peft or the base folder."
    elif finetune["mode"] == "lora":
        weights = (
            f"LoRA adapter only; it loads on top of the base model at `{Path(base_path).resolve()}` "
            "(an absolute path: move the base folder and this model stops loading)."
        )
    else:
        weights = "All weights fine-tuned" + (
            " (word embeddings frozen)." if finetune["freeze_word_embeddings"] else "."
        )
    return f"""---
library_name: sentence-transformers
tags: [sentence-transformers, feature-extraction, wb-embedder]
base_model: {base}
---

# wb-embedder fine-tuned model

Fine-tuned by the `finetune` stage of the wb-embedder DVC pipeline.

- base model: `{base}` (revision `{revision or "n/a"}`), read from `{base_path}` (relative to the repository)
- weights: {weights}
- triplet negatives strategy: `{strategy}`
- training: {summary.get("steps", 0)} optimizer steps, {summary.get("epochs", 0):.2f} epochs
  (wall time and throughput are in the DVCLive logs, `dvclive/finetune`)
- training loss: {loss_text}

Encode with the task prompts below (queries and documents differ), as the evaluation does:
`model.encode(texts, prompt=...)`.

## Training data (rows per task)

| task | group | rows | negatives per row | labels |
|---|---|---|---|---|
{rows}

## Prompts

| task | query | document |
|---|---|---|
{prompt_rows}

## Parameters (`finetune:` section of params.yaml)

```yaml
{yaml.safe_dump(finetune, sort_keys=False, allow_unicode=True).rstrip()}
```
"""
