"""The multi-task criterion: masked per-task losses and on-device running scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from ._epoch_predictions import STREAM_COLUMNS as STREAM_COLUMNS
from ._epoch_predictions import EpochPredictions as EpochPredictions
from ._kinds import KIND_CLASSES, TargetKind
from .tasks import Task
from .weighting import WeightingModule

if TYPE_CHECKING:
    from ._relationship import Relationship
    from ._step_records import StepRecords

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
        Task kind (a name of ``KIND_CLASSES``).
    start, stop : int
        The task's columns in the encoded target matrix.
    target_kind : TargetKind, optional
        The task's kind object (its loss and running predictions); by default the
        kind's own for a task of that name without options.
    class_weight : tuple of float, optional
        Weight of each class index in the task's loss (multiplied with row weights).
    scorer : callable, optional
        ``scorer(raw_outputs, targets, row_weight) -> float`` for a task whose metric
        is not the running score of its kind: the epoch's score is then computed from
        its kept raw outputs on the host.
    """

    name: str
    kind: str
    start: int
    stop: int
    target_kind: TargetKind | None = field(default=None, compare=False)
    class_weight: tuple[float, ...] | None = None
    scorer: Callable | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.target_kind is None:
            default = KIND_CLASSES[self.kind](Task(self.name, self.kind))
            object.__setattr__(self, "target_kind", default)

    @property
    def handler(self) -> TargetKind:
        """The kind object (never None after construction)."""
        assert self.target_kind is not None
        return self.target_kind


@dataclass(frozen=True)
class LossGroup:
    """Tasks whose loss is evaluated in one call: tasks with one
    :meth:`~sklearn_mtl._kinds.TargetKind.loss_group_key`, or one task alone.

    Attributes
    ----------
    names : tuple of str
        The tasks, in task order.
    handler : TargetKind
        The kind object of the first task (its ``running_prediction`` serves all).
    loss : callable
        The first task's loss ``(output, target, reduction)`` (the same for all).
    masked : bool
        Whether the loss takes the targets with their missing labels (a callable).
    start, stop : int
        The group's columns in the criterion's grouped column order.
    """

    names: tuple[str, ...]
    handler: TargetKind
    loss: Callable
    masked: bool
    start: int
    stop: int


def group_losses(
    specs: Sequence[TaskLossSpec], losses: Sequence[Callable]
) -> tuple[list[LossGroup], list[int]]:
    """The loss groups of ``specs`` (with their ``losses``) and the target columns in
    grouped order.

    Examples
    --------
    >>> specs = [TaskLossSpec("a", "regression", 0, 1), TaskLossSpec("c", "multiclass", 1, 2),
    ...          TaskLossSpec("b", "regression", 2, 3)]
    >>> groups, columns = group_losses(specs, [spec.handler.loss() for spec in specs])
    >>> [g.names for g in groups], columns
    ([('a', 'b'), ('c',)], [0, 2, 1])
    """
    members: dict[object, list[int]] = {}
    for index, spec in enumerate(specs):
        key = spec.handler.loss_group_key()
        members.setdefault(("own", index) if key is None else key, []).append(index)
    groups: list[LossGroup] = []
    columns: list[int] = []
    for indices in members.values():
        start = len(columns)
        for index in indices:
            columns.extend(range(specs[index].start, specs[index].stop))
        first, loss = specs[indices[0]], losses[indices[0]]
        names = tuple(specs[index].name for index in indices)
        masked = bool(getattr(loss, "masked", False))
        groups.append(LossGroup(names, first.handler, loss, masked, start, len(columns)))
    return groups, columns


