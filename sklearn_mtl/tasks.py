"""Tasks: what each target is.

A :class:`Task` is the user's declaration (name, kind, columns of y). At fit, the
estimator resolves the declarations against y, inferring kinds where none was given,
and fits one encoder per task, which turns labels into the float targets of the
network and the network's outputs back into labels (both in the private
``sklearn_mtl._task_encoding``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np

from ._kinds import KIND_CLASSES, kind_of

# The public name; the constants are the package's own (the documentation quotes them).
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


def __getattr__(name: str) -> Any:
    """``TaskEncoder`` and ``resolve_tasks`` moved to ``sklearn_mtl._task_encoding``:
    estimators pickled before the move name ``sklearn_mtl.tasks.TaskEncoder``."""
    if name in ("TaskEncoder", "resolve_tasks"):
        from . import _task_encoding

        return getattr(_task_encoding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
