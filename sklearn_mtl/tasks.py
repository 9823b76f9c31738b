"""Tasks: what each target is, and how its labels are encoded for the network.

A :class:`Task` is the user's declaration (name, kind, columns of y). At fit, the
estimator resolves the declarations against y (``resolve_tasks``), inferring kinds
where none was given, and fits one ``TaskEncoder`` per task, which turns labels into
the float targets of the network and the network's outputs back into labels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace

import numpy as np

from ._kinds import KIND_CLASSES, TargetKind, kind_of
from ._targets import (
    TargetTable,
    check_finite_labels,
    missing_mask,
    numeric_or_none,
    unique_labels,
)

# The public name; the encoder, the resolution of tasks against y and the constants
# are the package's own (the documentation quotes the constants).
__all__ = ["Task"]

KINDS = tuple(KIND_CLASSES)
"""The task kinds, in the order the documentation lists them."""

MAX_INFERRED_CLASSES = 20
"""Integer-valued columns with at most this many distinct labels are inferred as classes."""

DEFAULT_METRICS = {name: cls.default_metric for name, cls in KIND_CLASSES.items()}
"""The score of each kind used by ``score``, ``score_tasks`` and early stopping."""


@dataclass(frozen=True, repr=False)
class Task:
    """One prediction target of a multi-task model.

    Parameters
    ----------
    name : str
        Name of the task: the key of ``task_weights``, of ``score_tasks`` and of the
        history entries. By default also the name of its column in a DataFrame y.
    kind : {"regression", "binary", "multiclass", "multilabel", "ordinal"} or None, \
