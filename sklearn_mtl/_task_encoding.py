"""Task encoding: tasks resolved against y, and one encoder per task.

``resolve_tasks`` matches the ``tasks`` declarations to the columns of y; a
:class:`TaskEncoder` learns one task's kind (when it was not declared), classes or
standardisation, turns its labels into the float targets of the network and the
network's outputs back into labels. :func:`fit_encoders` and :func:`encode_targets`
do this for all the tasks of a fit: the single-column regression and binary tasks
whose labels are columns of one numeric matrix (y as a float or integer array) are
fitted and encoded together, from passes over the whole matrix, instead of one
column (a strided view) at a time; every other task, and every column whose labels
would raise an error, goes through its own encoder, in task order, so that the
errors and the fitted values are those of the one-encoder path.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import torch

from ._kinds import KIND_CLASSES, TargetKind, kind_of
from ._targets import (
    TargetTable,
    check_finite_labels,
    missing_mask,
    numeric_or_none,
    unique_labels,
)
from .tasks import MAX_INFERRED_CLASSES, Task


def _declared_tasks(tasks: object) -> list[Task]:
    """Turn the ``tasks`` parameter (list of Task, dict, or None) into a list."""
    if isinstance(tasks, Task):
        return [tasks]
    if isinstance(tasks, Mapping):
        return [Task(str(name), kind) for name, kind in tasks.items()]
    if isinstance(tasks, Sequence) and not isinstance(tasks, str):
        declared = []
        for task in tasks:
            if isinstance(task, Task):
                declared.append(task)
            elif isinstance(task, str):
                declared.append(Task(task))
            else:
                raise TypeError(f"tasks must hold Task objects or task names; got {task!r}.")
        return declared
    raise TypeError(
        "tasks must be None, a list of Task objects, or a dict {name: kind}; "
        f"got {type(tasks).__name__}."
    )


def _position_of(task: Task, column: str | int, table: TargetTable) -> int:
    n_columns = len(table.columns)
    if isinstance(column, str):
        if table.names is None:
            raise ValueError(
                f"Task {task.name!r} names column {column!r}, but y has no column names; "
                "use integer positions or pass y as a DataFrame."
            )
        if column not in table.names:
            raise ValueError(
                f"Task {task.name!r} names column {column!r}, which is not in y "
                f"(columns: {table.names})."
            )
        return table.names.index(column)
    if not -n_columns <= column < n_columns:
        raise ValueError(
            f"Task {task.name!r} names column position {column}, but y has {n_columns} column(s)."
        )
    return column % n_columns


def resolve_tasks(tasks: object, table: TargetTable) -> list[tuple[Task, tuple[int, ...]]]:
    """Match task declarations to the columns of y.

    Parameters
    ----------
    tasks : None, list of Task or dict
        The estimator's ``tasks`` parameter.
    table : TargetTable
        The columns of y.

    Returns
    -------
    list of (Task, tuple of int)
        Each task with the positions of its columns in y; kinds are not inferred yet.
    """
    n_columns = len(table.columns)
    if tasks is None:
        names = table.names or [f"task{j}" for j in range(n_columns)]
        return [(Task(name), (j,)) for j, name in enumerate(names)]

    declared = _declared_tasks(tasks)
    if not declared:
        raise ValueError("tasks is empty: declare at least one task.")
    names = [task.name for task in declared]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Task names must be unique; repeated: {duplicates}.")
    for index, task in enumerate(declared):
        unknown = [name for name in task.inputs_from if name not in names[:index]]
        if unknown:
            raise ValueError(
                f"Task {task.name!r} takes inputs from {unknown}, which are not tasks "
                f"declared before it ({names[:index]})."
            )

    claimed: dict[int, str] = {}
    positions: list[tuple[int, ...] | None] = []
    for task in declared:
        found: tuple[int, ...] | None = None
        if task.columns is not None:
            found = tuple(_position_of(task, column, table) for column in task.columns)
        elif table.names is not None and task.name in table.names:
            found = (table.names.index(task.name),)
        elif table.is_frame:
            raise ValueError(
                f"Task {task.name!r} has no column of that name in y (columns: "
                f"{table.names}); name the task after a column or pass "
                f"Task({task.name!r}, ..., columns=[...])."
            )
        if found is not None:
            for position in found:
                if position in claimed:
                    raise ValueError(
                        f"y {table.label(position)} is claimed by both task "
                        f"{claimed[position]!r} and task {task.name!r}."
                    )
                claimed[position] = task.name
        positions.append(found)

    free = iter(j for j in range(n_columns) if j not in claimed)
    resolved = []
    for task, found in zip(declared, positions, strict=True):
        if found is None:
            free_position = next(free, None)
            if free_position is None:
                raise ValueError(
                    f"y has {n_columns} column(s), too few for the {len(declared)} tasks "
                    f"declared: no column is left for task {task.name!r}."
                )
            claimed[free_position] = task.name
            found = (free_position,)
        if len(found) != 1 and not (task.kind and KIND_CLASSES[task.kind].multi_column):
            raise ValueError(
                f"Task {task.name!r} of kind {task.kind!r} spans {len(found)} columns; "
                "only multilabel tasks span several columns."
            )
        resolved.append((task, found))
    unused = [table.label(j) for j in range(n_columns) if j not in claimed]
    if unused:
        raise ValueError(
            f"y has {n_columns} columns but {', '.join(unused)} belong to no task; "
            "declare a task for each column, or drop the column from y."
        )
    return resolved


def infer_kind(labelled: np.ndarray, categorical: bool, task_name: str) -> str:
    """The kind of a single-column task from its labelled values (DESIGN.md section 1)."""
    numeric = None if categorical else numeric_or_none(labelled)
    if numeric is not None:
        distinct = np.unique(numeric)
        integer_valued = bool(np.all(distinct == np.round(distinct)))
        if not integer_valued or len(distinct) > MAX_INFERRED_CLASSES:
            return "regression"
        n_classes = len(distinct)
    else:
        n_classes = len(unique_labels(task_name, labelled))
    return "binary" if n_classes <= 2 else "multiclass"


class TaskEncoder:
    """Encodes one task's labels into network targets and decodes its outputs.

    Targets are float32 with NaN for a missing label: the standardised value for
    regression, the class index for binary and multiclass, 0/1 per label for multilabel.
    What each kind does is its kind object, ``kind_`` (a ``sklearn_mtl._kinds.TargetKind``).

    Parameters
    ----------
    task : Task
        The declaration (its kind may be None: it is then inferred in :meth:`fit`).
    positions : tuple of int
        Positions of the task's columns in y.

    Attributes
    ----------
    task_ : Task
        The declaration with its kind and columns resolved.
    classes_ : ndarray or None
        Class labels (binary, multiclass) or label column names (multilabel).
    mean_, scale_ : float
        Standardisation of a regression target.
    """

    def __init__(self, task: Task, positions: tuple[int, ...]):
        self.task = task
        self.positions = positions

    # -- fitting -----------------------------------------------------------------
    def fit(self, table: TargetTable, classes: object = None) -> TaskEncoder:
        """Learn the kind, classes or standardisation from the labelled values."""
        task = self.task
        labels = [table.label(p) for p in self.positions]
        if table.names is not None:
            self.column_ids_: tuple[str | int, ...] = tuple(table.names[p] for p in self.positions)
        else:
            self.column_ids_ = self.positions
        labelled = []
        for position, label in zip(self.positions, labels, strict=True):
            column = table.columns[position]
            values = column[~missing_mask(column)]
            if len(values) == 0:
                raise ValueError(
                    f"Task {task.name!r} has no label: every value of y {label} is "
                    "missing (NaN/None). Drop the task or provide labels."
                )
            labelled.append(values)

        for values, label in zip(labelled, labels, strict=True):
            check_finite_labels(task.name, values, label)
        kind = task.kind
        categorical = table.categorical[self.positions[0]]
        if kind is None and classes is not None:  # declared classes: a classification
            n_classes = len(unique_labels(task.name, np.asarray(classes)))
            kind = "binary" if n_classes <= 2 else "multiclass"
        elif kind is None:
            kind = infer_kind(labelled[0], categorical, task.name)
        self.task_ = replace(task, kind=kind, columns=self.column_ids_)
        self.classes_: np.ndarray | None = None
        self.class_weight_: np.ndarray | None = None
        self.mean_, self.scale_ = 0.0, 1.0
        self.kind_.fit(self, labelled, labels, categorical, classes)
        return self

    # -- shapes --------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """The kind's name."""
        return str(self.task_.kind)

    @property
    def kind_(self) -> TargetKind:
        """The kind object of the fitted task (built on first use, not saved)."""
        cached = self.__dict__.get("_kind_object")
        if cached is None or cached.task is not self.task_:
            cached = self.__dict__["_kind_object"] = kind_of(self.task_)
        return cached

    @property
    def n_outputs(self) -> int:
        """Width of the network output for this task."""
        return self.kind_.n_outputs(self)

    @property
    def n_targets(self) -> int:
        """Number of target columns (1 except for multilabel)."""
        return len(self.positions)

    # -- encoding ------------------------------------------------------------------
    def encode(self, table: TargetTable) -> np.ndarray:
        """Float32 targets of shape (n_samples, n_targets), NaN where missing."""
        encoded = np.full((table.n_samples, self.n_targets), np.nan, dtype=np.float32)
        kind = self.kind_
        for j, position in enumerate(self.positions):
            column = table.columns[position]
            present = ~missing_mask(column)
            encoded[present, j] = kind.encode(self, column[present], table.label(position))
        return encoded

    # -- decoding ------------------------------------------------------------------
    def proba(self, outputs: np.ndarray) -> np.ndarray:
        """Probabilities from raw outputs: (n, 2) binary, (n, k) multiclass/multilabel."""
        return self.kind_.proba(self, outputs)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions in label space: (n,) for one column, (n, k) for multilabel."""
        return self.kind_.decode(self, outputs)

    def predict_encoded(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions in target space: class index, 0/1 entries, standardised value."""
        return self.kind_.predict_encoded(self, outputs)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_kind_object", None)
        return state


