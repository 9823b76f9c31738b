"""An epoch's per-step records, kept as the steps' own tensors and reduced in chunks.

Each training step leaves records behind: its per-task label weights and loss sums (the
epoch's loss statistics), which task losses were finite (the NaN guard), the weights
the loss weighting applied and the loss it reports. Added one small tensor operation at
a time, they cost a few microseconds of dispatch each on a CPU, a tenth of a step of a
small network. :class:`StepRecords` keeps the steps' detached tensors instead (no copy,
no graph) and reduces them every ``chunk`` steps and at the epoch's end, a handful of
operations for all of them; nothing is synchronised with the host.
"""

from __future__ import annotations

import torch

from .weighting import WeightingModule

__all__ = ["StepRecords"]

_STEPS_PER_CHUNK = 64
"""Steps kept before they are reduced: a few vectors of ``n_tasks`` values each."""


class StepRecords:
    """Per-step records of one epoch, reduced in chunks on the records' device.

    Parameters
    ----------
    stats : torch.Tensor of shape (n_tasks, N_STATS)
        The epoch's statistics (see :mod:`sklearn_mtl._losses`): the label weights and
        weighted loss sums go to its first two columns.
    weighting : WeightingModule, optional
        The loss weighting of a training epoch, whose applied weights are recorded
        (:meth:`WeightingModule.record_steps`); None for a validation epoch.
    chunk : int, optional
        Steps kept before they are reduced.

    Attributes
    ----------
    loss_sum : torch.Tensor
        Sum over the batches reduced so far of the reported loss times the batch's rows.
    finite_steps : torch.Tensor of int64, shape (n_tasks,)
        Steps (so far) where each task's loss was finite or the task had no label.
    n_steps : int
        Steps whose losses were checked (a step per loss evaluation: LBFGS evaluates a
        batch several times).
    """

    def __init__(
        self,
        stats: torch.Tensor,
        weighting: WeightingModule | None = None,
        chunk: int = _STEPS_PER_CHUNK,
    ):
        self.stats = stats
        self.weighting = weighting
        self.chunk = chunk
        device = stats.device
        self.loss_sum = torch.zeros((), device=device)
        self.finite_steps = torch.zeros(stats.shape[0], dtype=torch.long, device=device)
        self.n_steps = 0
        # a weighting that overrides ``record`` is told each step as it happens
        self.per_step = weighting is not None and (
            type(weighting).record is not WeightingModule.record
        )
        self._sums: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._losses: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._applied: list[tuple[torch.Tensor | None, torch.Tensor]] = []
        self._reported: list[torch.Tensor] = []
        self._rows: list[int] = []

    def add_sums(self, weight_sums: torch.Tensor, numerators: torch.Tensor) -> None:
        """A batch's per-task label weights and weighted loss sums (statistics)."""
        self._sums.append((_detached(weight_sums), _detached(numerators)))
        if len(self._sums) >= self.chunk:
            self._reduce_sums()

    def add_step(
        self,
        losses: torch.Tensor,
        present: torch.Tensor,
        weights: torch.Tensor | None,
    ) -> None:
        """A step's per-task losses (finite or not) and the weights it applied.

        ``weights`` None: the step was skipped (an fp16 overflow), nothing applied.
        """
        self._losses.append((_detached(losses), present))
        if weights is not None:
            if self.per_step:
                assert self.weighting is not None
                self.weighting.record(weights, present)
            else:
                constant = self.weighting is not None and weights is self.weighting.base_weights
                self._applied.append((None if constant else _detached(weights), present))
        if len(self._losses) >= self.chunk:
            self._reduce_steps()

    def add_loss(self, loss: torch.Tensor, rows: int) -> None:
        """A batch's reported loss and its number of rows (the epoch's mean loss)."""
        self._reported.append(_detached(loss))
        self._rows.append(rows)
        if len(self._reported) >= self.chunk:
            self._reduce_losses()

    def flush(self) -> None:
        """Reduce every record kept (the epoch's end)."""
        self._reduce_sums()
        self._reduce_steps()
        self._reduce_losses()

    # -- reductions ----------------------------------------------------------------
    @torch.no_grad()
    def _reduce_sums(self) -> None:
        if not self._sums:
            return
        weight_sums, numerators = (torch.stack(column) for column in zip(*self._sums, strict=True))
        self._sums.clear()
        self.stats[:, :2] += torch.stack([weight_sums.sum(0), numerators.sum(0)], dim=1)

    @torch.no_grad()
    def _reduce_steps(self) -> None:
        if self._losses:
            losses, present = (torch.stack(column) for column in zip(*self._losses, strict=True))
            self.n_steps += len(self._losses)
            self._losses.clear()
            self.finite_steps += (torch.isfinite(losses) | ~present).sum(0)
        if self._applied:
            assert self.weighting is not None
            constant = [present for weights, present in self._applied if weights is None]
            varying = [(w, present) for w, present in self._applied if w is not None]
            self._applied.clear()
            if constant:
                self.weighting.record_steps(None, torch.stack(constant))
            if varying:
                weights, present = (torch.stack(column) for column in zip(*varying, strict=True))
                self.weighting.record_steps(weights, present)

    @torch.no_grad()
    def _reduce_losses(self) -> None:
        if not self._reported:
            return
        losses = torch.stack(self._reported).float()
        rows = torch.tensor(self._rows, dtype=losses.dtype).to(losses.device, non_blocking=True)
        self._reported.clear()
        self._rows.clear()
        self.loss_sum += (losses * rows).sum()


def _detached(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor.detach()``, or the tensor itself when no gradient flows to it (a
    detach is a tensor operation of its own, a few microseconds on a CPU)."""
    return tensor.detach() if tensor.requires_grad else tensor
