"""Resumable checkpoints, valid only for the exact params and data that wrote them.

The checkpoint folder (kept between runs, but no DVC output: dvc.yaml's finetune stage says why)
holds ``fingerprint.json`` next to the trainer's ``checkpoint-<step>/`` folders. The fingerprint
hashes everything that changes what training computes: the finetune section (less
checkpoint/logging knobs), the model section (base, revision, max length, prompts), the seed,
the triplet files, the base model's files and the code (:func:`code_identity`).
A run whose fingerprint differs wipes the folder and starts fresh; one that matches resumes from
the last complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from wb_embedder.io import read_json, tree_digest, write_json

logger = logging.getLogger(__name__)

FINGERPRINT = "fingerprint.json"
# Names the checkpoint a run finished with (kept when checkpoint.keep_after_success is true).
COMPLETED = "completed.json"
CHECKPOINT_PREFIX = "checkpoint-"
# The trainer writes this file last: a checkpoint folder without it was cut off mid-save.
TRAINER_STATE = "trainer_state.json"


# The libraries whose versions decide what a training step computes.
TRAINING_LIBRARIES = ("torch", "transformers", "sentence-transformers", "peft", "accelerate", "datasets")


def code_identity(package_root: Path | None = None) -> dict[str, str]:
    """The code that trains: a digest of the package's Python sources (``wb_embedder`` unless
    ``package_root`` names another) and the training libraries' versions.

    DVC reruns finetune when its code changes, but the checkpoint folder outlives the change:
    without this part of the fingerprint, a killed run would resume (and with
    ``keep_after_success`` a finished one would export) what the old code trained. The whole
    package is hashed, not only what training imports: an unrelated edit costs a resume, never
    a wrong model."""
    from importlib.metadata import version

    if package_root is None:
        import wb_embedder

        package_root = Path(wb_embedder.__file__).parent
    # sources only: compiled files come and go
    return {"source": tree_digest(package_root, "*.py"), **{name: version(name) for name in TRAINING_LIBRARIES}}


def fingerprint(parts: dict[str, Any]) -> str:
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _state_is_complete(path: Path) -> bool:
    # The trainer writes its state last; a save killed while writing it leaves the file empty or
    # cut short, and resuming from it would crash on the JSON.
    try:
        json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def complete_checkpoints(folder: Path) -> list[Path]:
    found = []
    for path in folder.glob(f"{CHECKPOINT_PREFIX}*"):
        suffix = path.name[len(CHECKPOINT_PREFIX) :]
        if path.is_dir() and suffix.isdigit() and _state_is_complete(path):
            found.append(path)
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def prepare_checkpoint_dir(folder: Path, digest: str, parts: dict[str, Any]) -> Path | None:
    """Make ``folder`` hold checkpoints for ``digest`` only; return the checkpoint to resume from.

    Call on the main process only (others call :func:`resume_point` after it has finished)."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / FINGERPRINT
    previous = read_json(marker).get("digest") if marker.is_file() else None
    if previous != digest:
        stale = [p for p in folder.iterdir() if p.name != FINGERPRINT]
        if stale:
            logger.warning(
                "checkpoints in %s were written for other params or data (fingerprint %s, now %s): "
                "discarding %d entries and starting fresh",
                folder,
                (previous or "none")[:12],
                digest[:12],
                len(stale),
            )
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        write_json({"digest": digest, "parts": parts}, marker)
    return resume_point(folder)


def resume_point(folder: Path) -> Path | None:
    checkpoints = complete_checkpoints(folder)
    return checkpoints[-1] if checkpoints else None


def completed_checkpoint(folder: Path) -> Path | None:
    """The final checkpoint of a finished run with this folder's fingerprint, if it was kept."""
    marker = folder / COMPLETED
    if not marker.is_file():
        return None
    path = folder / read_json(marker)["checkpoint"]
    return path if path in complete_checkpoints(folder) else None


def finish(folder: Path, keep_last: bool) -> None:
    """After a successful run: drop every checkpoint, or all but the last (then recorded as the
    finished run, so that a rerun with the same fingerprint exports it without training)."""
    checkpoints = complete_checkpoints(folder)
    doomed = checkpoints[:-1] if keep_last else checkpoints
    if keep_last and checkpoints:
        write_json({"checkpoint": checkpoints[-1].name}, folder / COMPLETED)
    else:
        (folder / COMPLETED).unlink(missing_ok=True)
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    # Half-written folders from a killed save are never resumable.
    for path in folder.glob(f"{CHECKPOINT_PREFIX}*"):
        if path not in checkpoints:
            shutil.rmtree(path, ignore_errors=True)
