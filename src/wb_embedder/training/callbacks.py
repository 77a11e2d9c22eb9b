"""Training curves for DVC: loss, learning rate and throughput per logged step, through DVCLive.

After a resume the trainer's restored log history (saved in each checkpoint) is replayed first,
so the curves cover the whole run exactly once, as if it had never been interrupted.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

# Keys of a trainer log entry -> DVCLive metric names.
CURVES = {
    "loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "samples_per_second": "train/samples_per_second",
}
THROUGHPUT = "samples_per_second"


class LiveCallback(TrainerCallback):
    """Write ``<dir>/plots/metrics/train/*.tsv`` and ``<dir>/metrics.json`` (main process only)."""

    def __init__(self, live_dir: Path, global_batch_size: int) -> None:
        self.live_dir = Path(live_dir)
        self.global_batch_size = global_batch_size
        self.live: Any = None
        self._last_time: float | None = None
        self._last_step = 0
        self._session_start: float | None = None
        self._session_first_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from dvclive import Live

        # dvcyaml=None: the pipeline's dvc.yaml declares the plots; DVCLive must not rewrite it.
        self.live = Live(dir=str(self.live_dir), save_dvc_exp=False, dvcyaml=None, resume=False)
        for entry in state.log_history:
            self._write(entry, entry["step"])
        self._last_step = self._session_first_step = state.global_step
        if state.global_step:
            logger.info(
                "resumed at step %d: replayed %d logged steps into %s",
                state.global_step,
                len(state.log_history),
                self.live_dir,
            )

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # Start the clock at the first step, not at train begin: model placement and the first
        # data-loader fetch are not training throughput.
        if self._last_time is None:
            self._last_time = self._session_start = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs or "loss" not in logs or self._last_time is None:
            return
        now = time.perf_counter()
        steps = state.global_step - self._last_step
        if steps > 0 and now > self._last_time:
            rate = steps * self.global_batch_size / (now - self._last_time)
            # Stored in the trainer's history too, so it is checkpointed and replayed on resume.
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1][THROUGHPUT] = rate
            logs = {**logs, THROUGHPUT: rate}
        self._last_time, self._last_step = now, state.global_step
        if self.live is not None:
            self._write(logs, state.global_step)

    def _write(self, entry: dict[str, Any], step: int) -> None:
        values = {name: entry[key] for key, name in CURVES.items() if isinstance(entry.get(key), (int, float))}
        if not values:
            return
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, float(value))
        self.live.make_summary()

    def session_throughput(self, global_step: int) -> float:
        """Rows per second over this process's training steps (0 when none ran)."""
        if self._session_start is None or global_step <= self._session_first_step:
            return 0.0
        elapsed = time.perf_counter() - self._session_start
        return (global_step - self._session_first_step) * self.global_batch_size / elapsed if elapsed > 0 else 0.0

    def finish(self, summary: dict[str, Any]) -> None:
        """Record the run summary in metrics.json and close DVCLive."""
        if self.live is None:
            return
        for key, value in summary.items():
            if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
                self.live.summary[key] = value
        self.live.end()
        self.live = None
