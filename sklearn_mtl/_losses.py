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

    column_task: torch.Tensor
    is_regression: torch.Tensor

    def __init__(self, specs: Sequence[TaskLossSpec], weighting: WeightingModule):
        super().__init__()
        self.specs = list(specs)
        self.weighting = weighting
        # The batch is handled as one (batch, n_targets) block; these map the target
        # columns back to their tasks (non-persistent: rebuilt from the specs).
        column_task = [
            index for index, spec in enumerate(self.specs) for _ in range(spec.stop - spec.start)
        ]
        self.one_column_per_task = len(column_task) == len(self.specs)
        self.register_buffer("column_task", torch.tensor(column_task), persistent=False)
        is_regression = [spec.kind == "regression" for spec in self.specs]
        self.register_buffer("is_regression", torch.tensor(is_regression), persistent=False)

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
        weight = (~torch.isnan(targets)).to(targets.dtype)
        if sample_weight is not None:
            weight = weight * sample_weight[:, None]
        clean = torch.nan_to_num(targets, nan=0.0)
        elementwise = torch.cat(
            [
                _elementwise_loss(
                    spec.kind,
                    outputs[spec.name].to(targets.dtype),
                    clean[:, spec.start : spec.stop],
                )
                for spec in self.specs
            ],
            dim=1,
        )
        numerators = self._per_task((elementwise * weight).sum(dim=0))
        weight_sums = self._per_task(weight.sum(dim=0))
        if stats is not None:
            self._accumulate(stats, outputs, clean, weight, numerators, weight_sums)
        return numerators / weight_sums.clamp(min=1e-12), weight_sums > 0

    def _per_task(self, per_column: torch.Tensor) -> torch.Tensor:
        """Sum per-column values into per-task values (multilabel tasks span columns)."""
        if self.one_column_per_task:
            return per_column
        zeros = per_column.new_zeros(len(self.specs))
        return zeros.index_add(0, self.column_task, per_column)

    @torch.no_grad()
    def _accumulate(
        self,
        stats: torch.Tensor,
        outputs: dict[str, torch.Tensor],
        clean: torch.Tensor,
        weight: torch.Tensor,
        numerators: torch.Tensor,
        weight_sums: torch.Tensor,
    ) -> None:
        """Add the batch's statistics: weights, losses, and R² sums or accuracy hits."""
        weighted = weight * clean
        sums = self._per_task(weighted.sum(dim=0))
        squares = self._per_task((weighted * clean).sum(dim=0))
        hits = torch.stack(
            [
                (
                    weight[:, s.start : s.stop]
                    * _hits(s.kind, outputs[s.name], clean[:, s.start : s.stop])
                ).sum()
                if s.kind != "regression"
                else numerators.new_zeros(())
                for s in self.specs
            ]
        )
        regression = self.is_regression
        zero = numerators.new_zeros(())
        stats += torch.stack(
            [
                weight_sums,
                numerators.detach(),  # the weighted loss sum; for regression the squared errors
                torch.where(regression, sums, hits),
                torch.where(regression, squares, zero),
                torch.where(regression, numerators.detach(), zero),
            ],
            dim=1,
        )

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
