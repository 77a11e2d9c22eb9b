"""Training curves for DVC through transformers' own ``DVCLiveCallback``.

The callback logs every trainer log entry (loss, grad_norm, learning_rate, epoch per logged step;
runtime and throughput at the end) into ``<dir>/plots/metrics/*.tsv`` and ``<dir>/metrics.json``.
It is kept as it is except for the two things it cannot do, which :class:`StepCurves` adds:

- its x axis counts log calls (``Live.next_step`` once per entry), not optimizer steps; with
  ``logging_steps > 1``, or after a resume, its "step" would not be the trainer's;
- it has no history to replay: DVC deletes a stage's outputs (the DVCLive folder) before it reruns
  the stage, so the curves of a resumed run would start at the checkpoint. The trainer's log
  history, restored from the checkpoint, is replayed at train begin instead, so that the curves
  cover the whole run exactly once, as if it had never been interrupted;
- it draws the trainer's end-of-run entry (runtime, throughput, total_flos, train_loss) as curves
  of one point each: those go to ``metrics.json`` instead, as the figures they are.

The trainer's own ``loss`` mixes the task groups batch by batch (each batch comes from one task), so
no group's curve can be read from it: :class:`GroupLossTrainer` adds ``loss_by_group/<group>``, the mean
loss of that group's batches since the last log, a curve per group (``plots/metrics/loss_by_group/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers.integrations import DVCLiveCallback

from wb_embedder.training.compat import SentenceTransformerTrainer

# The key of the trainer's end-of-run log entry (with the other run totals next to it).
END_OF_RUN = "train_runtime"
# Not under "loss/": DVCLive nests a/b as {"a": {"b"}} in metrics.json, and "loss" is a number there.
GROUP_LOSS = "loss_by_group/{group}"


def open_live(live_dir: Path) -> Any:
    """The DVCLive logger of the finetune stage. ``dvcyaml=None``: the pipeline's dvc.yaml declares
    the plots and DVCLive must not rewrite it; ``save_dvc_exp=False``: a stage never creates a
    Git commit (inside ``dvc exp run`` DVC records the experiment itself)."""
    from dvclive import Live

    return Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, resume=False)


class StepCurves(DVCLiveCallback):
    """``DVCLiveCallback`` with optimizer steps on the x axis and a replay of the restored log
    history after a resume (see the module docstring). ``live`` is None off the main process."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        if not state.is_world_process_zero:
            return
        for entry in state.log_history:  # empty unless resumed from a checkpoint
            logs = {key: value for key, value in entry.items() if key != "step"}
            self._log_at(entry["step"], args, state, control, logs)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if END_OF_RUN in logs:
            if state.is_world_process_zero and self.live is not None:
                from dvclive.utils import standardize_metric_name

                # Under the keys the callback's log_metric gives them (train/runtime nests as
                # {"train": {"runtime"}}), so `dvc metrics diff` still pairs them across branches.
                for key, value in logs.items():
                    *parents, leaf = standardize_metric_name(key, "dvclive.huggingface").split("/")
                    node = self.live.summary
                    for parent in parents:
                        node = node.setdefault(parent, {})
                    node[leaf] = value
            return
        self._log_at(state.global_step, args, state, control, logs, **kwargs)

    def _log_at(self, step: int, args: Any, state: Any, control: Any, logs: dict[str, Any], **kwargs: Any) -> None:
        if state.is_world_process_zero and self.live is not None:
            self.live.step = step
        super().on_log(args, state, control, logs=logs, **kwargs)


class GroupLossTrainer(SentenceTransformerTrainer):
    """The trainer, logging next to ``loss`` the mean loss of each task group's batches since the
    last log (``loss_by_group/<group>``; a group without a batch in that span has no point there).
    ``groups`` maps each training dataset's name to its group. Each process averages its own
    batches; under several processes the curves are the main process's."""

    def __init__(self, *args: Any, groups: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._groups = groups
        self._group_losses: dict[str, list[Any]] = {}

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        name = inputs.get("dataset_name")  # the parent pops it
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training and name is not None:
            loss = result[0] if return_outputs else result
            self._group_losses.setdefault(self._groups[name], []).append(loss.detach())
        return result

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._group_losses:
            logs = {**logs, **{GROUP_LOSS.format(group=group): round(float(sum(values)) / len(values), 4)
                               for group, values in sorted(self._group_losses.items())}}
            self._group_losses = {}
        super().log(logs, *args, **kwargs)
