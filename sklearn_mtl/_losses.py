"""The multi-task criterion: masked per-task losses and on-device running scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .weighting import WeightingModule

# Columns of the per-task statistics accumulated during an epoch.
_WEIGHT, _LOSS, _HIT_OR_SUM, _SQUARES, _ERRORS = range(5)
N_STATS = 5


@dataclass(frozen=True)
class TaskLossSpec:
    """Where a task's outputs and targets are, and which loss applies.

    Attributes
    ----------
    name : str
        Task name, the key of the module's output.
    kind : str
        Task kind: MSE for regression, BCE for binary and multilabel, cross-entropy
        for multiclass.
    start, stop : int
        The task's columns in the encoded target matrix.
    """

    name: str
    kind: str
    start: int
    stop: int


def _elementwise_loss(kind: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "regression":
        return (output - target) ** 2
    if kind == "multiclass":
        return F.cross_entropy(output, target[:, 0].long(), reduction="none")[:, None]
    return F.binary_cross_entropy_with_logits(output, target, reduction="none")


def _hits(kind: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "multiclass":
        return (output.argmax(dim=1, keepdim=True) == target.long()).to(output.dtype)
    return ((output > 0) == (target > 0.5)).to(output.dtype)


class MultiTaskLoss(nn.Module):
    """skorch criterion: one masked, sample-weighted mean loss per task.

    Parameters
    ----------
    specs : sequence of TaskLossSpec
        One entry per task, in task order.
    weighting : WeightingModule
        Turns the per-task losses into a training step; its fixed ``base_weights``
        also weigh the validation loss.
    """

    def __init__(self, specs: Sequence[TaskLossSpec], weighting: WeightingModule):
        super().__init__()
        self.specs = list(specs)
        self.weighting = weighting

    def task_losses(
        self,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
        stats: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task masked mean losses of a batch.

        Parameters
        ----------
        outputs : dict of str to Tensor
            The module's raw outputs.
        targets : Tensor of shape (batch, n_targets)
            Encoded targets, NaN where the label is missing.
        sample_weight : Tensor of shape (batch,), optional
            Row weights applied in every task's loss.
        stats : Tensor of shape (n_tasks, N_STATS), optional
            When given, the batch's loss and score statistics are added to it in place
            (without gradient and without host synchronisation).

        Returns
        -------
        losses : Tensor of shape (n_tasks,)
            The masked mean loss of each task; 0 for a task without label in the batch.
        present : Tensor of bool, shape (n_tasks,)
            Whether each task had a labelled row (of positive weight) in the batch.
        """
        losses, weight_sums = [], []
        for index, spec in enumerate(self.specs):
            target = targets[:, spec.start : spec.stop]
            output = outputs[spec.name].to(targets.dtype)
            labelled = ~torch.isnan(target)
            target = torch.where(labelled, target, torch.zeros_like(target))
            weight = labelled.to(target.dtype)
            if sample_weight is not None:
                weight = weight * sample_weight[:, None]
            weight_sum = weight.sum()
            elementwise = _elementwise_loss(spec.kind, output, target)
            loss = (elementwise * weight).sum() / weight_sum.clamp(min=1e-12)
            losses.append(loss)
            weight_sums.append(weight_sum)
            if stats is not None:
                self._accumulate(stats[index], spec.kind, output, target, weight, loss)
        weight_total = torch.stack(weight_sums)
        return torch.stack(losses), weight_total > 0

    @torch.no_grad()
    def _accumulate(
        self,
        row: torch.Tensor,
        kind: str,
        output: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        loss: torch.Tensor,
    ) -> None:
        weight_sum = weight.sum()
        row[_WEIGHT] += weight_sum
        row[_LOSS] += loss.detach() * weight_sum
        if kind == "regression":
            row[_HIT_OR_SUM] += (weight * target).sum()
            row[_SQUARES] += (weight * target**2).sum()
            row[_ERRORS] += (weight * (output - target) ** 2).sum()
        else:
            row[_HIT_OR_SUM] += (weight * _hits(kind, output, target)).sum()

    def forward(
        self,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sum of the per-task losses weighted by the fixed task weights."""
        losses, present = self.task_losses(outputs, targets, sample_weight)
        return (self.weighting.base_weights * losses * present).sum()


def scores_from_stats(kinds: Sequence[str], stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-task mean loss and default score from accumulated statistics.

    Scores are R² for regression (computed on standardised targets, which leaves R²
    unchanged), accuracy for binary and multiclass, 1 - Hamming loss for multilabel;
    NaN for a task without labels.
    """
    weight = stats[:, _WEIGHT]
    with np.errstate(divide="ignore", invalid="ignore"):
        losses = np.where(weight > 0, stats[:, _LOSS] / weight, np.nan)
        scores = np.where(weight > 0, stats[:, _HIT_OR_SUM] / weight, np.nan)
        for index, kind in enumerate(kinds):
            if kind != "regression" or weight[index] <= 0:
                continue
            total = stats[index, _SQUARES] - stats[index, _HIT_OR_SUM] ** 2 / weight[index]
            errors = stats[index, _ERRORS]
            if total <= 1e-12 * max(weight[index], 1.0):
                scores[index] = 1.0 if errors <= 1e-12 * max(weight[index], 1.0) else 0.0
            else:
                scores[index] = 1.0 - errors / total
    return losses, scores
