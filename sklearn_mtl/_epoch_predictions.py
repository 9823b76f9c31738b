"""One epoch's batch predictions and targets, reduced to the running scores' statistics.

:class:`EpochPredictions` keeps (few target columns) or reduces batch by batch (many) the
predictions the running scores count, for the net's per-epoch history
(:mod:`sklearn_mtl._losses` holds the losses that read them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._losses import MultiTaskLoss, TaskLossSpec

__all__ = ["STREAM_COLUMNS", "EpochPredictions"]

STREAM_COLUMNS = 32
"""From this many target columns, an epoch's batches are reduced to score statistics as
they come, instead of being kept and reduced at the epoch's end: the kept copies,
``(rows, columns)`` each, then cost more (memory, fresh pages to map) than the few
reductions per batch."""


class EpochPredictions:
    """One epoch's batch predictions and targets, reduced to score statistics.

    The running scores count each kind's ``running_prediction`` (a class index, 0/1,
    or the regression output): per target column, the hits (classification), or the
    sums of y, of y² and of squared errors (regression, for R²). With few target
    columns the batches' predictions and targets are copied into two ``(n_rows,
    n_targets)`` buffers allocated at the epoch's start and reduced at its end, a chunk
    of rows at a time, instead of with several small operations per batch; with many
    (``STREAM_COLUMNS``) each batch is reduced as it comes.

    The buffers, rather than the batches' own tensors kept alive: a kept output or
    target batch of each step, allocated among the step's large temporaries, splits the
    memory they would reuse at the next step, so the allocator takes fresh pages every
    step (at 10 tasks, a median of about 1,900 page faults in a fit of 79 batches
    against about 200 with the buffers), and ``torch.cat`` of the kept batches at the
    end took two more ``(rows, columns)`` copies.

    Parameters
    ----------
    n_rows, n_targets : int
        Upper bound of the epoch's rows, and the number of target columns.
    device : torch.device
        Where the buffers live (the batches' device).
    weighted : bool
        Whether the batches carry row weights.
    stream : bool, optional
        Reduce each batch as it comes; None chooses by ``n_targets``.
    """

    def __init__(
        self,
        n_rows: int,
        n_targets: int,
        device: torch.device,
        weighted: bool,
        stream: bool | None = None,
    ):
        self.stream = n_targets >= STREAM_COLUMNS if stream is None else stream
        self.n_rows = n_rows
        if self.stream:
            self.sums = torch.zeros(4, n_targets, device=device)  # in grouped column order
        else:  # kept rows: predictions in grouped column order, targets
            self._predictions = torch.empty(n_rows, n_targets, device=device)
            self._targets = torch.empty(n_rows, n_targets, device=device)
        self._column_order: torch.Tensor | None = None  # when not in order
        self._dtype = torch.get_default_dtype()
        self._device = device
        self.n_targets = n_targets
        self.weights = torch.empty(n_rows, device=device) if weighted else None
        self.raw: dict[str, torch.Tensor] = {}  # raw outputs of the host-scored tasks
        self.raw_targets: dict[str, torch.Tensor] = {}  # and their targets
        self.count = 0
        self._kinds: list[tuple[int, slice | torch.Tensor]] | None = None

    def _kind_columns(self, loss: MultiTaskLoss) -> list[tuple[int, slice | torch.Tensor]]:
        """(0: hits or 1: R² moments, the columns they serve), in the buffers' order."""
        if self._kinds is None:
            regression = [
                spec.handler.running_r2
                for spec in loss.specs
                for _ in range(spec.stop - spec.start)
            ]
            if self.stream and not loss.columns_in_order:
                regression = [regression[j] for j in loss.column_order.tolist()]
            device = loss.column_order.device
            self._kinds = [
                (first, index)
                for first, wanted in ((0, False), (1, True))
                if (index := _columns_index(regression, wanted, device)) is not None
            ]
        return self._kinds

    @torch.no_grad()
    def add(
        self,
        loss: MultiTaskLoss,
        outputs: dict[str, torch.Tensor],
        targets: torch.Tensor,
        sample_weight: torch.Tensor | None,
    ) -> None:
        """Keep, or reduce, a batch's predictions (one call per loss group), targets and
        row weights."""
        rows = slice(self.count, self.count + len(targets))
        pieces = [
            group.handler.running_prediction(output)
            for group, output in zip(loss.groups, loss.group_outputs(outputs), strict=True)
        ]
        block = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
        weights = sample_weight if self.weights is not None else None
        if self.stream:
            block = block.to(self.sums.dtype)
            _add_sums(self.sums, block, loss.grouped(targets), weights, self._kind_columns(loss))
        else:  # copied into the epoch's buffers (no_grad: no graph is kept)
            self._predictions[rows] = block
            self._targets[rows] = targets
            if not loss.columns_in_order:
                self._column_order = loss.column_order
        for spec in loss.scored_specs:
            output = outputs[spec.name]
            if spec.name not in self.raw:
                self.raw[spec.name] = output.new_empty(self.n_rows, output.shape[1])
                self.raw_targets[spec.name] = targets.new_empty(self.n_rows, spec.stop - spec.start)
            self.raw[spec.name][rows] = output
            self.raw_targets[spec.name][rows] = targets[:, spec.start : spec.stop]
        if weights is not None:
            self.weights[rows] = weights  # type: ignore[index]
        self.count = rows.stop

    @property
    def predictions(self) -> torch.Tensor:
        """The kept batches' predictions, ``(count, n_targets)`` in column order."""
        return self._rows(0, self.count)[0]

    @property
    def targets(self) -> torch.Tensor:
        """The kept batches' targets, ``(count, n_targets)``."""
        return self._rows(0, self.count)[1]

    def _rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept predictions (in column order) and targets of rows ``start:stop``."""
        if self.stream:
            raise AttributeError("A streamed EpochPredictions keeps no batch.")
        stop = min(stop, self.count)
        blocks, targets = self._predictions[start:stop], self._targets[start:stop]
        if self._column_order is not None:  # back from the grouped order
            ordered = torch.empty_like(blocks)
            ordered[:, self._column_order] = blocks
            blocks = ordered
        return blocks, targets

    def host_scores(self, specs: Sequence[TaskLossSpec]) -> dict[int, float]:
        """The epoch's score of each task with a ``scorer``, by task index."""
        if not self.raw:
            return {}
        count = self.count
        weights = None if self.weights is None else self.weights[:count].cpu().numpy()
        scores = {}
        for index, spec in enumerate(specs):
            if spec.scorer is not None and spec.name in self.raw:
                raw = self.raw[spec.name][:count].float().cpu().numpy()
                targets = self.raw_targets[spec.name][:count].cpu().numpy()
                scores[index] = spec.scorer(raw, targets, weights)
        return scores

    @torch.no_grad()
    def statistics(self, loss: MultiTaskLoss, chunk_rows: int | None = None) -> torch.Tensor:
        """Per task: accuracy hits or the sum of y, then the sums of y² and squared errors.

        Kept predictions are reduced over chunks of ``chunk_rows`` rows (by default
        about 2**18 values: temporaries of a MB, whatever the number of tasks).
        """
        if self.stream:
            per_column = self.sums
            if not loss.columns_in_order:  # back from the grouped order
                per_column = torch.empty_like(per_column)
                per_column[:, loss.column_order] = self.sums
        else:
            n_columns = self.n_targets
            per_column = torch.zeros(4, n_columns, dtype=self._dtype, device=self._device)
            kinds = self._kind_columns(loss)
            step = chunk_rows or max(1, (1 << 18) // max(1, n_columns))
            for start in range(0, self.count, step):
                stop = min(start + step, self.count)
                predictions, targets = self._rows(start, stop)
                weights = None if self.weights is None else self.weights[start:stop]
                _add_sums(per_column, predictions, targets, weights, kinds)
        hit_sums, sums, squares, errors = (loss._per_task(row) for row in per_column)
        regression = loss.is_regression
        zero = hit_sums.new_zeros(())
        return torch.stack(
            [
                torch.where(regression, sums, hit_sums),
                torch.where(regression, squares, zero),
                torch.where(regression, errors, zero),
            ],
            dim=1,
        )


def _add_sums(
    sums: torch.Tensor,
    predictions: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None,
    kinds: list[tuple[int, slice | torch.Tensor]],
) -> None:
    """Add a block of rows' per-column hits, sums of y and y², and squared errors to
    ``sums`` (4, columns), each over the columns of the kinds it serves only, with
    ``nansum`` skipping the missing labels (NaN targets)."""
    row_weights = None if weights is None else weights[:, None]
    for first, index in kinds:
        every = isinstance(index, slice) and index == slice(None)  # no view, no scatter
        predicted, target = (
            (predictions, targets) if every else (predictions[:, index], targets[:, index])
        )
        if first == 0:  # hits: a missing label (NaN) equals no prediction
            hits = (predicted == target).to(target.dtype)
            hit_sums = (hits if row_weights is None else hits * row_weights).sum(0)
            if every:
                sums[0].add_(hit_sums)
            else:
                sums[0, index] += hit_sums
            continue
        squared = (predicted - target).square_()
        square = target * target
        if row_weights is not None:
            squared, square, target = (
                squared * row_weights,
                square * row_weights,
                target * row_weights,
            )
        # a NaN or infinite prediction, labelled or not, makes the error NaN
        poisoned = predicted.sum(dim=0) * 0.0
        moments = torch.stack(
            [target.nansum(dim=0), square.nansum(dim=0), squared.nansum(dim=0) + poisoned]
        )
        if every:
            sums[1:].add_(moments)
        else:
            sums[1:, index] += moments


def _columns_index(
    regression: list[bool], wanted: bool, device: torch.device
) -> slice | torch.Tensor | None:
    """Index of the columns whose flag is ``wanted``: a slice (a view, no gather) for
    every column, None for none."""
    if all(flag == wanted for flag in regression):
        return slice(None)
    if not any(flag == wanted for flag in regression):
        return None
    found = [j for j, flag in enumerate(regression) if flag == wanted]
    return torch.tensor(found, device=device)
