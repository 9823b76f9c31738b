"""A running mean of task-by-task matrices, kept on the device: the affinity accumulator.

Both task affinities, the gradient cosines of ``record_task_affinity``
(:class:`~sklearn_mtl._relationship.GradientAffinity`) and TAG's lookahead affinity
(:class:`~sklearn_mtl.diagnostics._lookahead.LookaheadAffinityModule`), average one
``(n_tasks, n_tasks)`` matrix per sampled batch over the pairs of tasks that both had
labels in it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["PairwiseMean"]


class PairwiseMean(nn.Module):
    """Sum and count of matrices per pair of tasks, as buffers of a torch module.

    No host synchronisation until :meth:`mean`. The sums are buffers: they move with
    ``.to(device)``, are in ``state_dict`` (saved, checkpointed) and pickle like any
    module state (skorch maps a CUDA criterion to the CPU where there is no GPU).

    Parameters
    ----------
    n_tasks : int
        Side of the matrices.

    Examples
    --------
    >>> import torch
    >>> pairs = PairwiseMean(2)
    >>> pairs.add(torch.ones(2, 2), torch.tensor([True, False]))
    >>> pairs.mean()
    array([[ 1., nan],
           [nan, nan]])
    """

    sum: torch.Tensor
    count: torch.Tensor

    def __init__(self, n_tasks: int) -> None:
        super().__init__()
        self.register_buffer("sum", torch.zeros(n_tasks, n_tasks))
        self.register_buffer("count", torch.zeros(n_tasks, n_tasks))

    def add(self, matrix: torch.Tensor, valid: torch.Tensor) -> None:
        """Add ``matrix[i, j]`` for the pairs where ``valid[i]`` and ``valid[j]``."""
        pair = valid[:, None] & valid[None, :]
        matrix = matrix.detach().to(self.sum.dtype)
        self.sum += torch.where(pair, matrix, torch.zeros_like(matrix))
        self.count += pair.to(self.count.dtype)

    def mean(self) -> np.ndarray:
        """The mean matrix (float64; NaN for pairs never seen together)."""
        count = self.count.detach().cpu().double().numpy()
        total = self.sum.detach().cpu().double().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def reset(self) -> None:
        """Start a new mean (in place: the buffers are kept)."""
        self.sum.zero_()
        self.count.zero_()
