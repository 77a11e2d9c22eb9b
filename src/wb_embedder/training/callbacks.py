"""Training curves for DVC through transformers' own ``DVCLiveCallback``.

The callback logs every trainer log entry (loss, grad_norm, learning_rate, epoch per logged step;
runtime and throughput at the end) into ``<dir>/plots/metrics/*.tsv`` and ``<dir>/metrics.json``.
It is kept as it is except for the two things it cannot do, which :class:`StepCurves` adds:

- its x axis counts log calls (``Live.next_step`` once per entry), not optimizer steps; with
  ``logging_steps > 1``, or after a resume, its "step" would not be the trainer's;
- it has no history to replay: DVC deletes a stage's outputs (the DVCLive folder) before it reruns
  the stage, so the curves of a resumed run would start at the checkpoint. The trainer's log
  history, restored from the checkpoint, is replayed at train begin instead, so that the curves
  cover the whole run exactly once, as if it had never been interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers.integrations import DVCLiveCallback


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
        self._log_at(state.global_step, args, state, control, logs or {}, **kwargs)

    def _log_at(self, step: int, args: Any, state: Any, control: Any, logs: dict[str, Any], **kwargs: Any) -> None:
        if state.is_world_process_zero and self.live is not None:
            self.live.step = step
        super().on_log(args, state, control, logs=logs, **kwargs)
