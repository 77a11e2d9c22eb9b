"""The finetune entry point: datasets and losses per task, one SentenceTransformerTrainer, resume,
curves, and an atomic export of a model folder that loads from any working directory."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wb_embedder.io import atomic_dir, tree_digest, write_json
from wb_embedder.training import checkpoints
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import FinetuneConfig

if TYPE_CHECKING:
    from wb_embedder.config import ModelConfig

logger = logging.getLogger(__name__)

SUMMARY = "finetune_summary.json"


def _is_timing(key: str) -> bool:
    return "runtime" in key or "per_second" in key or key == "resumed_from_step"


def _step_log(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-step entries of the trainer's log, which the checkpoints carry over: what a resumed,
    an uninterrupted and a re-exported finished run agree on. The closing entry is left out: it
    reports one session (after a resume, the loss of the steps since the checkpoint only), and a
    finished run exported again from its checkpoint has none."""
    return [{k: v for k, v in entry.items() if not _is_timing(k)} for entry in log_history if "loss" in entry]


def _mean_logged_loss(log_history: list[dict[str, Any]]) -> float:
    """The run's training loss: the mean of every logged loss, the same after a resume."""
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return sum(losses) / len(losses) if losses else float("nan")


@dataclass(frozen=True)
class FinetunePaths:
    base: Path  # the base sentence-transformers folder
    triplets: Path  # gen_triplets output: manifest.json + <task>.parquet
    out: Path  # the exported model folder
    checkpoints: Path  # kept between runs on this machine; no DVC output (dvc.yaml, stage finetune)
    live: Path  # DVCLive folder: curves, params.yaml and metrics.json


def training_arguments(
    cfg: FinetuneConfig, seed: int, output_dir: Path, prompts: dict[str, dict[str, str]] | None
) -> Any:
    """Map the params section onto the trainer's arguments (creating them sets up torch.distributed
    when launched by torchrun); ``prompts`` None trains without any."""
    from wb_embedder.training.compat import SentenceTransformerTrainingArguments, checkpointing_kwargs, warmup_kwargs
    from wb_embedder.training.samplers import no_duplicates_unless_labelled, random_batches

    distributed = cfg.distributed.launcher != "none"
    total_steps = cfg.total_steps()
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        # The loader draws the global batch from one task; split_batches hands each process an
        # equal slice of that same batch, so all processes see one task per step (one loss, the
        # same collective calls) and the step count does not depend on the process count.
        per_device_train_batch_size=cfg.batch_size,
        accelerator_config={"split_batches": True},
        num_train_epochs=cfg.epochs,
        max_steps=total_steps if total_steps is not None else -1,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        **warmup_kwargs(cfg.warmup_ratio),
        lr_scheduler_type=cfg.lr_scheduler,
        max_grad_norm=cfg.max_grad_norm,
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        tf32=True if cfg.tf32 else None,
        **checkpointing_kwargs(cfg.gradient_checkpointing),
        use_cpu=cfg.device == "cpu",
        seed=seed,
        data_seed=seed,
        full_determinism=cfg.full_determinism,
        dataloader_num_workers=cfg.dataloader_workers,
        dataloader_drop_last=cfg.drop_last,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.checkpoint.save_steps,
        save_total_limit=cfg.checkpoint.keep,
        report_to="none",  # curves go through the DVCLive callback build_trainer passes (its own Live)
        batch_sampler=no_duplicates_unless_labelled if cfg.batch_sampler == "no_duplicates" else random_batches,
        multi_dataset_batch_sampler=multi_dataset_sampler(cfg),
        prompts=prompts,
        ddp_backend=cfg.distributed.backend if distributed else None,
        ddp_find_unused_parameters=False,
    )


def multi_dataset_sampler(cfg: FinetuneConfig) -> Any:
    """How the trainer picks each batch's dataset: the library's round-robin or proportional
    sampler; with SimCSE on, that sampler inside :class:`~wb_embedder.training.samplers.SimcseSchedule`,
    which puts SimCSE's steps among (or before) its batches."""
    from functools import partial

    from wb_embedder.training.compat import MultiDatasetBatchSamplers, ProportionalBatchSampler, RoundRobinBatchSampler
    from wb_embedder.training.samplers import SimcseSchedule

    round_robin = cfg.multi_dataset_sampler == "round_robin"
    if not cfg.simcse_on:
        return MultiDatasetBatchSamplers.ROUND_ROBIN if round_robin else MultiDatasetBatchSamplers.PROPORTIONAL
    return partial(
        SimcseSchedule,
        supervised_sampler=RoundRobinBatchSampler if round_robin else ProportionalBatchSampler,
        supervised=cfg.max_steps,
        simcse=cfg.simcse.steps,
        first_phase=cfg.simcse.arrangement == "first_phase",
    )


