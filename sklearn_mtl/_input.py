"""Raw tables in: which columns are numbers or categories, their codes and their statistics.

:class:`InputEncoder` reads X as the user gives it (a DataFrame with numbers of any
scale, categories, strings, booleans and missing values; a numeric array; a sparse
matrix; a memmap) and turns it into the float32 matrix the network reads: the numeric
columns first, as they are (NaN kept), then one integer code per categorical column.
It also measures, on the training rows, what the network's input layer
(:class:`~sklearn_mtl._input_layer.InputLayer`) needs to scale the numbers (a centre and
a scale, or quantiles), to impute them (the median) and which columns get a missing
indicator. Doing the scaling inside the network keeps a memmap streamed, a sparse
matrix sparse and the fitted encoding inside the model (saved with it).

Codes: 0 is the unknown bucket (a category not seen in fit, or NaN when fit saw none),
``1..K`` the categories seen in fit, ``K + 1`` NaN when fit saw it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _data
from ._column_kinds import CATEGORY as _CATEGORY
from ._column_kinds import NUMBER as _NUMBER
from ._column_kinds import STRING as _STRING
from ._column_kinds import column_kind as _column_kind
from ._data import gather_rows, is_row_streamable
from ._scaling import (
    FITTED_SCALINGS,
    SCALINGS,
    check_method,
    numeric_stats,
    resolve_auto,
    resolve_scalings,
)

__all__ = ["SCALINGS", "ColumnSpec", "InputEncoder", "is_table"]

_STATS_ROWS = 100_000  # at most this many (random) rows measure the numeric statistics,
_STATS_VALUES = 10_000_000  # and at most about this many values
_BLOCK = 256  # columns whose statistics are computed at once
_LABELS = {_CATEGORY, _STRING}  # kinds that hold labels matched by value: interchangeable


@dataclass
class ColumnSpec:
    """One input column: its name, the kind of its values, and its role.

    Attributes
    ----------
    name : str or int
        The column's name (its index when X has no names).
    kind : str
        "number", "bool", "category" (pandas category) or "string" (strings, objects).
    categories : list or None
        The categories seen in fit, in code order (codes ``1..K``), for a categorical
        column; None for a numeric one.
    has_nan : bool
        Whether fit saw missing values in the column.
    as_str : bool
        Whether values are compared as strings (an object column mixing types).
    """

    name: Any
    kind: str
    categories: list | None = None
    has_nan: bool = False
    as_str: bool = False

    @property
    def n_codes(self) -> int:
        """Number of codes: the unknown bucket, the categories, NaN when seen in fit."""
        return 1 + len(self.categories or ()) + int(self.has_nan)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": self.categories,
            "has_nan": self.has_nan,
            "as_str": self.as_str,
        }

    @classmethod
    def from_json(cls, state: dict) -> ColumnSpec:
        categories = state["categories"]
        return cls(
            name=state["name"],
            kind=str(state["kind"]),
            categories=None if categories is None else list(categories),
            has_nan=bool(state["has_nan"]),
            as_str=bool(state["as_str"]),
        )


def is_table(X: object) -> bool:
    """Whether X is read column by column: a DataFrame, or an array of strings/objects."""
    if hasattr(X, "iloc") and hasattr(X, "dtypes"):
        return True
    if isinstance(X, np.ndarray) and not is_row_streamable(X):
        return X.dtype.kind in "OUS" and X.ndim == 2
    return False


class InputEncoder:
    """The fitted input encoding of a table (see the module docstring).

    Parameters
    ----------
    categorical_features : "from_dtype", None, or array-like of str, int or bool
        As in scikit-learn's ``HistGradientBoostingRegressor``: "from_dtype" makes the
        columns of category, string, object or boolean dtype categorical; a list of
        names or indices, or a boolean mask, also makes those (numeric) columns
        categorical; None makes none (a column of strings is then an error).
    numeric_scaling : {"auto", "standard", "squashing", "robust", "quantile"}, None or dict
        How the input layer scales the numbers (see ``MultiTaskNetEstimator``): one
        method for every numeric column, or ``{column name or index: method}`` (the
        columns not named get "standard"). "auto" is resolved per column in fit
        (:func:`~sklearn_mtl._scaling.is_heavy_tailed`); ``scalings_`` holds the result.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"size": [1.0, None, 3.0], "colour": ["red", "blue", "red"]})
    >>> encoder = InputEncoder().fit(X)
    >>> [(c.name, c.kind, c.categories) for c in encoder.columns_]
    [('size', 'number', None), ('colour', 'string', ['blue', 'red'])]
    >>> encoder.transform(pd.DataFrame({"size": [2.0], "colour": ["green"]})).tolist()
    [[2.0, 0.0]]
    """

    def __init__(self, categorical_features: Any = "from_dtype", numeric_scaling: Any = "standard"):
        self.categorical_features = categorical_features
        self.numeric_scaling = numeric_scaling

    # -- fit -----------------------------------------------------------------------
    def fit(self, X: Any, random_state: int = 0) -> InputEncoder:
        """Learn the columns' roles, the categories and the numeric statistics.

        Parameters
        ----------
        X : DataFrame, ndarray, sparse matrix or row-sliceable array
            The training features, already checked for shape by the estimator.
        random_state : int, default=0
            Seeds the choice of rows that measure the statistics on a large X.

        Returns
        -------
        self : InputEncoder
        """
        if not isinstance(self.numeric_scaling, dict):
            check_method(self.numeric_scaling, "numeric_scaling")
        self.is_table_ = is_table(X)
        n_features = int(X.shape[1])
        declared = _declared_categorical(self.categorical_features, X, n_features)
        if not self.is_table_:
            self.columns_ = [ColumnSpec(j, _NUMBER) for j in range(n_features)]
            if declared.any():
                if sp.issparse(X) or is_row_streamable(X):
                    raise ValueError(
                        "categorical_features needs X as a DataFrame or a dense array; "
                        f"got {type(X).__name__}."
                    )
                for index in np.flatnonzero(declared).tolist():
                    values = np.asarray(X)[:, index]
                    self.columns_[index] = self._fit_categorical(index, values, _NUMBER)
        else:
            self.columns_ = []
            for j, (name, values) in enumerate(_columns(X)):
                kind = _column_kind(name, values)
                if kind == _NUMBER and not declared[j]:
                    self.columns_.append(ColumnSpec(name, kind))
                    continue
                if self.categorical_features is None:
                    raise ValueError(
                        f"Column {name!r} holds {kind} values (dtype {values.dtype}) but "
                        "categorical_features=None; use categorical_features='from_dtype' "
                        "(the default) to encode it as a category, or convert it to numbers."
                    )
                self.columns_.append(self._fit_categorical(name, values, kind))
        self.numeric_ = np.array(
            [j for j, c in enumerate(self.columns_) if c.categories is None], dtype=np.int64
        )
        self.categorical_ = np.array(
            [j for j, c in enumerate(self.columns_) if c.categories is not None], dtype=np.int64
        )
        has_names = hasattr(X, "columns")
        labels = [str(c) for c in X.columns] if has_names else list(range(n_features))
        self.scalings_ = resolve_scalings(
            self.numeric_scaling, labels, self.numeric_.tolist(), has_names
        )
        self._fit_numeric(X, random_state)
        return self

    def _fit_categorical(self, name: Any, values: Any, kind: str) -> ColumnSpec:
        missing = _missing(values)
        if missing.all():
            raise ValueError(f"Column {name!r} has no value at all (all NaN); drop it.")
        present = np.asarray(values, dtype=object)[~missing]
        as_str = kind == _STRING and len({type(v) for v in present}) > 1
        if as_str:
            present = np.array([str(v) for v in present], dtype=object)
        unique = list({_python(v): None for v in present})
        try:
            categories = sorted(unique)
        except TypeError:
            categories = sorted(unique, key=str)
        return ColumnSpec(name, kind, categories, bool(missing.any()), as_str)

    def _fit_numeric(self, X: Any, random_state: int) -> None:
        n_rows = int(X.shape[0])
        limit = min(_STATS_ROWS, max(2_000, _STATS_VALUES // max(1, len(self.numeric_))))
        rows = None
        if n_rows > limit:
            rows = np.sort(np.random.RandomState(random_state).choice(n_rows, limit, False))
        self.sparse_ = bool(sp.issparse(X))
        if self.is_table_:
            sample: Any = self._numeric_block(X if rows is None else _take_rows(X, rows))
        elif self.sparse_:
            sample = (X if rows is None else X[rows])[:, self.numeric_].tocsc()
        elif is_row_streamable(X):  # read in chunks, as the finiteness check does
            wanted = np.arange(n_rows) if rows is None else rows
            step = _data._CHECK_ROWS
            sample = np.concatenate(
                [gather_rows(X, wanted[i : i + step]) for i in range(0, len(wanted), step)]
            )[:, self.numeric_]
        else:
            sample = np.asarray(X)
            sample = sample if rows is None else sample[rows]
            if len(self.numeric_) < sample.shape[1]:  # all numeric: X itself, no gather
                sample = sample[:, self.numeric_]
        names = [self.columns_[j].name for j in self.numeric_]
        with_knots = "quantile" in self.scalings_
        # The medians (imputation values) serve an input layer only: without scaling,
        # categories or missing values X goes into the network as it is.
        fill = any(method is not None for method in self.scalings_) or bool(len(self.categorical_))
        parts, missing_parts = self._numeric_parts(sample, names, with_knots, fill)
        if not fill and any(part.any() for part in missing_parts):
            parts, missing_parts = self._numeric_parts(sample, names, with_knots, True)
        self.missing_ = np.concatenate(missing_parts) if parts else np.zeros(0, dtype=bool)
        empty = numeric_stats(np.zeros((1, 0)), np.zeros((1, 0), bool), [], with_knots)
        self.stats_ = {
            key: np.concatenate([part[key] for part in parts]) if parts else value
            for key, value in empty.items()
        }

    def _numeric_parts(
        self, sample: Any, names: list, with_knots: bool, fill: bool
    ) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
        """The statistics and missing-value flags of the numeric columns, by blocks."""
        parts, missing_parts = [], []
        for start in range(0, len(names), _BLOCK):  # a block of columns at a time
            block = sample[:, start : start + _BLOCK]
            block = block.toarray() if sp.issparse(block) else block
            methods = self.scalings_[start : start + _BLOCK]
            if not fill and not with_knots and _all_finite(block):
                # nothing measured (no scaling, no medians) and nothing missing: the
                # checks below would find nothing, and the statistics are constants
                n_block = block.shape[1]
                nothing = np.zeros((1, n_block), dtype=bool)
                parts.append(numeric_stats(np.zeros((1, n_block)), nothing, methods, False, False))
                missing_parts.append(np.zeros(n_block, dtype=bool))
                continue
            # Statistics of the float32 values the network reads, whatever X's dtype.
            block = np.asarray(block, dtype=np.float32).astype(np.float64)
            missing = np.isnan(block)
            for j in np.flatnonzero(missing.all(axis=0)):
                raise ValueError(
                    f"Column {names[start + j]!r} has no value at all (all NaN); drop it."
                )
            for j in np.flatnonzero(np.isinf(block).any(axis=0)):
                raise ValueError(
                    f"Column {names[start + j]!r} holds infinite values; replace them (for "
                    "example by NaN, which is imputed) before fitting."
                )
            methods = resolve_auto(block, missing, methods)
            self.scalings_[start : start + _BLOCK] = methods
            parts.append(numeric_stats(block, missing, methods, with_knots, medians=fill))
            missing_parts.append(missing.any(axis=0))
        return parts, missing_parts

    # -- transform -----------------------------------------------------------------
    def transform(self, X: Any) -> Any:
        """The network's input: X itself when it is numeric, else a float32 array.

        A table becomes its numeric columns (NaN kept) followed by one code per
        categorical column; a numeric array, sparse matrix or memmap is returned as it
        is (the input layer scales it batch by batch).

        Raises
        ------
        ValueError
            When a column's kind of values changed since fit (numbers then strings).
        """
        if not self.is_table_ and not len(self.categorical_):
            return X
        if not self.is_table_:
            dense = np.asarray(X)
            out = np.empty((dense.shape[0], len(self.columns_)), dtype=np.float32)
            out[:, : len(self.numeric_)] = dense[:, self.numeric_]
            for k, j in enumerate(self.categorical_):
                out[:, len(self.numeric_) + k] = self._codes(self.columns_[j], dense[:, j])
            return out
        columns = list(_columns(X))
        out = np.empty((len(columns[0][1]) if columns else 0, len(self.columns_)), np.float32)
        out[:, : len(self.numeric_)] = self._numeric_block(X, columns)
        for k, j in enumerate(self.categorical_):
            spec = self.columns_[j]
            name, values = columns[j]
            self._check_kind(spec, _column_kind(name, values))
            out[:, len(self.numeric_) + k] = self._codes(spec, values)
        return out

    def _numeric_block(self, X: Any, columns: list | None = None) -> np.ndarray:
        columns = list(_columns(X)) if columns is None else columns
        n_rows = len(columns[0][1]) if columns else 0
        block = np.empty((n_rows, len(self.numeric_)), dtype=np.float64)
        for k, j in enumerate(self.numeric_):
            spec = self.columns_[j]
            name, values = columns[j]
            self._check_kind(spec, _column_kind(name, values))
            block[:, k] = _as_float(values)
        return block

    @staticmethod
    def _check_kind(spec: ColumnSpec, kind: str) -> None:
        if kind == spec.kind or {kind, spec.kind} <= _LABELS:
            return
        raise ValueError(
            f"Column {spec.name!r} held {spec.kind} values in fit but holds {kind} values "
            "now; pass it with the dtype it had in fit."
        )

    @staticmethod
    def _codes(spec: ColumnSpec, values: Any) -> np.ndarray:
        missing = _missing(values)
        present = np.asarray(values, dtype=object)[~missing]
        if spec.as_str:
            present = [str(v) for v in present]
        categories = spec.categories or []
        lookup = {category: code for code, category in enumerate(categories, start=1)}
        codes = np.zeros(len(missing), dtype=np.float32)
        codes[~missing] = np.fromiter((lookup.get(v, 0) for v in present), np.float32, len(present))
        if spec.has_nan:
            codes[missing] = len(categories) + 1
        return codes

    # -- state ---------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able metadata and the arrays of numeric statistics (for the safe format)."""
        scaling = self.numeric_scaling
        meta = {
            "categorical_features": _json_param(self.categorical_features),
            # a dict as its [key, method] pairs (its keys may be column indices)
            "numeric_scaling": [[k, m] for k, m in scaling.items()]
            if isinstance(scaling, dict)
            else scaling,
            "scalings_": list(self.scalings_),
            "is_table_": self.is_table_,
            "sparse_": self.sparse_,
            "columns_": [spec.to_json() for spec in self.columns_],
        }
        arrays = {name: np.asarray(value) for name, value in self.stats_.items()}
        arrays["missing_"] = self.missing_.astype(np.uint8)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> InputEncoder:
        """Rebuild an encoder from :meth:`state`'s output."""
        scaling = meta["numeric_scaling"]
        if isinstance(scaling, list):  # a dict, saved as its pairs
            if not all(isinstance(pair, list) and len(pair) == 2 for pair in scaling):
                raise ValueError(f"the saved numeric_scaling {scaling!r} is not a dict's pairs")
            scaling = {_hashable(key): method for key, method in scaling}
            for key, method in scaling.items():
                check_method(method, f"the saved numeric_scaling[{key!r}]")
        else:
            check_method(scaling, "the saved numeric_scaling")
        encoder = cls(meta["categorical_features"], scaling)
        encoder.is_table_ = bool(meta["is_table_"])
        encoder.sparse_ = bool(meta["sparse_"])
        encoder.columns_ = [ColumnSpec.from_json(state) for state in meta["columns_"]]
        encoder.numeric_ = np.array(
            [j for j, c in enumerate(encoder.columns_) if c.categories is None], dtype=np.int64
        )
        encoder.categorical_ = np.array(
            [j for j, c in enumerate(encoder.columns_) if c.categories is not None],
            dtype=np.int64,
        )
        n_numeric = len(encoder.numeric_)
        if "scalings_" in meta:  # absent from files saved before per-column scalings
            scalings = meta["scalings_"]
            if not isinstance(scalings, list) or len(scalings) != n_numeric:
                raise ValueError(
                    f"The saved input encoding has {n_numeric} numeric columns but the "
                    f"scalings {scalings!r}."
                )
            for method in scalings:
                check_method(method, "a saved column scaling", FITTED_SCALINGS)
            encoder.scalings_ = list(scalings)
        else:
            check_method(scaling, "the saved numeric_scaling", FITTED_SCALINGS)
            encoder.scalings_ = [scaling] * n_numeric
        arrays = dict(arrays)
        expected = {"missing_", "fill", "center", "scale"}
        if "quantile" in encoder.scalings_:
            expected.add("knots")
        if set(arrays) != expected:
            raise ValueError(
                f"The saved input encoding does not fit its description: it has the "
                f"statistics {sorted(arrays)}, expected {sorted(expected)}."
            )
        encoder.missing_ = np.asarray(arrays.pop("missing_"), dtype=bool)
        encoder.stats_ = {name: np.asarray(value, np.float64) for name, value in arrays.items()}
        shapes = {name: value.shape for name, value in encoder.stats_.items()}
        shapes["missing_"] = encoder.missing_.shape
        if any(shape[:1] != (n_numeric,) for shape in shapes.values()) or (
            "knots" in shapes and len(shapes["knots"]) != 2
        ):
            raise ValueError(
                f"The saved input encoding does not fit its {n_numeric} numeric columns: "
                f"its statistics have the shapes {shapes}."
            )
        return encoder

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "stats_" in state and "scalings_" not in state:  # pickled before per-column scalings
            self.scalings_ = [self.numeric_scaling] * len(self.numeric_)

    @property
    def column_scalings_(self) -> dict:
        """The fitted scaling of each numeric column, by name (index without names)."""
        numeric = [self.columns_[j].name for j in self.numeric_]
        return dict(zip(numeric, self.scalings_, strict=True))

    @property
    def needs_layer(self) -> bool:
        """Whether the network needs an input layer (else X goes in unchanged)."""
        return bool(
            any(method is not None for method in self.scalings_)
            or len(self.categorical_)
            or self.missing_.any()
        )


