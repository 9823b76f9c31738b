"""An epoch's per-step records, kept as the steps' own tensors and reduced in chunks.

Each training step leaves records behind: its per-task label weights and loss sums (the
epoch's loss statistics), which task losses were finite (the NaN guard), the weights
the loss weighting applied and the loss it reports. Added one small tensor operation at
a time, they cost a few microseconds of dispatch each on a CPU, a tenth of a step of a
small network. :class:`StepRecords` copies them into the rows of buffers of ``chunk``
rows instead (one copy each, no graph) and reduces them every ``chunk`` steps and at
the epoch's end, a handful of operations for all of them; nothing is synchronised with
the host.

Buffers rather than the steps' own tensors kept alive: with many tasks each kept
vector, allocated among the step's large ``(batch, tasks)`` temporaries, split the
memory they would reuse at the next step, so that the allocator mapped fresh pages at
every step (at 1,000 tasks, 20,000 rows and batches of 256: some 30,000 page faults a
fit, against a few hundred with the buffers).
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
        self._sums = (_Rows(chunk), _Rows(chunk))  # label weights, loss sums
        self._losses = (_Rows(chunk), _Rows(chunk))  # losses, present
        self._constant = _Rows(chunk)  # present, where the base weights were applied
        self._varying = (_Rows(chunk), _Rows(chunk))  # other weights applied, present
        self._reported = _Rows(chunk)
        self._rows: list[int] = []

    def add_sums(self, weight_sums: torch.Tensor, numerators: torch.Tensor) -> None:
        """A batch's per-task label weights and weighted loss sums (statistics)."""
        self._sums[0].add(weight_sums)
        self._sums[1].add(numerators)
        if len(self._sums[0]) >= self.chunk:
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
        self._losses[0].add(losses)
        self._losses[1].add(present)
        if weights is not None:
            if self.per_step:
                assert self.weighting is not None
                self.weighting.record(weights, present)
            elif self.weighting is not None and weights is self.weighting.base_weights:
                self._constant.add(present)
            else:
                self._varying[0].add(weights)
                self._varying[1].add(present)
        if len(self._losses[0]) >= self.chunk:
            self._reduce_steps()

    def add_loss(self, loss: torch.Tensor, rows: int) -> None:
        """A batch's reported loss and its number of rows (the epoch's mean loss)."""
        self._reported.add(loss)
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
        if not len(self._sums[0]):
            return
        weight_sums, numerators = (rows.take() for rows in self._sums)
        self.stats[:, :2] += torch.stack([weight_sums.sum(0), numerators.sum(0)], dim=1)

    @torch.no_grad()
    def _reduce_steps(self) -> None:
        if len(self._losses[0]):
            self.n_steps += len(self._losses[0])
            losses, present = (rows.take() for rows in self._losses)
            self.finite_steps += (torch.isfinite(losses) | ~present).sum(0)
        if len(self._constant) or len(self._varying[0]):
            assert self.weighting is not None
            if len(self._constant):
                self.weighting.record_steps(None, self._constant.take())
            if len(self._varying[0]):
                weights, present = (rows.take() for rows in self._varying)
                self.weighting.record_steps(weights, present)

    @torch.no_grad()
    def _reduce_losses(self) -> None:
        if not len(self._reported):
            return
        losses = self._reported.take().float()
        rows = torch.tensor(self._rows, dtype=losses.dtype).to(losses.device, non_blocking=True)
        self._rows.clear()
        self.loss_sum += (losses * rows).sum()


class _Rows:
    """Up to ``size`` tensors of one shape, copied into the rows of one buffer.

    ``take`` returns what ``torch.stack`` of the added tensors returns (the same values,
    shape and dtype) and empties the rows for the next ones. The buffer is allocated at
    the first ``add``, with the shape, dtype and device of that tensor; the copies
    carry no gradient.
    """

    def __init__(self, size: int):
        self.size = size
        self.count = 0
        self.buffer: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.count

    @torch.no_grad()
    def add(self, tensor: torch.Tensor) -> None:
        """Copy ``tensor`` into the next row."""
        if self.buffer is None:
            self.buffer = tensor.new_empty((self.size, *tensor.shape))
        self.buffer[self.count].copy_(tensor)
        self.count += 1

    def take(self) -> torch.Tensor:
        """The rows added since the last ``take``, stacked (a view of the buffer)."""
        assert self.buffer is not None
        rows, self.count = self.buffer[: self.count], 0
        return rows