# -- all the tasks of a fit --------------------------------------------------------
_CHUNK_VALUES = 1 << 17
"""Values of the label matrix per chunk of rows in the passes over it: temporaries
of about a MB (in cache, and no fresh pages to map) whatever the number of tasks."""

_EXACT = 2.0**53
"""Integer class labels below this size compare exactly as float64."""


_PROBE_ROWS = 64
"""Rows of the label matrix first looked at for fractions: most regression columns show
one there, which spares them the search for integers (and their range) in every row."""


def _shifted(block: np.ndarray, shift: np.ndarray) -> torch.Tensor:
    """``block - shift`` in float64, a missing label (NaN) as 0 (the shift)."""
    shifted = torch.from_numpy(np.subtract(block, shift, dtype=np.float64))
    return shifted.nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)


def _nanmean(block: np.ndarray) -> np.ndarray:
    """``np.nanmean(block, axis=0)``, the same values, without numpy's masked copy.

    A float block is copied with its NaN set to 0 by torch (numpy's ``copyto`` with a
    random mask of missing labels branches on every value) and summed and divided as
    ``nanmean`` does.
    """
    if block.dtype.kind != "f" or block.dtype.itemsize < 4:
        return np.nanmean(block, axis=0)
    values = np.array(block, copy=True)  # the layout of block, as nanmean's copy
    torch.from_numpy(values).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
    present = np.sum(~np.isnan(block), axis=0, dtype=np.intp)
    total = np.sum(values, axis=0)
    return np.true_divide(total, present, out=total, casting="unsafe")