# -- helpers -------------------------------------------------------------------------------
def _columns(X: Any):
    """``(name, values)`` of each column of a DataFrame or 2-D object array."""
    if hasattr(X, "iloc"):
        for j, name in enumerate(X.columns):
            yield (name if isinstance(name, str) else j), X.iloc[:, j]
    else:
        for j in range(X.shape[1]):
            yield j, X[:, j]


def _take_rows(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _missing(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fc":
        return np.isnan(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _as_float(values: Any) -> np.ndarray:
    if hasattr(values, "to_numpy"):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.asarray(values, dtype=object)
    missing = _missing(out)
    result = np.full(len(out), np.nan)
    result[~missing] = out[~missing].astype(np.float64)
    return result


def _python(value: Any) -> Any:
    """A JSON-able Python scalar for a category (numpy scalars unwrapped, others as str)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else str(value)
    return str(value)


def _hashable(key: Any) -> Any:
    """A saved dict key: a column name or index (anything else is a corrupt file)."""
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise ValueError(f"the saved numeric_scaling has the key {key!r}, not a column")
    return key


def _json_param(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return [_python(v) for v in np.asarray(value).tolist()]


def _declared_categorical(spec: Any, X: Any, n_features: int) -> np.ndarray:
    """Boolean mask of the columns ``categorical_features`` declares categorical."""
    mask = np.zeros(n_features, dtype=bool)
    if spec is None or (isinstance(spec, str) and spec == "from_dtype"):
        return mask
    if isinstance(spec, str):
        raise ValueError(
            "categorical_features must be 'from_dtype', None, a list of column names or "
            f"indices, or a boolean mask; got {spec!r}."
        )
    values = np.asarray(spec)
    if values.ndim != 1:
        raise ValueError(f"categorical_features must be one-dimensional; got {spec!r}.")
    if values.size == 0:
        return mask
    if values.dtype.kind == "b":
        if values.size != n_features:
            raise ValueError(
                f"categorical_features is a boolean mask of {values.size} values but X has "
                f"{n_features} features."
            )
        return values.copy()
    if values.dtype.kind in "iu":
        for index in values.tolist():
            if not -n_features <= index < n_features:
                raise ValueError(
                    f"categorical_features index {index} is out of range for X with "
                    f"{n_features} features."
                )
            mask[index] = True
        return mask
    if values.dtype.kind in "OU":
        names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        if names is None:
            raise ValueError(
                "categorical_features names columns, but X has no column names; pass "
                "indices or a boolean mask."
            )
        for name in values.tolist():
            if name not in names:
                raise ValueError(
                    f"categorical_features names {name!r}, which is not a column of X; "
                    f"the columns are {names}."
                )
            mask[names.index(name)] = True
        return mask
    raise ValueError(f"categorical_features must hold names, indices or booleans; got {spec!r}.")


def _all_finite(block: Any) -> bool:
    """Whether every value of a dense block is finite as float32, the values the network
    reads (from their sum, one pass; a sum that overflows says no, to be safe)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.asarray(block, dtype=np.float32).sum()))
