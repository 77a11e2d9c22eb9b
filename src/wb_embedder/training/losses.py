"""Losses per task group: in-batch-negative InfoNCE (MNRL), its GradCache variant, a label-aware
variant for labelled (classification) data, sentence-transformers' TripletLoss on each row's own
negatives, and the optional Matryoshka wrapper.

Label safety. In a classification batch, row j's positive carries row j's label, and row j's hard
negatives carry some *other* label (gen_triplets guarantees a negative never has its anchor's
label) that the data does not record. For anchor i, an in-batch candidate is therefore
- row j's positive: a false negative when label_j == label_i -> masked;
- row j's negative: of unknown label, possibly label_i, when label_j != label_i -> masked; when
  label_j == label_i it has a label other than label_i -> kept (a true negative).
Anchor i's own positive and negatives are always kept. So no text that may share the anchor's label
is ever scored as a negative, whatever the batch composition, and no rows are thrown away (a
one-row-per-label sampler would cap a binary task's batches at two rows). The mask is applied as
-inf logits, so masked candidates leave the softmax entirely.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from wb_embedder.training.compat import (
    CachedMultipleNegativesRankingLoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    TripletDistanceMetric,
    TripletLoss,
    all_gather,
    all_gather_with_grad,
    distributed_initialized,
    embedding_dimension,
    get_rank,
)
from wb_embedder.training.data import TaskData
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import LossSection


def label_unsafe_mask(local_labels: Tensor, world_labels: Tensor, local_rows: Tensor, doc_columns: int) -> Tensor:
    """True where a candidate may share the anchor's label: (anchors, doc_columns * world rows),
    column blocks ordered positive, negative_1, ... as the losses concatenate them."""
    same = local_labels[:, None] == world_labels[None, :]
    own = torch.zeros_like(same)
    own[torch.arange(len(local_rows), device=same.device), local_rows] = True
    positives = same & ~own
    negatives = ~same & ~own
    return torch.cat([positives] + [negatives] * (doc_columns - 1), dim=1)


def _masked_infonce(
    queries: Tensor, docs_all: Tensor, rows: Tensor, mask: Tensor, scale: float, similarity: Any
) -> Tensor:
    """Per-anchor InfoNCE over the unmasked candidates; ``rows`` index each anchor's positive."""
    scores = similarity(queries, docs_all) * scale
    scores = scores.masked_fill(mask, float("-inf"))
    positive = scores[torch.arange(len(rows), device=scores.device), rows]
    return torch.logsumexp(scores, dim=1) - positive


def _gather(
    queries: Tensor, docs: list[Tensor], labels: Tensor, enabled: bool
) -> tuple[Tensor, list[Tensor], Tensor, int]:
    if not enabled:
        return queries, docs, labels, 0
    offset = get_rank() * queries.size(0)
    return all_gather_with_grad(queries), [all_gather_with_grad(d) for d in docs], all_gather(labels), offset


class LabelAwareMNRL(MultipleNegativesRankingLoss):
    """MNRL whose in-batch candidates never include a text that may share the anchor's label
    (see the module docstring). Without labels it is plain MNRL."""

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        if labels is None:
            return super().compute_loss_from_embeddings(embeddings, labels)
        queries, docs = embeddings[0], embeddings[1:]
        batch = queries.size(0)
        queries_w, docs_w, labels_w, offset = _gather(queries, docs, labels, self.gather_across_devices)
        rows = torch.arange(offset, offset + batch, device=queries.device)
        mask = label_unsafe_mask(labels, labels_w, rows, len(docs_w))
        per_anchor = _masked_infonce(queries_w[rows], torch.cat(docs_w), rows, mask, self.scale, self.similarity_fct)
        return per_anchor.mean()


class CachedLabelAwareMNRL(CachedMultipleNegativesRankingLoss):
    """GradCache version of :class:`LabelAwareMNRL`: large batches at the memory of a mini-batch."""

    _batch_labels: Tensor | None = None

    def forward(self, sentence_features: Any, labels: Tensor | None) -> Tensor:
        # sentence-transformers 5.x calls calculate_loss without the labels (and from a backward
        # hook, after forward has returned): keep this batch's labels at hand until the next one.
        self._batch_labels = labels
        return super().forward(sentence_features, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        labels = labels if labels is not None else self._batch_labels
        if labels is None:
            return super().calculate_loss(reps, labels, with_backward=with_backward)
        queries, docs = torch.cat(reps[0]), [torch.cat(r) for r in reps[1:]]
        batch = queries.size(0)
        queries_w, docs_w, labels_w, offset = _gather(queries, docs, labels, self.gather_across_devices)
        docs_all = torch.cat(docs_w)
        rows = torch.arange(offset, offset + batch, device=queries.device)
        losses = []
        # Chunk the score matrix like the parent does, so its memory stays O(mini_batch x candidates).
        for begin in range(0, batch, self.mini_batch_size):
            chunk = rows[begin : begin + self.mini_batch_size]
            mask = label_unsafe_mask(labels[begin : begin + self.mini_batch_size], labels_w, chunk, len(docs_w))
            per_anchor = _masked_infonce(queries_w[chunk], docs_all, chunk, mask, self.scale, self.similarity_fct)
            loss = per_anchor.sum() / batch
            if with_backward:
                loss.backward()
                loss = loss.detach()
            losses.append(loss)
        return sum(losses)


def gathers(cfg: LossSection) -> bool:
    """Whether the losses gather in-batch candidates across processes. Only where there is
    something to gather from: in a single process the library would return the local batch and
    warn that gathering is on without torch.distributed."""
    return cfg.gather_across_devices and distributed_initialized()


TRIPLET_DISTANCES = {
    "cosine": TripletDistanceMetric.COSINE,
    "euclidean": TripletDistanceMetric.EUCLIDEAN,
    "manhattan": TripletDistanceMetric.MANHATTAN,
}


def build_loss(model: nn.Module, task: TaskData, cfg: LossSection) -> nn.Module:
    """The loss for one task: its group's choice, label-aware when the task carries labels (and
    ``loss.label_aware`` is on)."""
    kind = getattr(cfg, task.group)
    common = {"scale": cfg.scale, "gather_across_devices": gathers(cfg)}
    label_aware = task.labelled and cfg.label_aware
    if kind == "triplet":
        if task.negatives != 1:
            # The params schema refuses triplet without negatives (use_negatives: false, SimCSE);
            # triplet files without negative columns land here. k negatives are k rows by now
            # (data.one_negative_per_row).
            raise FinetuneError(
                f"finetune.loss.{task.group}: triplet needs one explicit negative per row, and task {task.name!r} "
                f"has {task.negatives} negative columns; use mnrl or cached_mnrl for this group"
            )
        loss = TripletLoss(model, distance_metric=TRIPLET_DISTANCES[cfg.triplet.distance], triplet_margin=cfg.triplet.margin)
    elif kind == "cached_mnrl":
        cls = CachedLabelAwareMNRL if label_aware else CachedMultipleNegativesRankingLoss
        loss = cls(model, mini_batch_size=cfg.mini_batch_size, **common)
    else:
        cls = LabelAwareMNRL if label_aware else MultipleNegativesRankingLoss
        loss = cls(model, **common)
    if cfg.matryoshka_dims:
        dim = embedding_dimension(model)
        if dim is not None and max(cfg.matryoshka_dims) > dim:
            raise FinetuneError(
                f"finetune.loss.matryoshka_dims {cfg.matryoshka_dims} exceed the model's embedding size {dim}"
            )
        loss = MatryoshkaLoss(model, loss, cfg.matryoshka_dims)
    return loss