def task_prompts(cfg: FinetuneConfig, model_cfg: ModelConfig) -> dict[str, Any]:
    """model.prompts per task, and SimCSE's when it is on: its prompts task's query prompt on both
    sides (the two embeddings of a text must differ by dropout alone, not by their prompts)."""
    from wb_embedder.training.data import SIMCSE

    prompts: dict[str, Any] = dict(model_cfg.prompts)
    if cfg.simcse_on:
        query = model_cfg.prompts[cfg.simcse.prompts].query
        prompts[SIMCSE] = model_cfg.prompts[cfg.simcse.prompts].model_copy(update={"document": query})
    return prompts


def _fingerprint_parts(
    cfg: FinetuneConfig, model_cfg: ModelConfig, seed: int, paths: FinetunePaths, tasks: list[Any]
) -> dict[str, Any]:
    prompts = task_prompts(cfg, model_cfg)
    return {
        "finetune": cfg.fingerprint_view(),
        "model": {
            "base": model_cfg.base,
            "revision": model_cfg.revision,
            "max_seq_length": model_cfg.max_seq_length,
            "prompts": {t.name: prompts[t.name].model_dump() for t in tasks},
        },
        "seed": seed,
        "triplets": tree_digest(paths.triplets),
        "base_model": tree_digest(paths.base),
        "code": checkpoints.code_identity(),
    }


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _is_overflow(exc: BaseException) -> bool:
    """A learning rate near float32's limit makes Adam's step size itself overflow (the trainer of
    transformers 4.x reaches it at step 2, 5.x trains on to NaN weights): the same divergence."""
    return isinstance(exc, RuntimeError) and "cannot be converted to type float without overflow" in str(exc)


def diverged_message(cfg: FinetuneConfig, what: str) -> str:
    return (
        f"training diverged: {what}; no model exported. Lower finetune.learning_rate (now {cfg.learning_rate}) "
        f"or finetune.max_grad_norm (now {cfg.max_grad_norm})"
    )


def oom_message(cfg: FinetuneConfig, model_cfg: ModelConfig) -> str:
    per_process = cfg.batch_size // cfg.distributed.nproc
    hints = [f"lower finetune.batch_size (now {cfg.batch_size}, {per_process} per process)"]
    if "cached_mnrl" in cfg.group_losses().values():
        hints.append(f"lower finetune.loss.mini_batch_size (now {cfg.loss.mini_batch_size})")
    else:
        hints.append("use loss cached_mnrl with a small finetune.loss.mini_batch_size (same batch, constant memory)")
    if not cfg.gradient_checkpointing:
        hints.append("set finetune.gradient_checkpointing: true")
    if cfg.mode == "full":
        hints.append("use finetune.mode: lora or freeze_word_embeddings: true")
    hints.append(f"lower model.max_seq_length (now {model_cfg.max_seq_length})")
    return "out of memory while training; " + "; or ".join(hints)


@dataclass
class Session:
    """A trainer ready to run, with what the run needs afterwards."""

    trainer: Any
    model: Any
    tasks: list[Any]
    resume: Path | None
    live: Any  # the dvclive.Live of the curves; None off the main process
    counts: dict[str, int]


