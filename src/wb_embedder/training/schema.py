"""The ``finetune:`` section of params.yaml.

Only pydantic here: ``wb_embedder.config`` imports this module, and every stage loads the config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wb_embedder.schema import StrictSection as _Section
from wb_embedder.triplets.schema import TaskName

# mnrl: in-batch-negative InfoNCE (MultipleNegativesRankingLoss); cached_mnrl: its GradCache
# variant; triplet: sentence-transformers' TripletLoss on each row's explicit negatives.
GroupLoss = Literal["mnrl", "cached_mnrl", "triplet"]
SUPERVISED_GROUPS = ("retrieval", "classification", "pairwise")


class LoraSection(_Section):
    """LoRA adapters (``mode: lora``), passed to ``peft.LoraConfig``."""

    r: int = Field(gt=0)
    alpha: int = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    # Module names as peft matches them (suffixes): BERT "query"/"value", Llama "q_proj"...
    target_modules: list[str] = Field(min_length=1)
    # Adapters in the last N transformer layers only (null: every layer). The layers below then
    # have nothing to train, so the backward pass stops above them: much faster on CPU.
    top_layers: int | None = Field(default=..., gt=0)


class TripletSection(_Section):
    """sentence-transformers' TripletLoss (a group's loss ``triplet``): per row and negative,
    max(d(anchor, positive) - d(anchor, negative) + margin, 0)."""

    distance: Literal["cosine", "euclidean", "manhattan"]
    margin: float = Field(gt=0)


class LossSection(_Section):
    """One loss per task group. The InfoNCE losses (mnrl, cached_mnrl) mask, for tasks with a label
    column (classification), in-batch candidates that could share the anchor's label; ``triplet``
    has no in-batch candidates (each row's own negatives only)."""

    retrieval: GroupLoss
    classification: GroupLoss
    pairwise: GroupLoss
    # SimCSE's group (finetune.simcse): its pairs are a text and itself, so no triplet.
    simcse: GroupLoss
    # Similarity scale (1 / temperature).
    scale: float = Field(gt=0)
    # cached_mnrl (GradCache): rows embedded per forward pass; memory stays that of this batch.
    mini_batch_size: int = Field(gt=0)
    # Under DDP, score each anchor against the candidates of every process (more negatives).
    gather_across_devices: bool
    # Matryoshka: also train truncated embeddings of these sizes; [] switches the wrapper off.
    matryoshka_dims: list[int]
    # Labelled (classification) tasks: mask every in-batch candidate that may share the anchor's
    # label (false: plain MNRL, same-label texts of other rows count as negatives).
    label_aware: bool
    triplet: TripletSection

    @model_validator(mode="after")
    def _dims_are_valid(self) -> LossSection:
        if any(d <= 0 for d in self.matryoshka_dims) or len(set(self.matryoshka_dims)) != len(self.matryoshka_dims):
            raise ValueError("loss.matryoshka_dims must be distinct positive sizes")
        if self.simcse == "triplet":
            raise ValueError(
                "loss.simcse: triplet needs explicit negatives, and SimCSE's pairs (a text and itself) have none; "
                "use mnrl or cached_mnrl"
            )
        return self


class SimcseSection(_Section):
    """SimCSE (sentence-transformers' recipe): each unsupervised sample (triplets.unsupervised) as
    the pair (text, text), the loss ``loss.simcse`` over the batch, dropout the only difference
    between the two embeddings of a text."""

    # none | mixed: its batches spread evenly among the supervised ones | first_phase: all of them
    # before the supervised ones (domain adaptation). One run either way: one optimizer, one
    # learning-rate schedule over every step, one checkpoint stream.
    arrangement: Literal["none", "mixed", "first_phase"]
    # Its optimizer steps, on top of max_steps (the supervised steps stay max_steps).
    steps: int = Field(gt=0)
    # The model.prompts task whose query prompt both embeddings of a text get (the same prompt on
    # both sides: the prompt must not be the difference between them).
    prompts: TaskName


class CheckpointSection(_Section):
    save_steps: int = Field(gt=0)
    # Checkpoints kept on disk while training (the oldest are deleted).
    keep: int = Field(ge=1)
    # After a successful run: keep the last checkpoint (a rerun with the same fingerprint then
    # exports at once) or delete them all (the folder kept between runs stays small).
    keep_after_success: bool


class DistributedSection(_Section):
    """Data-parallel training. ``torchrun`` re-executes the stage under torch.distributed.run."""

    launcher: Literal["none", "torchrun"]
    nproc: int = Field(ge=1)
    backend: Literal["gloo", "nccl"]

    @model_validator(mode="after")
    def _nproc_needs_launcher(self) -> DistributedSection:
        if self.nproc > 1 and self.launcher == "none":
            raise ValueError("distributed.nproc > 1 needs distributed.launcher: torchrun")
        return self


class FinetuneConfig(_Section):
    # lora: train low-rank adapters only (fast on CPU); full: every weight.
    mode: Literal["lora", "full"]
    # full mode: keep the (huge, multilingual) word-embedding matrix fixed.
    freeze_word_embeddings: bool
    # lora mode: fold the adapters into the weights for export (a standalone model folder);
    # false writes the adapter only, which loads on top of the base model's absolute path.
    merge_lora: bool
    lora: LoraSection
    loss: LossSection
    # Global batch (all processes together); split evenly across processes under DDP.
    batch_size: int = Field(gt=0)
    # no_duplicates: no text twice in a batch of an unlabelled task (a duplicate would be a false
    # negative); labelled tasks always batch at random (their loss masks same-label texts).
    batch_sampler: Literal["batch_sampler", "no_duplicates"]
    # Every batch comes from one task; round_robin alternates tasks, proportional draws by size.
    # pooled: every task's rows in one dataset, batches mixing tasks (what a plain script does);
    # it needs prompts: none, loss.label_aware: false and one loss for every group.
    multi_dataset_sampler: Literal["round_robin", "proportional", "pooled"]
    # Each row's negatives (data/triplets' negative_ columns) in the loss; false keeps (anchor,
    # positive) only, the other rows' positives in the batch being the negatives.
    use_negatives: bool
    # per_task: each task's model.prompts on its query / document side, in training and when the
    # fine-tuned model is scored; none: no prompt in either.
    prompts: Literal["per_task", "none"]
    # Drop each task's last partial batch. Needed under DDP with gathered negatives (equal shapes
    # on every process); otherwise false keeps tasks smaller than one batch in training.
    drop_last: bool
    epochs: float = Field(gt=0)
    # Stop after this many optimizer steps (null: run all epochs).
    max_steps: int | None = Field(default=..., gt=0)
    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_ratio: float = Field(ge=0, lt=1)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"]
    max_grad_norm: float = Field(gt=0)
    precision: Literal["fp32", "bf16", "fp16"]
    # Ampere+ GPUs: TF32 matmuls (ignored on CPU).
    tf32: bool
    gradient_checkpointing: bool
    # cpu, or auto (cuda when present).
    device: Literal["cpu", "auto"]
    # torch deterministic algorithms + seeded everything: same params -> same weights.
    full_determinism: bool
    dataloader_workers: int = Field(ge=0)
    logging_steps: int = Field(gt=0)
    checkpoint: CheckpointSection
    distributed: DistributedSection
    simcse: SimcseSection

    @model_validator(mode="after")
    def _consistent(self) -> FinetuneConfig:
        if self.mode == "lora" and self.freeze_word_embeddings:
            raise ValueError("freeze_word_embeddings applies to mode: full (LoRA freezes every base weight)")
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("precision fp16 needs a GPU (device: auto); use bf16 or fp32 on CPU")
        if self.tf32 and self.device == "cpu":
            raise ValueError("tf32 is a GPU setting; set device: auto")
        if self.batch_size % self.distributed.nproc:
            raise ValueError(
                f"batch_size ({self.batch_size}) must divide evenly across distributed.nproc ({self.distributed.nproc})"
            )
        if self.distributed.nproc > 1 and not self.drop_last:
            raise ValueError("drop_last must be true with distributed.nproc > 1 (processes need equal batch slices)")
        if self.multi_dataset_sampler == "pooled":
            if self.prompts != "none" or self.loss.label_aware:
                raise ValueError(
                    "multi_dataset_sampler: pooled mixes tasks in one dataset, so it needs prompts: none and "
                    "loss.label_aware: false (per-task prompts and labels mean nothing across tasks)"
                )
            if len({self.loss.retrieval, self.loss.classification, self.loss.pairwise}) != 1:
                raise ValueError("multi_dataset_sampler: pooled trains one dataset with one loss: give every group the same loss")
        if not self.use_negatives and (groups := [g for g in SUPERVISED_GROUPS if getattr(self.loss, g) == "triplet"]):
            raise ValueError(
                f"loss.{groups[0]}: triplet needs each row's explicit negatives, but use_negatives is false; "
                "use mnrl or cached_mnrl, or set use_negatives: true"
            )
        if self.simcse.arrangement != "none" and self.max_steps is None:
            raise ValueError(
                f"simcse.arrangement {self.simcse.arrangement} needs max_steps (the supervised steps; "
                "simcse.steps come on top of them)"
            )
        uses_cache = "cached_mnrl" in self.group_losses().values()
        if uses_cache and self.loss.mini_batch_size > self.batch_size // self.distributed.nproc:
            raise ValueError("loss.mini_batch_size is larger than the per-process batch; it would cache nothing")
        return self

    @property
    def simcse_on(self) -> bool:
        return self.simcse.arrangement != "none"

    def group_losses(self) -> dict[str, str]:
        """The loss of each group that trains (SimCSE's only when it is on)."""
        groups = [*SUPERVISED_GROUPS, *(["simcse"] if self.simcse_on else [])]
        return {group: getattr(self.loss, group) for group in groups}

    def total_steps(self) -> int | None:
        """The run's optimizer steps: max_steps, and SimCSE's on top when it is on."""
        if self.max_steps is None:
            return None
        return self.max_steps + (self.simcse.steps if self.simcse_on else 0)

    def fingerprint_view(self) -> dict:
        """The settings that change what training computes; checkpoint, logging and worker
        settings do not, so changing them keeps existing checkpoints valid."""
        return self.model_dump(exclude={"checkpoint", "logging_steps", "dataloader_workers"})