def _row_chunks(n_rows: int, n_columns: int) -> list[slice]:
    step = max(1, _CHUNK_VALUES // max(1, n_columns))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


class _MatrixSummary:
    """Per-column statistics of a numeric label matrix, from one pass over its rows.

    ``counts`` (labels present), ``finite`` (no infinite label, and a finite sum),
    ``mean`` and ``std`` (of the present labels), and, with ``kinds=True`` and where
    ``known_range``, ``integral`` (every label an integer) and ``low``/``high`` (the
    smallest and largest label of an integral column).

    The sums are taken of the labels minus a shift (an integer near the column's
    mean in the first rows), which keeps the variance accurate, and the shift
    preserves integers. The operations are chosen for speed on a random pattern of
    missing labels: numpy's ``where``, ``nan_to_num``, ``fmin`` and ``fmax`` and
    torch's boolean reductions over rows branch on each value and run about ten times
    slower there than numpy's ``isnan``, its arithmetic, and torch's ``nan_to_num``
    and float reductions.
    """

    def __init__(self, matrix: np.ndarray, kinds: bool):
        n_rows, n_columns = matrix.shape
        chunks = _row_chunks(n_rows, n_columns)
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a column without labels
            first = np.round(_nanmean(matrix[chunks[0]]))
        # Where the shift is a label value of the column (it has labels in the first
        # rows) small enough that subtracting it keeps fractions, the integers and
        # the range of the labels are known; elsewhere the task's encoder decides.
        self.known_range = np.isfinite(first) & (np.abs(first) < 2.0**50)
        shift = np.nan_to_num(first, nan=0.0, posinf=0.0, neginf=0.0)
        missing = torch.zeros(n_columns, dtype=torch.int64)
        sums = torch.zeros(n_columns, dtype=torch.float64)
        squares = torch.zeros(n_columns, dtype=torch.float64)
        fractions = torch.zeros(n_columns, dtype=torch.float64)
        low = torch.full((n_columns,), math.inf, dtype=torch.float64)
        high = torch.full((n_columns,), -math.inf, dtype=torch.float64)
        if kinds:  # a fraction in the first rows settles a column: not integral
            probe = _shifted(matrix[: min(n_rows, _PROBE_ROWS)], shift)
            fractions = probe.frac().abs_().amax(dim=0)
        for rows in chunks:
            block = matrix[rows]
            if block.dtype.kind == "f":
                nan = torch.from_numpy(np.isnan(block)).view(torch.uint8)
                missing += nan.sum(dim=0, dtype=torch.int64)
            shifted = _shifted(block, shift)
            sums += shifted.sum(dim=0)
            squares += (shifted * shifted).sum(dim=0)
            if kinds:  # a missing label counts as the shift, between low and high
                # only the columns without a fraction so far: the others are not
                # integral whatever their other labels, and their range is not used
                open_ = torch.nonzero(fractions == 0).flatten()
                if len(open_) == n_columns:
                    fractions = torch.maximum(fractions, shifted.frac().abs_().amax(dim=0))
                    low = torch.minimum(low, shifted.amin(dim=0))
                    high = torch.maximum(high, shifted.amax(dim=0))
                elif len(open_):
                    part = shifted[:, open_]
                    fractions[open_] = torch.maximum(
                        fractions[open_], part.frac().abs_().amax(dim=0)
                    )
                    low[open_] = torch.minimum(low[open_], part.amin(dim=0))
                    high[open_] = torch.maximum(high[open_], part.amax(dim=0))
        counts = n_rows - missing
        safe = counts.clamp(min=1).to(torch.float64)
        offset = sums / safe
        self.counts = counts.numpy()
        self.finite = (torch.isfinite(sums) & torch.isfinite(squares)).numpy()
        self.mean = shift + offset.numpy()
        self.std = (squares / safe - offset * offset).clamp(min=0.0).sqrt().numpy()
        # ``low`` and ``high`` hold the range of the integral columns only
        self.integral = (fractions == 0).numpy() & kinds
        self.low, self.high = shift + low.numpy(), shift + high.numpy()

    def usable(self, position: int) -> bool:
        """Whether the column has labels, all finite (else its encoder explains)."""
        return bool(self.counts[position] > 0 and self.finite[position])

    def inferred_kind(self, position: int) -> str | None:
        """The kind :func:`infer_kind` gives the column, where the summary tells it
        (None: a column of a few integers, left to its encoder)."""
        if not self.known_range[position]:
            return None
        if not self.integral[position]:
            return "regression"
        if self.high[position] - self.low[position] == 1:  # two integers, both present
            return "binary"
        return None

    def two_classes(self, position: int) -> np.ndarray | None:
        """The classes of a column of exactly two integer labels, else None."""
        if not self.known_range[position]:
            return None
        low, high = self.low[position], self.high[position]
        exact = abs(low) < _EXACT and abs(high) < _EXACT
        if not (self.integral[position] and high - low == 1 and exact):
            return None
        return np.array([low, high]).astype(np.int64)


def fit_encoders(
    tasks: object, table: TargetTable, classes: Mapping[str, object] | None = None
) -> list[TaskEncoder]:
    """Resolve the tasks against y and fit an encoder for each, in task order.

    Parameters
    ----------
    tasks : None, list of Task or dict
        The estimator's ``tasks`` parameter.
    table : TargetTable
        The columns of y.
    classes : dict of str to array-like, optional
        Class labels of some classification tasks (``partial_fit``).

    Returns
    -------
    list of TaskEncoder
        Fitted as ``TaskEncoder(task, positions).fit(table, classes.get(task.name))``
        fits each: the same kinds, classes, standardisation and errors.
    """
    classes = classes or {}
    resolved = resolve_tasks(tasks, table)
    summary = None
    if table.matrix is not None and any(len(positions) == 1 for _, positions in resolved):
        kinds = any(task.kind in (None, "binary") for task, _ in resolved)
        summary = _MatrixSummary(table.matrix, kinds)
    encoders = []
    for task, positions in resolved:
        encoder = TaskEncoder(task, positions)
        given = classes.get(task.name)
        if summary is None or given is not None or not _fit_from_summary(encoder, table, summary):
            encoder.fit(table, given)
        encoders.append(encoder)
    return encoders


def _fit_from_summary(encoder: TaskEncoder, table: TargetTable, summary: _MatrixSummary) -> bool:
    """Fit a single-column regression or two-class binary task from the summary;
    False (nothing set) for any other task, which its own ``fit`` then handles."""
    task, positions = encoder.task, encoder.positions
    if len(positions) != 1 or not summary.usable(positions[0]):
        return False
    position = positions[0]
    kind = task.kind or summary.inferred_kind(position)
    two_classes = summary.two_classes(position) if kind == "binary" else None
    if kind == "binary" and (two_classes is None or task.class_weight is not None):
        return False
    if kind != "regression" and kind != "binary":
        return False
    column_ids = (table.names[position],) if table.names is not None else positions
    # The declaration with its kind and columns, as ``replace`` in ``fit`` makes it
    # (without validating the unchanged options again).
    fitted = copy.copy(task)
    object.__setattr__(fitted, "kind", kind)
    object.__setattr__(fitted, "columns", column_ids)
    target_kind = kind_of(fitted)  # checks the task's options against the kind
    if getattr(target_kind, "log_link", False):  # positivity checks, and a scale only
        return False
    encoder.column_ids_, encoder.task_ = column_ids, fitted
    encoder.__dict__["_kind_object"] = target_kind
    encoder.classes_ = two_classes
    encoder.class_weight_ = None
    encoder.mean_, encoder.scale_ = 0.0, 1.0
    if kind == "regression":
        mean, std = float(summary.mean[position]), float(summary.std[position])
        encoder.mean_ = mean
        encoder.scale_ = std if std > 1e-12 * max(1.0, abs(mean)) else 1.0
    return True


def encode_targets(encoders: Sequence[TaskEncoder], table: TargetTable) -> np.ndarray:
    """The targets of all tasks side by side: ``np.concatenate([e.encode(table) for e
    in encoders], axis=1)``, with the same values and errors.

    The single-column regression (identity link) and two-class binary tasks whose
    labels are columns of ``table.matrix`` are encoded together, in chunks of rows.
    """
    widths = [encoder.n_targets for encoder in encoders]
    starts = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    encoded = np.empty((table.n_samples, int(starts[-1])), dtype=np.float32)
    together = np.zeros(len(encoders), dtype=bool)
    if table.matrix is not None:
        together = _encode_together(encoders, table.matrix, starts, encoded)
    for index, encoder in enumerate(encoders):
        if not together[index]:
            encoded[:, starts[index] : starts[index + 1]] = encoder.encode(table)
    return encoded


def _encode_together(
    encoders: Sequence[TaskEncoder], matrix: np.ndarray, starts: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Encode the tasks that can be into ``out``; which ones were."""
    regression, binary = [], []
    for index, encoder in enumerate(encoders):
        if encoder.n_targets != 1:
            continue
        if encoder.kind == "regression" and not getattr(encoder.kind_, "log_link", True):
            regression.append(index)
        elif encoder.kind == "binary" and _exact_pair(encoder.classes_):
            binary.append(index)
    done = np.zeros(len(encoders), dtype=bool)
    chunks = _row_chunks(len(matrix), matrix.shape[1])
    if regression:
        columns = [encoders[i].positions[0] for i in regression]
        mean = np.array([encoders[i].mean_ for i in regression])
        scale = np.array([encoders[i].scale_ for i in regression])
        targets = starts[regression]
        for rows in chunks:
            values = _columns_of(matrix[rows], columns)
            _write(out, rows, targets, (values - mean) / scale)
        done[regression] = True
    if binary:
        columns = [encoders[i].positions[0] for i in binary]
        pairs = np.array([encoders[i].classes_ for i in binary], dtype=np.float64)
        known = np.ones(len(binary), dtype=bool)
        targets = starts[binary]
        for rows in chunks:
            values = _columns_of(matrix[rows], columns)
            high = values == pairs[:, 1]
            known &= ((values == pairs[:, 0]) | high | np.isnan(values)).all(axis=0)
            _write(out, rows, targets, high + 0.0 * values)  # NaN stays NaN
        done[np.asarray(binary)[known]] = True  # the others raise in their own encode
    return done


def _write(out: np.ndarray, rows: slice, targets: np.ndarray, values: np.ndarray) -> None:
    """``out[rows, targets] = values``, without a scatter when that is every column."""
    if len(targets) == out.shape[1] and bool(np.all(targets == np.arange(out.shape[1]))):
        out[rows] = values
    else:
        out[rows, targets] = values


def _columns_of(block: np.ndarray, columns: list[int]) -> np.ndarray:
    """``block[:, columns]`` as float64, without a gather when that is every column."""
    if len(columns) == block.shape[1] and columns == list(range(block.shape[1])):
        return block.astype(np.float64, copy=False)
    return block[:, columns].astype(np.float64, copy=False)


def _exact_pair(classes: np.ndarray | None) -> bool:
    """Two integer classes that compare exactly with float64 labels."""
    return (
        classes is not None
        and len(classes) == 2
        and classes.dtype.kind in "iu"
        and bool(np.all(np.abs(classes.astype(np.float64)) < _EXACT))
    )