class MultiTaskLoss(nn.Module):
    """skorch criterion: one masked, sample-weighted mean loss per task.

    The net never calls it as a function (skorch's ``get_loss`` is not used): the
    training and validation steps call :meth:`task_losses` and hand the per-task losses
    to the loss weighting.

    Parameters
    ----------
    specs : sequence of TaskLossSpec
        One entry per task, in task order.
    weighting : WeightingModule
        Turns the per-task losses into a training step; its fixed ``base_weights``
        also weigh the validation loss.
    plugins : torch.nn.ModuleDict, optional
        The relationship tools of the fit by name
        (:class:`~sklearn_mtl._relationship.Relationship`: gradient affinity, MTRL,
        lookahead affinity), called by the training step; in the module tree, so that
        their state is saved, moved and pickled with the criterion's.
    """

    column_task: torch.Tensor
    is_regression: torch.Tensor
    columns_per_task: torch.Tensor
    all_present: torch.Tensor
    column_order: torch.Tensor
    grouped_column_task: torch.Tensor

    def __init__(
        self,
        specs: Sequence[TaskLossSpec],
        weighting: WeightingModule,
        plugins: nn.ModuleDict | None = None,
    ):
        super().__init__()
        self.specs = list(specs)
        self.weighting = weighting
        self.plugins = plugins if plugins is not None else nn.ModuleDict()
        # The batch is handled as one (batch, n_targets) block; these map the target
        # columns back to their tasks (non-persistent: rebuilt from the specs).
        column_task = [
            index for index, spec in enumerate(self.specs) for _ in range(spec.stop - spec.start)
        ]
        self.one_column_per_task = len(column_task) == len(self.specs)
        self.register_buffer("column_task", torch.tensor(column_task), persistent=False)
        self.losses = [spec.handler.loss() for spec in self.specs]
        self.masked = [getattr(loss, "masked", False) for loss in self.losses]
        # Class weights: one lookup table per class-weighted task, indexed by the class.
        self.class_weighted: list[tuple[int, str]] = []
        for index, spec in enumerate(self.specs):
            if spec.class_weight is not None:
                name = f"class_weight_{index}"
                table = torch.tensor(spec.class_weight, dtype=torch.float32)
                self.register_buffer(name, table, persistent=False)
                self.class_weighted.append((spec.start, name))
        is_regression = [spec.handler.running_r2 for spec in self.specs]
        self.register_buffer("is_regression", torch.tensor(is_regression), persistent=False)
        widths = [float(spec.stop - spec.start) for spec in self.specs]
        self.register_buffer("columns_per_task", torch.tensor(widths), persistent=False)
        self.register_buffer(
            "all_present", torch.ones(len(self.specs), dtype=torch.bool), persistent=False
        )
        # Losses are evaluated per group (one call for the tasks of one group key), on
        # the target columns reordered so that each group's columns are contiguous.
        self.groups, order = group_losses(self.specs, self.losses)
        self.scored_specs = [spec for spec in self.specs if spec.scorer is not None]
        self.columns_in_order = order == sorted(order)
        self.register_buffer("column_order", torch.tensor(order), persistent=False)
        self.register_buffer(
            "grouped_column_task", torch.tensor(column_task)[order], persistent=False
        )
        # Set by the net for an epoch over data without a missing label: task_losses
        # then takes plain mean losses (the same values with fewer operations).
        self.complete_labels = False

    def summed_buffers(self) -> list[torch.Tensor]:
        """The buffers that are per-process sums over an epoch (the weighting's record of
        applied weights, the affinities' epoch sums): summed over the processes of a
        distributed fit at the end of each epoch, not broadcast."""
        tensors = self.weighting.summed_buffers()
        for plugin in self.relationships():
            tensors += plugin.summed_buffers()
        return tensors

    def relationships(self) -> list[Relationship]:
        """The relationship plugins, in order (see :mod:`sklearn_mtl._relationship`)."""
        return [cast("Relationship", plugin) for plugin in self.plugins.values()]

    def task_losses(
        self,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
        stats: torch.Tensor | None = None,
        records: StepRecords | None = None,
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
        records : StepRecords, optional
            When given, the batch's label weights and loss sums are kept there, to be
            added to the epoch's statistics with those of other batches.

        Returns
        -------
        losses : Tensor of shape (n_tasks,)
            The masked mean loss of each task; 0 for a task without label in the batch.
        present : Tensor of bool, shape (n_tasks,)
            Whether each task had a labelled row (of positive weight) in the batch.
        """
        if sample_weight is None and self.complete_labels and not self.class_weighted:
            return self._complete_task_losses(outputs, targets, stats, records)
        # a float mask: products and sums with a bool one take slower mixed-type kernels
        weight = (~torch.isnan(targets)).to(targets.dtype)
        if sample_weight is not None:
            weight = weight * sample_weight[:, None]
        clean = torch.nan_to_num(targets, nan=0.0)
        for column, name in self.class_weighted:
            table = getattr(self, name).to(weight.dtype)
            weight[:, column] = weight[:, column] * table[clean[:, column].long()]
        elementwise = self._elementwise_losses(outputs, clean, targets)
        numerators = self._per_task_grouped((elementwise * self.grouped(weight)).sum(dim=0))
        weight_sums = self._per_task(weight.sum(dim=0))
        if stats is not None:
            _add_loss_sums(stats, weight_sums, numerators)
        if records is not None:
            records.add_sums(weight_sums, numerators)
        return numerators / weight_sums.clamp(min=1e-12), weight_sums > 0

    def _complete_task_losses(
        self,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        stats: torch.Tensor | None,
        records: StepRecords | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``task_losses`` for a batch with every label present and no row weights."""
        elementwise = self._elementwise_losses(outputs, targets)
        losses = self._per_task_grouped(elementwise.mean(dim=0)) / self.columns_per_task
        if stats is not None or records is not None:
            counts = self.columns_per_task * len(targets)
            if stats is not None:
                _add_loss_sums(stats, counts, losses * counts)
            if records is not None:
                records.add_sums(counts, losses.detach() * counts)
        return losses, self.all_present

    def grouped(self, columns: torch.Tensor) -> torch.Tensor:
        """Per-column values (the last dimension) in grouped order (see :func:`group_losses`)."""
        return columns if self.columns_in_order else columns[..., self.column_order]

    def group_outputs(self, outputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Each group's outputs side by side, in group order (a view of the fused heads'
        output where the group's tasks are consecutive columns of it)."""
        located = getattr(outputs, "columns", None)
        grouped = []
        for group in self.groups:
            names = group.names
            if len(names) == 1:
                grouped.append(outputs[names[0]])
                continue
            block = located(names) if located is not None else None
            grouped.append(
                block if block is not None else torch.cat([outputs[n] for n in names], dim=1)
            )
        return grouped

    def _elementwise_losses(
        self,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        with_nan: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-element losses ``(batch, n_targets)`` in grouped column order, one loss
        call per group; a masked loss (a user's callable) gets ``with_nan``, the targets
        with their missing labels, when given."""
        targets = self.grouped(targets)
        if with_nan is not None and any(group.masked for group in self.groups):
            with_nan = self.grouped(with_nan)
        else:
            with_nan = None
        pieces = []
        for group, output in zip(self.groups, self.group_outputs(outputs), strict=True):
            source = with_nan if group.masked and with_nan is not None else targets
            whole = group.start == 0 and group.stop == source.shape[1]  # no view needed
            target = source if whole else source[:, group.start : group.stop]
            pieces.append(group.loss(output.to(targets.dtype), target, "none"))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)

    def _per_task_grouped(self, per_column: torch.Tensor) -> torch.Tensor:
        """Sum per-column values, in grouped column order, into per-task values."""
        if self.one_column_per_task and self.columns_in_order:
            return per_column
        zeros = per_column.new_zeros(len(self.specs))
        return zeros.index_add(0, self.grouped_column_task, per_column)

    def _per_task(self, per_column: torch.Tensor) -> torch.Tensor:
        """Sum per-column values into per-task values (multilabel tasks span columns)."""
        if self.one_column_per_task:
            return per_column
        zeros = per_column.new_zeros(len(self.specs))
        return zeros.index_add(0, self.column_task, per_column)


@torch.no_grad()
def _add_loss_sums(
    stats: torch.Tensor, weight_sums: torch.Tensor, numerators: torch.Tensor
) -> None:
    """Add a batch's per-task label weights and weighted loss sums (no host sync)."""
    stats[:, _WEIGHT : _LOSS + 1] += torch.stack([weight_sums, numerators.detach()], dim=1)


def scores_from_stats(
    running_r2: Sequence[bool], stats: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-task mean loss and default score from accumulated statistics.

    Scores are R² for regression (computed on standardised targets, which leaves R²
    unchanged), accuracy for binary and multiclass, 1 - Hamming loss for multilabel;
    NaN for a task without labels.
    """
    weight = stats[:, _WEIGHT]
    with np.errstate(divide="ignore", invalid="ignore"):
        losses = np.where(weight > 0, stats[:, _LOSS] / weight, np.nan)
        scores = np.where(weight > 0, stats[:, _HIT_OR_SUM] / weight, np.nan)
        for index, is_r2 in enumerate(running_r2):
            if not is_r2 or weight[index] <= 0:
                continue
            total = stats[index, _SQUARES] - stats[index, _HIT_OR_SUM] ** 2 / weight[index]
            errors = stats[index, _ERRORS]
            if total <= 1e-12 * max(weight[index], 1.0):
                scores[index] = 1.0 if errors <= 1e-12 * max(weight[index], 1.0) else 0.0
            else:
                scores[index] = 1.0 - errors / total
    return losses, scores