default=None
        What the task predicts. None infers it from the labels at fit (not possible for
        multilabel and ordinal tasks, which must be declared). An ordinal task has
        ordered classes (ratings, grades), in the sorted order of its labels.
    columns : str, int or sequence of str or int, default=None
        The columns of y that hold the task's labels: names of a DataFrame y or integer
        positions. None takes the column named ``name`` in a DataFrame y, else the next
        column not claimed by another task. A multilabel task spans several 0/1 columns.
    depth : int, default=None
        For architectures that support it, the depth of the shared trunk at which the
        task's head is attached (1 = after the first hidden layer); None is the top.
    inputs_from : sequence of str, default=None
        For architectures that support it, names of earlier tasks whose outputs this
        task's head also receives (task chains).
    loss : str or callable, default=None
        The task's loss; None is the kind's default. Regression: ``"squared_error"``
        (the default), ``"absolute_error"``, ``"huber"`` (see ``huber_delta``),
        ``"poisson"`` and ``"gamma"`` (log link: predictions are positive; Poisson
        needs targets >= 0, gamma targets > 0), ``"quantile"`` (see ``quantile``).
        Classification: ``"log_loss"`` (the default). A callable
        ``loss(output, target, mask) -> per-row loss`` (torch tensors; see the user
        guide) replaces the loss of any kind; the task is then picklable when the
        callable is, but ``save`` cannot store it.
    huber_delta : float, default=1.0
        Where the Huber loss turns from squared to absolute error, in standard
        deviations of the target (regression targets are standardised in the model).
    quantile : float, default=None
        The quantile in (0, 1) that ``loss="quantile"`` predicts; None is 0.5.
    quantiles : sequence of float, default=None
        Regression only: train one output per quantile (increasing values in (0, 1))
        with the pinball loss, never crossing. ``predict_quantiles`` returns them;
        ``predict`` returns the 0.5 quantile, which must then be among them, unless
        ``loss`` is also given, which keeps a point output trained with that loss.
    class_weight : "balanced" or dict, default=None
        Binary, multiclass and ordinal tasks: weights of the classes in the task's
        loss, multiplied with ``sample_weight``. ``"balanced"`` weighs each class by
        ``n_samples / (n_classes * count)`` in the training labels; a dict maps labels
        to weights (labels left out weigh 1).
    metric : str, default=None
        The task's score in ``score``, ``score_tasks``, early stopping and the history:
        a name of :data:`sklearn_mtl.metrics.METRICS` that fits the kind (for
        example ``"neg_mean_absolute_error"``, ``"roc_auc"``, ``"balanced_accuracy"``,
        ``"f1"``). None is the kind's default (R², accuracy, 1 - Hamming loss).

    See Also
    --------
    MultiTaskNetEstimator : the estimator that takes a list of tasks.

    Examples
    --------
    >>> from sklearn_mtl import Task
    >>> Task("prefs", "multilabel", columns=["books", "music"])
    Task(name='prefs', kind='multilabel', columns=('books', 'music'))
    """

    name: str
    kind: str | None = None
    columns: tuple[str | int, ...] | None = None
    depth: int | None = None
    inputs_from: tuple[str, ...] = field(default=())
    loss: str | Callable | None = None
    huber_delta: float = 1.0
    quantile: float | None = None
    quantiles: tuple[float, ...] | None = None
    class_weight: str | dict | None = field(default=None, hash=False)
    metric: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"A task name must be a non-empty string; got {self.name!r}.")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(
                f"Task {self.name!r} has unknown kind {self.kind!r}; expected one of {KINDS}."
            )
        if self.columns is not None:
            columns = self.columns
            if isinstance(columns, str | int | np.integer):
                columns = (columns,)
            columns = tuple(
                int(c) if isinstance(c, np.integer) else c
                for c in columns  # type: ignore[union-attr]
            )
            for column in columns:
                if not isinstance(column, str | int) or isinstance(column, bool):
                    raise TypeError(
                        f"Task {self.name!r}: columns must be names (str) or positions "
                        f"(int); got {column!r}."
                    )
            if not columns:
                raise ValueError(f"Task {self.name!r} has an empty list of columns.")
            object.__setattr__(self, "columns", columns)
        if self.depth is not None and (
            isinstance(self.depth, bool) or not isinstance(self.depth, int | np.integer)
        ):
            raise TypeError(f"Task {self.name!r}: depth must be an int; got {self.depth!r}.")
        inputs_from = self.inputs_from or ()
        if isinstance(inputs_from, str):
            inputs_from = (inputs_from,)
        object.__setattr__(self, "inputs_from", tuple(inputs_from))
        if self.quantiles is not None:
            if isinstance(self.quantiles, str) or not isinstance(self.quantiles, Iterable):
                raise TypeError(
                    f"Task {self.name!r}: quantiles must be a sequence of numbers; "
                    f"got {self.quantiles!r}."
                )
            object.__setattr__(self, "quantiles", tuple(self.quantiles))
        if isinstance(self.class_weight, Mapping):
            object.__setattr__(self, "class_weight", dict(self.class_weight))
        check_options(self)
        if self.kind is not None:
            kind_of(self)  # checks the options against the kind

    def __repr__(self) -> str:
        """The name, and the other fields that differ from their defaults."""
        shown = [f"name={self.name!r}"]
        for spec in fields(self)[1:]:
            value = getattr(self, spec.name)
            default = spec.default if spec.default_factory is MISSING else spec.default_factory()
            if value != default:
                shown.append(f"{spec.name}={value!r}")
        return f"Task({', '.join(shown)})"

    @property
    def is_classification(self) -> bool:
        """Whether the task predicts classes (every kind but regression)."""
        return self.kind is not None and KIND_CLASSES[self.kind].is_classification


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_options(task: Task) -> None:
    """Check the task's options whatever its kind (types and ranges)."""
    name = task.name
    if task.loss is not None and not (isinstance(task.loss, str) or callable(task.loss)):
        raise TypeError(f"Task {name!r}: loss must be a string or a callable; got {task.loss!r}.")
    delta = task.huber_delta
    if not _is_number(delta) or not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"Task {name!r}: huber_delta must be a positive number; got {delta!r}.")
    if task.quantile is not None and (not _is_number(task.quantile) or not 0 < task.quantile < 1):
        raise ValueError(
            f"Task {name!r}: quantile must be a number in (0, 1); got {task.quantile!r}."
        )
    if task.quantiles is not None:
        levels = task.quantiles
        if not levels or not all(_is_number(q) and 0 < q < 1 for q in levels):
            raise ValueError(f"Task {name!r}: quantiles must be numbers in (0, 1); got {levels!r}.")
        if any(b <= a for a, b in itertools.pairwise(levels)):
            raise ValueError(
                f"Task {name!r}: quantiles must be strictly increasing; got {levels!r}."
            )
    weights = task.class_weight
    if weights is not None and weights != "balanced":
        if not isinstance(weights, dict):
            raise TypeError(
                f"Task {name!r}: class_weight must be 'balanced' or a dict {{label: weight}}; "
                f"got {weights!r}."
            )
        for label, weight in weights.items():
            if not _is_number(weight) or not np.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"Task {name!r}: class_weight[{label!r}] must be a number >= 0; got {weight!r}."
                )
    if task.metric is not None:
        from .metrics import METRICS

        if not isinstance(task.metric, str) or task.metric not in METRICS:
            raise ValueError(
                f"Task {name!r}: unknown metric {task.metric!r}; expected one of {sorted(METRICS)}."
            )


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
        if kind is None:
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
