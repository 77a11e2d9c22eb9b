"""The model card (README.md) of the exported model: sentence-transformers' own.

``SentenceTransformerModelCardData`` and the trainer's card callback fill it (the training
datasets with rows, columns and token statistics per task, each task's loss with its settings, the
trainer's arguments, the loss per logged step, framework versions); the pipeline's own facts go in
through the card data's public fields: base model and revision, the ``finetune:`` params section,
the triplets' negatives strategy.

The exported folder must be the same bytes for the same params (its DVC hash decides whether
evaluate reruns), also after a resume. So what would differ between two such runs is set here:
the wall-clock training time is left out, and the training log comes from the trainer's full log
history (which the checkpoints carry over), not from the callback's record of this session only.
"""

from __future__ import annotations

from typing import Any

from wb_embedder.training.compat import SentenceTransformerModelCardData

CARD_TAGS = ["wb-embedder"]
# The card data's training-log keys, as the library's card callback writes them.
LOG_KEYS = {"epoch": "Epoch", "step": "Step", "loss": "Training Loss"}


class PipelineCardData(SentenceTransformerModelCardData):
    """The library's card data, without the wall-clock training time (it differs between two runs
    of the same params; the DVCLive logs keep it). sentence-transformers 5.x writes no training
    time, so the override only matters on 6.x."""

    def get_training_duration_data(self) -> dict[str, str | None]:
        return {"training_time": None, "evaluation_time": None, "total_time": None}


def card_data(base: str, revision: str | None) -> PipelineCardData:
    """Card data for a model about to be trained from ``base`` (no hub look-ups: offline runs)."""
    data = PipelineCardData(model_name=f"wb-embedder fine-tune of {base}", local_files_only=True)
    data.add_tags(CARD_TAGS)
    data.base_model = base
    data.base_model_revision = revision
    return data


def _flatten(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def finish_card(
    data: SentenceTransformerModelCardData,
    finetune: dict[str, Any],
    strategy: str | None,
    log_history: list[dict[str, Any]],
) -> None:
    """Add the pipeline's facts after training, and the whole run's training log."""
    data.all_hyperparameters = {
        **data.all_hyperparameters,
        **_flatten(finetune, "finetune."),
        "triplets.strategy": strategy,
    }
    data.training_logs = [
        {title: entry[key] for key, title in LOG_KEYS.items()} for entry in log_history if "loss" in entry
    ]