def build_trainer(
    cfg: FinetuneConfig,
    model_cfg: ModelConfig,
    seed: int,
    paths: FinetunePaths,
    extra_callbacks: list[Any] | None = None,
) -> Session:
    """Datasets, losses, model and trainer exactly as the stage trains (the benchmark reuses it)."""
    from datasets import Dataset
    from transformers import enable_full_determinism, set_seed

    from wb_embedder.base_model import carry_load_kwargs
    from wb_embedder.training.adapt import load_base_model, prepare_model, require_dropout
    from wb_embedder.training.callbacks import GroupLossTrainer, StepCurves, open_live
    from wb_embedder.training.card import card_data
    from wb_embedder.training.data import (
        POOLED,
        column_prompts,
        load_simcse,
        load_tasks,
        one_negative_per_row,
        shape_tasks,
    )
    from wb_embedder.training.losses import build_loss, gathers

    loaded = load_tasks(paths.triplets, model_cfg.prompts)
    # TripletLoss takes one negative: a row with k negatives trains as k triplets.
    loaded = [one_negative_per_row(t) if getattr(cfg.loss, t.group) == "triplet" else t for t in loaded]
    tasks = shape_tasks(loaded, cfg.use_negatives, cfg.multi_dataset_sampler == POOLED)
    if cfg.simcse_on:
        # Last: SimcseSchedule takes the trainer's last dataset for SimCSE's.
        loaded.append(load_simcse(paths.triplets, cfg.simcse.arrangement))
        tasks.append(loaded[-1])
    _check_batches(tasks, cfg)
    prompts = column_prompts(tasks, task_prompts(cfg, model_cfg)) if cfg.prompts == "per_task" else None
    args = training_arguments(cfg, seed, paths.checkpoints, prompts)
    parts = _fingerprint_parts(cfg, model_cfg, seed, paths, loaded)
    digest = checkpoints.fingerprint(parts)
    # The main process validates (or wipes) the folder first; the others then only read it.
    with args.main_process_first(desc="checkpoint fingerprint"):
        if args.process_index == 0:
            resume = checkpoints.prepare_checkpoint_dir(paths.checkpoints, digest, parts)
            if resume is not None:
                # The trainer resumes by loading the checkpoint as a model folder of its own, and
                # sentence-transformers saves none of the load kwargs the base folder records: the
                # rebuilt e5 (add_pooling_layer: false) would come back with a pooler it lacks, and
                # every resume would fail on the pooler's unexpected keys. Done here, not when the
                # checkpoint is saved, so a checkpoint killed before any such fix-up resumes too.
                carry_load_kwargs(paths.base, resume)
        else:
            resume = checkpoints.resume_point(paths.checkpoints)
    if resume is not None:
        logger.info("resuming from %s (fingerprint %s matches)", resume, digest[:12])

    # Seed before the LoRA matrices are initialised, not only when the trainer starts.
    enable_full_determinism(seed) if cfg.full_determinism else set_seed(seed)
    model = load_base_model(
        paths.base, model_cfg.trust_remote_code, model_cfg.max_seq_length, "cpu" if cfg.device == "cpu" else None
    )
    # The trainer's card callback fills this card data; the export writes it as README.md.
    model.model_card_data = card_data(model_cfg.base, model_cfg.revision)
    model.model_card_data.register_model(model)
    counts = prepare_model(model, cfg)
    if cfg.simcse_on:
        # SimCSE's two embeddings of a text differ by dropout alone: without any, it teaches nothing.
        require_dropout(model)
    datasets = {t.name: Dataset.from_pandas(t.frame, preserve_index=False) for t in tasks}
    losses = {t.name: build_loss(model, t, cfg.loss) for t in tasks}
    if gathers(cfg.loss):
        logger.info("in-batch candidates gathered across %d processes", args.world_size)
    live = open_live(paths.live) if args.process_index == 0 else None
    trainer = GroupLossTrainer(
        model=model,
        args=args,
        train_dataset=datasets,
        loss=losses,
        callbacks=[StepCurves(live=live), *(extra_callbacks or [])],
        groups={t.name: t.group for t in tasks},
    )
    return Session(trainer=trainer, model=model, tasks=tasks, resume=resume, live=live, counts=counts)


def _check_batches(tasks: list[Any], cfg: FinetuneConfig) -> None:
    """With drop_last, a task smaller than one batch would silently never train: say so."""
    from wb_embedder.training.data import SIMCSE

    if not cfg.drop_last:
        return
    supervised = [t for t in tasks if t.group != SIMCSE]
    for task in tasks:
        if task.group == SIMCSE and len(task.frame) < cfg.batch_size:
            raise FinetuneError(
                f"finetune.batch_size {cfg.batch_size} is larger than the unsupervised samples ({len(task.frame)} rows): "
                "SimCSE would train no batch (lower batch_size or set drop_last: false)"
            )
    empty = [f"{t.name} ({len(t.frame)} rows)" for t in supervised if len(t.frame) < cfg.batch_size]
    if len(empty) == len(supervised):
        raise FinetuneError(
            f"finetune.batch_size {cfg.batch_size} is larger than every task; no batch to train "
            "(lower batch_size or set drop_last: false)"
        )
    if empty:
        logger.warning("tasks smaller than one batch of %d train nothing: %s", cfg.batch_size, ", ".join(empty))


