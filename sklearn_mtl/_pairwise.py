"""A running mean of task-by-task matrices, kept on the device: the affinity accumulator.

Both task affinities, the gradient cosines of ``record_task_affinity``
(:class:`~sklearn_mtl._relationship.GradientAffinity`) and TAG's lookahead affinity
(:class:`~sklearn_mtl.diagnostics.LookaheadAffinity`), average one
``(n_tasks, n_tasks)`` matrix per sampled batch over the pairs of tasks that both had
labels in it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["PairwiseMean"]


class PairwiseMean:
    """Sum and count of matrices per pair of tasks, on the matrices' device.

    No host synchronisation until :meth:`mean`. The running sums are never pickled (a
    CUDA tensor would not unpickle on a machine without a GPU).
    """

    def __init__(self) -> None:
        self.sum: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def __getstate__(self) -> dict:
        return {"sum": None, "count": None}

    def add(self, matrix: torch.Tensor, valid: torch.Tensor) -> None:
        """Add ``matrix[i, j]`` for the pairs where ``valid[i]`` and ``valid[j]``."""
        pair = (valid[:, None] & valid[None, :]).to(matrix.dtype)
        if self.sum is None or self.count is None or self.sum.device != matrix.device:
            self.sum = torch.zeros_like(matrix)
            self.count = torch.zeros_like(matrix)
        self.sum += torch.where(pair > 0, matrix, torch.zeros_like(matrix))
        self.count += pair

    def mean(self, n_tasks: int) -> np.ndarray:
        """The mean matrix (float64; NaN for pairs never seen together)."""
        if self.sum is None or self.count is None:
            return np.full((n_tasks, n_tasks), np.nan)
        mean = (self.sum / self.count.clamp(min=1)).cpu().numpy().astype(np.float64)
        mean[self.count.cpu().numpy() == 0] = np.nan
        return mean

    def reset(self) -> None:
        """Start a new mean (the buffers are kept)."""
        if self.sum is not None and self.count is not None:
            self.sum.zero_()
            self.count.zero_()
