"""Training data as tensors built once, served as batches by slicing (no Dataset, no collate)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


_CHECK_ROWS = 65536  # rows per chunk when a streamed X is checked for finite values


def rows_as_tensor(X: Any, index: torch.Tensor | slice):
    """Rows of X as a dense float32 tensor.

    A sparse X is densified batch by batch; a memmap or any other row-sliceable array
    (see :func:`is_row_streamable`) is read batch by batch, converted to float32 one
    batch at a time.
    """
    if isinstance(X, torch.Tensor):
        return _take(X, index)
    where = index.numpy() if isinstance(index, torch.Tensor) else index
    rows: Any = X[where] if isinstance(X, np.ndarray) or sp.issparse(X) else gather_rows(X, where)
    if sp.issparse(rows):
        rows = rows.toarray()
    return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))


def gather_rows(X: Any, index: np.ndarray | slice) -> np.ndarray:
    """``X[index]`` for a row-sliceable X that may only take increasing indices (h5py).

    Indices are sorted before reading (also kinder to a disk), and the rows put back in
    the order asked for.
    """
    if isinstance(index, slice) or isinstance(X, np.ndarray | RowSubset):
        return np.asarray(X[index])
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    rows = np.asarray(X[index[order]])
    restored = np.empty_like(rows)
    restored[order] = rows
    return restored


def is_row_streamable(X: object) -> bool:
    """Whether X is read batch by batch instead of being converted whole.

    True for a ``numpy.memmap`` and for 2-D array-likes that are not numpy arrays,
    pandas objects, sparse matrices, tensors or lists but have ``shape``, ``dtype``
    and row slicing (an ``h5py.Dataset``, a ``zarr.Array``).

    Examples
    --------
    >>> import numpy as np
    >>> is_row_streamable(np.zeros((3, 2)))
    False
    """
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray | list | tuple | torch.Tensor) or sp.issparse(X):
        return False
    if hasattr(X, "iloc"):  # pandas
        return False
    shape = getattr(X, "shape", None)
    return (
        hasattr(X, "dtype")
        and hasattr(X, "__getitem__")
        and isinstance(shape, tuple)
        and len(shape) == 2
    )


def check_streamed_X(X: Any) -> None:
    """Check a streamed X chunk by chunk: 2-D, numeric, at least one row, finite.

    Reads X once, ``_CHECK_ROWS`` rows at a time, without keeping a copy.

    Raises
    ------
    ValueError
        When X is empty, not 2-D, or holds NaN or infinite values.
    TypeError
        When its dtype is not numeric.
    """
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"Expected a 2-D X; got shape {shape}.")
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"X has shape {shape}; at least one row and one feature are needed.")
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"X has dtype {dtype}; a numeric dtype is needed to stream it.")
    if dtype.kind != "f":
        return
    for start in range(0, shape[0], _CHECK_ROWS):
        chunk = np.asarray(X[start : start + _CHECK_ROWS])
        if not np.isfinite(chunk.sum()) and not np.isfinite(chunk).all():
            bad = start + int(np.flatnonzero(~np.isfinite(chunk).all(axis=1))[0])
            raise ValueError(f"X holds NaN or infinite values (first in row {bad}).")


class RowSubset:
    """Some rows of a memory-mapped X, read only when sliced (no copy up front).

    ``fit``, ``predict`` and ``score`` read it batch by batch, as they read a memmap,
    so a cross-validation loop can pass each fold's rows without copying them (see
    :doc:`/user_guide/scaling_and_persistence`).

    Parameters
    ----------
    X : numpy.memmap or ndarray of shape (n_samples, n_features)
        The full array (a memmap, an ndarray, or another ``RowSubset``).
    rows : ndarray of int
        The rows of X that make up the subset, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.model_selection import RowSubset
    >>> subset = RowSubset(np.arange(10.0).reshape(5, 2), np.array([4, 1]))
    >>> subset.shape, subset[1:].tolist()
    ((2, 2), [[2.0, 3.0]])
    """

    X: Any

    def __init__(self, X: Any, rows: np.ndarray):
        if isinstance(X, RowSubset):
            X, rows = X.X, X.rows[np.asarray(rows, dtype=np.int64)]
        self.X = X
        self.rows = np.asarray(rows, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), int(self.X.shape[1]))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.X.dtype)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: np.ndarray | slice) -> np.ndarray:
        return gather_rows(self.X, self.rows[index])


@dataclass
class TaskData:
    """X, the encoded targets and the sample weights of a training or validation set.

    Attributes
    ----------
    X : Tensor, scipy CSR matrix or row-sliceable array of shape (n_samples, n_features)
        float32 features; a tensor when dense and in memory, so that batches are views
        or gathers; a memmap (or another row-sliceable array, :class:`RowSubset` for a
        subset of one) is read one batch at a time.
    targets : Tensor of shape (n_samples, n_targets)
        Encoded float32 targets, NaN where a label is missing.
    sample_weight : Tensor of shape (n_samples,) or None
        Row weights.
    """

    X: Any
    targets: torch.Tensor
    sample_weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    @cached_property
    def complete(self) -> bool:
        """Whether every label is present and rows are unweighted (one pass, then kept)."""
        return self.sample_weight is None and not bool(torch.isnan(self.targets).any())

    def subset(self, index: np.ndarray) -> TaskData:
        """The rows at ``index`` (a copy)."""
        rows = torch.from_numpy(np.asarray(index, dtype=np.int64))
        X: Any
        if isinstance(self.X, torch.Tensor):
            X = self.X[rows]
        elif sp.issparse(self.X):
            X = self.X[index]
        else:
            X = RowSubset(self.X, index)
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
    bounds = [
        (start, min(start + batch_size, n_samples)) for start in range(0, n_samples, batch_size)
    ]
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
    shard : tuple of (int, int), optional
        ``(rank, world_size)`` in data-parallel training: each batch is cut into
        ``world_size`` near-equal parts and this process gets part ``rank`` (every
        process draws the same permutation from identically seeded generators).
    """

    def __init__(
        self,
        data: TaskData,
        batch_size: int,
        *,
        shuffle: bool,
        device: torch.device,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] | None = None,
    ):
        self.data = data
        self.shard = shard
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
            if self.shard is not None:
                rank, world_size = self.shard
                size = stop - start
                start, stop = (
                    start + rank * size // world_size,
                    start + (rank + 1) * size // world_size,
                )
            index: torch.Tensor | slice = slice(start, stop) if order is None else order[start:stop]
            X = rows_as_tensor(data.X, index if isinstance(data.X, torch.Tensor) else _cpu(index))
            targets = _take(data.targets, index)
            weight = None if data.sample_weight is None else _take(data.sample_weight, index)
            if non_blocking:
                X = X.to(self.device, non_blocking=True)
                targets = targets.to(self.device, non_blocking=True)
                weight = None if weight is None else weight.to(self.device, non_blocking=True)
            yield X, targets, weight


def _take(tensor: torch.Tensor, index: torch.Tensor | slice) -> torch.Tensor:
    """``tensor[index]``: a view for a slice, ``index_select`` for indices on the
    tensor's device (the same rows; 4 against 11 us for 256 rows of 50 floats on a CPU,
    timeit); CPU indices into a CUDA tensor (a streamed X with its targets on the GPU)
    keep ``tensor[index]``, which accepts them."""
    if isinstance(index, slice) or index.device != tensor.device:
        return tensor[index]
    return tensor.index_select(0, index)


def _cpu(index: torch.Tensor | slice) -> torch.Tensor | slice:
    return index.cpu() if isinstance(index, torch.Tensor) else index
