"""Reading y: any 1-D or 2-D label container becomes a list of columns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass
class TargetTable:
    """The columns of y, as plain 1-D numpy arrays.

    Attributes
    ----------
    columns : list of ndarray
        One 1-D array per column of y (object arrays keep mixed or missing labels).
    names : list of str or None
        Column names of a pandas y, else None.
    categorical : list of bool
        Whether each column has a pandas categorical dtype.
    is_frame : bool
        Whether y was a pandas DataFrame.
    is_1d : bool
        Whether y was one-dimensional (a single column).
    matrix : ndarray of shape (n_samples, n_columns) or None
        The same labels as one 2-D real-number array (float or integer), when y was
        one or a DataFrame of float columns: the columns are then its columns, and
        per-column statistics can be taken for all of them in one pass.
    """

    columns: list[np.ndarray]
    names: list[str] | None
    categorical: list[bool]
    is_frame: bool
    is_1d: bool
    matrix: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return len(self.columns[0])

    def label(self, position: int) -> str:
        """How to name column ``position`` in an error message."""
        if self.names is not None:
            return f"column {self.names[position]!r}"
        return f"column {position}"


def as_target_table(y: Any) -> TargetTable:
    """Split y into columns without copying labels more than once.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_columns)
        A numpy array, list, pandas Series or DataFrame.

    Returns
    -------
    TargetTable
    """
    if y is None:
        raise ValueError("MultiTaskNetEstimator requires y to be passed, but the target y is None.")
    if sp.issparse(y):
        raise TypeError("y is a sparse matrix; pass a dense array or a DataFrame instead.")
    if hasattr(y, "iloc") and hasattr(y, "columns"):  # pandas DataFrame
        columns = [y.iloc[:, j].to_numpy() for j in range(y.shape[1])]
        categorical = [str(dtype) == "category" for dtype in y.dtypes]
        names = [str(name) for name in y.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"y has duplicate column names: {names}.")
        table = TargetTable(columns, names, categorical, is_frame=True, is_1d=False)
        if y.shape[1] and all(
            isinstance(dtype, np.dtype) and dtype.kind == "f" for dtype in y.dtypes
        ):
            table.matrix = y.to_numpy(dtype=np.float64)
    elif hasattr(y, "iloc"):  # pandas Series
        name = None if y.name is None else [str(y.name)]
        table = TargetTable(
            [y.to_numpy()], name, [str(y.dtype) == "category"], is_frame=False, is_1d=True
        )
    else:
        array = _as_label_array(y)
        numeric = array.dtype.kind in "fiu"
        if array.ndim == 1:
            table = TargetTable([array], None, [False], is_frame=False, is_1d=True)
            table.matrix = array[:, None] if numeric else None
        elif array.ndim == 2:
            columns = [array[:, j] for j in range(array.shape[1])]
            table = TargetTable(columns, None, [False] * len(columns), is_frame=False, is_1d=False)
            table.matrix = array if numeric else None
        else:
            raise ValueError(
                f"y must be 1-D or 2-D (n_samples, n_columns); got an array of shape {array.shape}."
            )
    if not table.columns:
        raise ValueError("y has no column: at least one task is needed.")
    for position, column in enumerate(table.columns):
        if column.dtype.kind == "c":
            raise ValueError(f"y {table.label(position)} holds complex numbers.")
    return table


def _as_label_array(y: Any) -> np.ndarray:
    """``np.asarray(y)``, except that a list mixing strings with other values stays
    an object array: numpy would turn every number (and NaN, the missing label) into a
    string, silently making a numeric column a column of classes such as ``'nan'``."""
    array = np.asarray(y)
    if array.dtype.kind in "US" and not isinstance(y, np.ndarray):
        objects = np.asarray(y, dtype=object)
        if objects.shape == array.shape and not all(
            isinstance(value, str | bytes) for value in objects.ravel()
        ):
            return objects
    return array


def _is_missing_value(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return type(value).__name__ in {"NAType", "NaTType"}


def missing_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the missing labels (NaN, None, pandas NA) of one column."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.fromiter((_is_missing_value(v) for v in values), bool, len(values))
    return np.zeros(len(values), dtype=bool)


def numeric_or_none(values: np.ndarray) -> np.ndarray | None:
    """Labels as float64 when they are all real numbers (not booleans), else None."""
    if values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False)
    if values.dtype.kind == "O" and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in values
    ):
        return values.astype(np.float64)
    return None


def unique_labels(task_name: str, values: np.ndarray) -> np.ndarray:
    """Sorted distinct labels, or a ValueError naming the task for incomparable types."""
    try:
        return np.unique(values)
    except TypeError:
        types = sorted({type(v).__name__ for v in values})
        raise ValueError(
            f"Task {task_name!r} has labels of mixed types ({', '.join(types)}); "
            "labels of one task must be comparable (all numbers or all strings)."
        ) from None


_INT64_BOUND = 2.0**63


def class_labels(task_name: str, labelled: np.ndarray) -> np.ndarray:
    """Sorted distinct class labels; integer-valued floats become integers.

    Integer arrays keep their exact values (no round trip through float64); floats
    that do not fit int64 (1e20) stay floats; infinite labels are refused.
    """
    if labelled.dtype.kind in "iu":
        classes = np.unique(labelled)
        if classes.dtype.kind == "u" and classes[-1] >= _INT64_BOUND:
            return classes
        return classes.astype(np.int64)
    numeric = numeric_or_none(labelled)
    if numeric is not None:
        classes = np.unique(numeric)
        if not np.all(np.isfinite(classes)):
            raise ValueError(
                f"Task {task_name!r} has infinite class labels; the labels of a "
                "classification task must be finite numbers, strings or booleans."
            )
        if np.all(classes == np.round(classes)) and np.all(np.abs(classes) < _INT64_BOUND):
            return classes.astype(np.int64)
        return classes
    return unique_labels(task_name, labelled)


def check_finite_labels(task_name: str, values: np.ndarray, label: str) -> None:
    """Refuse infinite numeric labels, whatever the task kind, before inferring one."""
    numeric = numeric_or_none(values)
    if numeric is not None and not np.all(np.isfinite(numeric)):
        raise ValueError(
            f"Task {task_name!r}: y {label} holds infinite values; labels must be finite "
            "(NaN or None marks a missing label)."
        )


def is_exact_as_float(classes: np.ndarray) -> bool:
    """Whether numeric class labels survive a round trip through float64."""
    if classes.dtype.kind == "f":
        return True
    return classes.dtype.kind in "iu" and bool(np.all(np.abs(classes.astype(np.float64)) < 2.0**53))
