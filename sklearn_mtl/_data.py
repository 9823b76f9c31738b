"""Training data as tensors built once, served as batches by slicing (no Dataset, no collate)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def rows_as_tensor(X: np.ndarray | sp.csr_matrix | torch.Tensor, index: torch.Tensor | slice):
    """Rows of X as a dense float32 tensor (a sparse X is densified batch by batch)."""
    if isinstance(X, torch.Tensor):
        return X[index]
    if isinstance(index, torch.Tensor):
        index = index.numpy()
    rows = X[index]
    if sp.issparse(rows):
        rows = rows.toarray()
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


@dataclass
class TaskData:
    """X, the encoded targets and the sample weights of a training or validation set.

    Attributes
    ----------
    X : Tensor, ndarray or scipy CSR matrix of shape (n_samples, n_features)
        float32 features; a tensor when dense, so that batches are views or gathers.
    targets : Tensor of shape (n_samples, n_targets)
        Encoded float32 targets, NaN where a label is missing.
    sample_weight : Tensor of shape (n_samples,) or None
        Row weights.
    """

    X: torch.Tensor | sp.csr_matrix
    targets: torch.Tensor
    sample_weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def subset(self, index: np.ndarray) -> TaskData:
        """The rows at ``index`` (a copy)."""
        rows = torch.from_numpy(np.asarray(index, dtype=np.int64))
        X = self.X[rows] if isinstance(self.X, torch.Tensor) else self.X[index]
        weight = None if self.sample_weight is None else self.sample_weight[rows]
        return TaskData(X, self.targets[rows], weight)

    def to(self, device: torch.device) -> TaskData:
        """Copy the dense tensors to ``device`` (a sparse X stays on the host)."""
        X = self.X.to(device) if isinstance(self.X, torch.Tensor) else self.X
        weight = None if self.sample_weight is None else self.sample_weight.to(device)
        return TaskData(X, self.targets.to(device), weight)

    @property
    def nbytes(self) -> int:
        size = self.targets.numel() * 4
        if isinstance(self.X, torch.Tensor):
            size += self.X.numel() * self.X.element_size()
        return size


@dataclass
class SplitData:
    """The training set and the (optional) validation set of one fit."""

    train: TaskData
    valid: TaskData | None


def batch_bounds(n_samples: int, batch_size: int) -> list[tuple[int, int]]:
    """Start and stop of each batch; a final batch of a single row joins the previous one.

    A one-row batch breaks batch normalisation in training mode and gives a noisy step.

    Examples
    --------
    >>> batch_bounds(5, 2)
    [(0, 2), (2, 5)]
    """
    bounds = [(start, min(start + batch_size, n_samples)) for start in range(0, n_samples, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


class BatchIterator:
    """Batches of a :class:`TaskData`, by slicing tensors, moved to ``device``.

    Parameters
    ----------
    data : TaskData
        What to iterate over.
    batch_size : int
        Rows per batch.
    shuffle : bool
        Draw a new permutation of the rows each epoch (each ``iter``).
    generator : torch.Generator, optional
        Source of the permutations (seeded by the estimator's ``random_state``).
    device : torch.device
        Where batches go; host-to-device copies are non-blocking.
    """

    def __init__(
        self,
        data: TaskData,
        batch_size: int,
        *,
        shuffle: bool,
        device: torch.device,
        generator: torch.Generator | None = None,
    ):
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device
        self.generator = generator
        self._bounds = batch_bounds(len(data), batch_size)

    def __len__(self) -> int:
        return len(self._bounds)

    def __iter__(self) -> Iterator[Batch]:
        data = self.data
        order = None
        if self.shuffle:
            order = torch.randperm(len(data), generator=self.generator)
            if data.targets.device != order.device and isinstance(data.X, torch.Tensor):
                order = order.to(data.targets.device)
        non_blocking = self.device.type == "cuda"
        for start, stop in self._bounds:
            index: torch.Tensor | slice = slice(start, stop) if order is None else order[start:stop]
            X = rows_as_tensor(data.X, index if isinstance(data.X, torch.Tensor) else _cpu(index))
            targets = data.targets[index]
            weight = None if data.sample_weight is None else data.sample_weight[index]
            if non_blocking:
                X = X.to(self.device, non_blocking=True)
                targets = targets.to(self.device, non_blocking=True)
                weight = None if weight is None else weight.to(self.device, non_blocking=True)
            yield X, targets, weight


def _cpu(index: torch.Tensor | slice) -> torch.Tensor | slice:
    return index.cpu() if isinstance(index, torch.Tensor) else index