def run_finetune(cfg: FinetuneConfig, model_cfg: ModelConfig, seed: int, paths: FinetunePaths) -> dict[str, Any]:
    """Train, export ``paths.out`` (main process) and return the run summary."""
    from wb_embedder.base_model import carry_load_kwargs
    from wb_embedder.training.adapt import has_lora, merged_copy
    from wb_embedder.training.card import finish_card
    from wb_embedder.training.data import read_manifest, task_stats

    session = build_trainer(cfg, model_cfg, seed, paths)
    trainer, model, resume = session.trainer, session.model, session.resume
    stats = task_stats(session.tasks)
    logger.info(
        "training on %d tasks, %d rows: %s",
        len(stats),
        sum(s["rows"] for s in stats.values()),
        ", ".join(f"{k}={v['rows']}" for k, v in stats.items()),
    )
    finished = checkpoints.completed_checkpoint(paths.checkpoints)
    if resume is not None and resume == finished:
        metrics = _export_finished(trainer, model, finished)
    else:
        try:
            metrics = trainer.train(resume_from_checkpoint=str(resume) if resume else None).metrics
        except Exception as exc:
            if _is_oom(exc):
                raise FinetuneError(oom_message(cfg, model_cfg)) from None
            if _is_overflow(exc):
                raise FinetuneError(diverged_message(cfg, f"the optimizer's step overflowed float32 ({exc})")) from None
            raise

    state = trainer.state
    summary = {
        "steps": state.global_step,
        "epochs": float(state.epoch or 0.0),
        "train_loss": _mean_logged_loss(state.log_history),
        "runtime_s": float(metrics.get("train_runtime", 0.0)),
        # The trainer's figure counts only the steps this session ran (0 when none did).
        "samples_per_second": float(metrics.get("train_samples_per_second", 0.0)),
        "resumed_from_step": int(resume.name.rsplit("-", 1)[-1]) if resume else 0,
        "trainable_parameters": session.counts["trainable"],
        "total_parameters": session.counts["total"],
    }
    if cfg.simcse_on:
        summary["simcse"] = {"arrangement": cfg.simcse.arrangement, "steps": cfg.simcse.steps}
    # The model folder holds only what the same params reproduce bit for bit (its hash in
    # dvc.lock must not change between identical runs); wall-clock figures go to DVCLive.
    deterministic = {k: v for k, v in summary.items() if not _is_timing(k)}
    if trainer.is_world_process_zero():
        export = model
        if has_lora(model) and cfg.merge_lora:
            export = merged_copy(model, paths.base, model_cfg.trust_remote_code, model_cfg.max_seq_length)
            logger.info("merged the LoRA adapters into the weights for export")
        _check_finite(export, cfg)
        finish_card(
            export.model_card_data,
            finetune=cfg.model_dump(),
            strategy=read_manifest(paths.triplets).get("strategy"),
            log_history=state.log_history,
        )
        with atomic_dir(paths.out) as tmp:
            export.save(str(tmp))
            carry_load_kwargs(paths.base, tmp)
            write_json({**deterministic, "tasks": stats, "log_history": _step_log(state.log_history)}, tmp / SUMMARY)
        _record_summary(session.live, summary)
        checkpoints.finish(paths.checkpoints, cfg.checkpoint.keep_after_success)
        logger.info(
            "wrote %s: %d steps, final loss %.4f, %.1f rows/s",
            paths.out,
            summary["steps"],
            summary["train_loss"],
            summary["samples_per_second"],
        )
    trainer.accelerator.wait_for_everyone()
    return summary


def _check_finite(model: Any, cfg: FinetuneConfig) -> None:
    """Refuse to export NaN or inf weights: a diverged run (a learning rate far too high) trains to
    the end without an error, and its model would only show as garbage scores stages later."""
    import torch

    state = model.state_dict()
    bad = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise FinetuneError(
            diverged_message(
                cfg, f"{len(bad)} of {len(state)} weight tensors are not finite (NaN or inf), e.g. {bad[0]!r}"
            )
        )


def _export_finished(trainer: Any, model: Any, finished: Path) -> dict[str, float]:
    """The finished run's checkpoint, made the trainer's result without training: resumed at its
    last step, ``trainer.train`` would run one step past max_steps. The curves and the card see a
    train begin and end (the log history replayed, the training arguments recorded); the other
    callbacks are left out, as they expect a training loop (an optimizer, a progress bar)."""
    from transformers import TrainerState

    from wb_embedder.training.adapt import restore_weights
    from wb_embedder.training.callbacks import StepCurves
    from wb_embedder.training.compat import ModelCardCallback

    logger.info("%s is the finished run for these params and data: exporting it without training", finished)
    restore_weights(model, finished)
    trainer.state = TrainerState.load_from_json(str(finished / checkpoints.TRAINER_STATE))
    trainer.state.is_world_process_zero = trainer.is_world_process_zero()
    trainer.state.is_local_process_zero = trainer.is_local_process_zero()
    chosen = [c for c in trainer.callback_handler.callbacks if isinstance(c, (StepCurves, ModelCardCallback))]
    for event in ("on_train_begin", "on_train_end"):
        for callback in chosen:
            getattr(callback, event)(trainer.args, trainer.state, trainer.control, model=trainer.model)
    return {}


def _record_summary(live: Any, summary: dict[str, Any]) -> None:
    """The run summary in DVCLive's metrics.json, next to the last logged values (the callback has
    closed the logger at train end; the summary file is written again)."""
    if live is None:
        return
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            live.summary[key] = value
    live.make_summary()
