"""What the estimator learns about X and y in fit, and checks of X, y and sample_weight."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    validate_data,
)

from ._callbacks import (
    describe_tasks,
)
from ._data import check_streamed_X, is_row_streamable
from ._estimator_params import _Parameters
from ._input import InputEncoder, is_table
from ._targets import TargetTable, as_target_table
from ._task_encoding import fit_encoders, resolve_tasks
from ._validation import errors_about


class _DataChecks(_Parameters):
    """Input checks and encodings of :class:`~sklearn_mtl.MultiTaskNetEstimator`."""

    def _validate_X(self, X, reset: bool):
        """Check X and return the network's input (see :class:`InputEncoder`).

        With ``reset`` the input encoding is fitted on X (columns' roles, categories,
        statistics of the numbers).
        """
        with errors_about("X"):
            return self._validated_X(X, reset)

    def _validated_X(self, X, reset: bool):
        if isinstance(X, list | tuple):
            X = _rows_as_array(X)
        if not reset and self._is_checked_float_array(X):
            with np.errstate(over="ignore"):
                X32 = X.astype(np.float32, copy=False)
            # float64 values beyond float32's range become inf in the cast: check the
            # float32 values, as validate_data does in fit (an overflow falls through
            # to it, which raises its usual error).
            if X32 is X or bool(np.isfinite(X32.sum())):
                return self._encode_X(X32)
        kind = getattr(getattr(X, "dtype", None), "kind", "")
        if kind in ("m", "M"):  # numpy would cast them to numbers; a table refuses them
            what = "datetimes" if kind == "M" else "durations"
            raise ValueError(
                f"X holds {what} (dtype {X.dtype}), which cannot be used: convert them to "
                "numbers first (for example days or seconds since an origin)."
            )
        if is_table(X):  # a DataFrame, or an array of strings or objects
            if X.shape[0] < 1:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
                    "is required."
                )
            validate_data(self, X, reset=reset, skip_check_array=True)
            encoder = getattr(self, "input_encoder_", None)
            if not reset and encoder is not None and not encoder.is_table_:
                # fitted on a numeric array: the network reads numbers only
                X = check_array(X, dtype=np.float32, ensure_all_finite="allow-nan")
        elif is_row_streamable(X):  # a memmap: read batch by batch, never copied whole
            check_streamed_X(X)
            X = validate_data(self, X, reset=reset, skip_check_array=True)
        else:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse="csr",
                dtype=np.float32,
                ensure_all_finite="allow-nan",
                ensure_min_samples=1,
            )
            if sp.issparse(X):
                if not np.isfinite(X.data).all():
                    raise ValueError("Input X contains NaN; a sparse X must hold finite values.")
                X = X.astype(np.float32)
                X.sort_indices()
        if reset:
            self.input_encoder_ = InputEncoder(self.categorical_features, self.numeric_scaling)
            self.input_encoder_.fit(X)
        return self._encode_X(X)

    def _encode_X(self, X):
        encoder = getattr(self, "input_encoder_", None)  # None: a model saved before it
        return X if encoder is None else encoder.transform(X)

    def _is_checked_float_array(self, X) -> bool:
        """Whether X is a finite float ndarray of the fitted width, without feature names.

        ``validate_data`` would only convert it to float32: the fast path of ``predict``
        (whose validation cost twice the forward pass of one row). Anything else, or any
        doubt, goes through ``validate_data``, which raises the usual errors and warnings.
        """
        return (
            type(X) is np.ndarray
            and X.dtype in (np.float32, np.float64)
            and X.ndim == 2
            and X.shape[0] >= 1
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
            and bool(np.isfinite(X.sum()))  # a NaN or inf (or an overflow) falls through
        )

    def _table(self, y, n_samples: int) -> TargetTable:
        table = as_target_table(y)
        if table.n_samples != n_samples:
            raise ValueError(
                f"X has {n_samples} rows but y has {table.n_samples}; they must match."
            )
        return table

    def _check_table_matches(self, table: TargetTable) -> None:
        n_columns = self._n_target_columns
        if len(table.columns) != n_columns:
            raise ValueError(
                f"y has {len(table.columns)} column(s) but the model was fitted on {n_columns}."
            )
        if table.names is not None and self._target_names is not None:
            if table.names != self._target_names:
                raise ValueError(
                    f"y's columns {table.names} differ from those seen in fit "
                    f"({self._target_names})."
                )

    def _sample_weight(self, sample_weight, X) -> torch.Tensor | None:
        if sample_weight is None:
            return None
        with errors_about("sample_weight"):
            weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if np.any(weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        return torch.from_numpy(np.array(weight, dtype=np.float32))

    def _fit_tasks(self, table: TargetTable, classes) -> None:
        classes = {} if classes is None else classes
        if not isinstance(classes, Mapping):
            raise TypeError(f"classes must be a dict {{task: class labels}}; got {classes!r}.")
        if classes:
            names = [task.name for task, _ in resolve_tasks(self.tasks, table)]
            unknown = sorted(map(str, set(classes) - set(names)))
            if unknown:
                raise ValueError(f"classes names unknown task(s) {unknown}; the tasks are {names}.")
        self.encoders_ = fit_encoders(self.tasks, table, classes)
        self.tasks_ = [encoder.task_ for encoder in self.encoders_]
        self._n_target_columns = len(table.columns)
        self._target_names = table.names
        self._target_is_frame = table.is_frame
        self._target_is_1d = table.is_1d
        classes = [e.classes_ for e in self.encoders_ if e.classes_ is not None]
        self.classes_: list[np.ndarray] | np.ndarray = classes
        if table.is_1d and len(classes) == 1:
            self.classes_ = classes[0]
        if self.verbose:
            print(describe_tasks(self.tasks_))


def _rows_as_array(X: list | tuple):
    """A list of rows holding strings as an object array, read column by column as the
    same values in an object array are (numpy, and so ``validate_data``, would turn
    every number of it into a string); other lists unchanged."""
    array = np.asarray(X, dtype=object)
    if array.ndim == 2 and any(isinstance(v, str | bytes) for v in array.ravel().tolist()):
        return array
    return X


def _as_tensor(X):
    if sp.issparse(X) or is_row_streamable(X):
        return X
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))
