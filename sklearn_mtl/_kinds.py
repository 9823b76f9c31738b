"""Task kinds: everything that depends on what a target is, one class per kind.

A kind says how labels are learned in ``fit`` (classes, or a standardisation), how
they are encoded as float targets of the network, how wide the task's output is,
which loss trains it, how a raw output becomes a label or probabilities, which score
it gets by default, and which predictions the per-epoch running scores count.

The estimator holds one kind object per task (``TaskEncoder.kind_``), built from the
task's declaration by :func:`kind_of`. Adding a kind is a subclass of
:class:`TargetKind` and one ``@register_kind``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ._targets import class_labels, is_exact_as_float, numeric_or_none, unique_labels
from ._task_losses import (
    REGRESSION_LOSSES,
    AbsoluteError,
    CallableLoss,
    GammaDeviance,
    Huber,
    OrdinalLogLoss,
    Pinball,
    PoissonDeviance,
    QuantileSetLoss,
    SquaredError,
    increasing_quantiles,
    numpy_increasing,
    numpy_ordinal_proba,
    ordinal_log_proba,
)

if TYPE_CHECKING:
    from ._task_encoding import TaskEncoder
    from .tasks import Task

__all__ = ["KIND_CLASSES", "TargetKind", "kind_of", "register_kind"]

TorchLoss = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]
"""``loss(output, target, reduction)``: per element of target (``"none"``) or the mean."""

KIND_CLASSES: dict[str, type[TargetKind]] = {}
"""Kind name -> class, in the order the documentation lists the kinds."""


def register_kind(cls: type[TargetKind]) -> type[TargetKind]:
    """Class decorator: make ``cls`` the kind named ``cls.name``."""
    KIND_CLASSES[cls.name] = cls
    return cls


def kind_of(task: Task) -> TargetKind:
    """The kind object of a task whose kind is known."""
    if task.kind is None:
        raise ValueError(f"Task {task.name!r} has no kind yet (it is inferred in fit).")
    return KIND_CLASSES[task.kind](task)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _binary_cross_entropy(
    output: torch.Tensor, target: torch.Tensor, reduction: str
) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(output, target, reduction=reduction)


class TargetKind:
    """What one kind of target means for the network (subclass and register to add one).

    Parameters
    ----------
    task : Task
        The task's declaration (its options, such as a loss, live there).

    Attributes
    ----------
    name : str
        The kind's name, as written in ``Task(name, kind)``.
    is_classification : bool
        Whether the task predicts classes (it then has ``classes_`` and probabilities).
    multi_column : bool
        Whether the task may span several columns of y.
    default_metric : str
        The score of ``score``, ``score_tasks`` and the history unless the task sets one.
    families : frozenset of str
        Which metrics of :data:`sklearn_mtl.metrics.METRICS` apply: each metric names
        the family it needs (``"regression"``, ``"classification"``,
        ``"single_label"``, ``"binary"``, ``"multilabel"``).
    running_r2 : bool
        Whether the per-epoch running score is R² (else the share of hits).
    max_classes : int or None
        The most classes a single-column classification kind takes (None: no limit).
    """

    name: ClassVar[str]
    is_classification: ClassVar[bool] = True
    multi_column: ClassVar[bool] = False
    default_metric: ClassVar[str] = "accuracy"
    families: ClassVar[frozenset[str]] = frozenset()
    running_r2: ClassVar[bool] = False
    max_classes: ClassVar[int | None] = None

    def __init__(self, task: Task):
        self.task = task
        self.check(task)
        if task.metric is not None:
            from .metrics import _metric_spec

            _metric_spec(task.metric, self, task.name)

    def check(self, task: Task) -> None:
        """Raise a ValueError when the task's options do not fit the kind."""
        for option, default in (("huber_delta", 1.0), ("quantile", None), ("quantiles", None)):
            if getattr(task, option) != default:
                raise ValueError(
                    f"Task {task.name!r}: {option} is a regression option; the task is {self.name}."
                )
        if isinstance(task.loss, str) and task.loss != "log_loss":
            raise ValueError(
                f"Task {task.name!r} is a {self.name} task: its loss is 'log_loss' or a "
                f"callable; got {task.loss!r}."
            )
        if task.class_weight is not None and self.multi_column:
            raise ValueError(
                f"Task {task.name!r}: class_weight applies to binary, multiclass and "
                f"ordinal tasks, not {self.name} tasks."
            )

    def _loss_or(self, default: Callable) -> Callable:
        """The user's callable loss when there is one, else ``default``."""
        if callable(self.task.loss):
            return CallableLoss(self.task.loss, self.task.name)
        return default

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task.name!r})"

    # -- fit and encoding ---------------------------------------------------------
    def fit(
        self,
        encoder: TaskEncoder,
        labelled: list[np.ndarray],
        labels: list[str],
        categorical: bool,
        classes: object,
    ) -> None:
        """Learn the encoding (``classes_`` or ``mean_``/``scale_``) on ``encoder``."""
        raise NotImplementedError

    def encode(self, encoder: TaskEncoder, values: np.ndarray, label: str) -> np.ndarray:
        """Float targets of one column's present labels."""
        raise NotImplementedError

    def n_outputs(self, encoder: TaskEncoder) -> int:
        """Width of the task's network output."""
        raise NotImplementedError

    # -- training -----------------------------------------------------------------
    def loss(self) -> TorchLoss:
        """The task's loss ``(output, target, reduction)``."""
        raise NotImplementedError

    def running_prediction(self, output: torch.Tensor) -> torch.Tensor:
        """The prediction the running scores count, in target space, one per target column."""
        raise NotImplementedError

    def loss_group_key(self) -> object:
        """A key shared by tasks whose losses may be evaluated together, or None.

        Tasks with equal keys must have the same loss and running prediction, both
        acting on each output column alone (one output per target column): the
        criterion then evaluates them with one call per batch on their outputs side by
        side. None (the default) keeps the task's loss a call of its own.
        """
        return None

    # -- decoding -----------------------------------------------------------------
    def predict_encoded(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> predictions in target space (class index, 0/1, standardised)."""
        raise NotImplementedError

    def decode(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> predictions in label space: (n,), or (n, k) for several columns."""
        raise NotImplementedError

    def proba(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> class probabilities."""
        raise ValueError(f"Task {self.task.name!r} is a {self.name} task: it has no probabilities.")

    def positive_score(self, proba: np.ndarray) -> np.ndarray:
        """The probabilities a ranking metric (ROC AUC, average precision) reads."""
        return proba

    # -- outputs of another estimator, for baselines --------------------------------
    def raw_from_predictions(self, encoder: TaskEncoder, predictions: np.ndarray) -> np.ndarray:
        """Raw outputs that decode to ``predictions`` (target space, as fitted on)."""
        raise NotImplementedError

    def raw_from_proba(self, encoder: TaskEncoder, proba: np.ndarray) -> np.ndarray:
        """Raw outputs whose probabilities are ``proba``."""
        raise NotImplementedError


def _cross_entropy(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    loss = F.cross_entropy(output, target[:, 0].long(), reduction=reduction)
    return loss if reduction == "mean" else loss[:, None]


@register_kind
class Regression(TargetKind):
    """Real-valued targets, standardised inside the model; a choice of losses.

    With ``loss="poisson"`` or ``"gamma"`` the target is divided by its mean instead
    (no shift) and the output is the log of the prediction. With ``quantiles`` the
    outputs are ``[point]`` (only when ``loss`` is given) and one per quantile.
    """

    name = "regression"
    is_classification = False
    default_metric = "r2"
    families = frozenset({"regression"})
    running_r2 = True

    def check(self, task):
        loss = "squared_error" if task.loss is None else task.loss
        if isinstance(loss, str) and loss not in REGRESSION_LOSSES:
            raise ValueError(
                f"Task {task.name!r} has unknown loss {loss!r} for a regression task; "
                f"expected one of {REGRESSION_LOSSES} or a callable."
            )
        if task.class_weight is not None:
            raise ValueError(
                f"Task {task.name!r}: class_weight applies to classification tasks only."
            )
        if task.quantile is not None and loss != "quantile":
            raise ValueError(f"Task {task.name!r}: quantile= goes with loss='quantile'.")
        if task.quantiles is not None:
            if loss == "quantile":
                raise ValueError(
                    f"Task {task.name!r}: give either loss='quantile' (one quantile) or "
                    "quantiles=(...), not both."
                )
            if callable(loss):
                raise ValueError(
                    f"Task {task.name!r}: a callable loss cannot be combined with quantiles."
                )
            if task.loss is None and 0.5 not in task.quantiles:
                raise ValueError(
                    f"Task {task.name!r}: predict returns the 0.5 quantile, which is not in "
                    f"quantiles={task.quantiles}; add 0.5, or set loss= to keep a point output."
                )
        self.loss_name = loss
        self.log_link = loss in ("poisson", "gamma")
        self.levels = task.quantiles
        self.has_point = self.levels is None or task.loss is not None

    def fit(self, encoder, labelled, labels, categorical, classes):
        numeric = numeric_or_none(labelled[0])
        if numeric is None or categorical:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {labels[0]} holds "
                f"non-numeric labels such as {labelled[0][0]!r}."
            )
        if not np.all(np.isfinite(numeric)):
            raise ValueError(f"Task {self.task.name!r}: y {labels[0]} holds infinite values.")
        if self.log_link:
            self._check_positive(numeric, labels[0])
            encoder.mean_, encoder.scale_ = 0.0, float(numeric.mean())
            return
        # mean and standard deviation of numeric / its largest magnitude, scaled back:
        # no overflow for labels near float64's limit (the square of 1e300 is inf)
        magnitude = float(np.abs(numeric).max())
        unit = numeric / magnitude if magnitude > 0 else numeric
        encoder.mean_ = float(unit.mean()) * (magnitude or 1.0)
        std = float(unit.std()) * (magnitude or 1.0)
        if not (math.isfinite(encoder.mean_) and math.isfinite(std)):
            raise ValueError(
                f"Task {self.task.name!r}: y {labels[0]} holds labels too large to "
                f"standardise (largest magnitude {magnitude:.3g}); rescale them."
            )
        encoder.scale_ = std if std > 1e-12 * max(1.0, abs(encoder.mean_)) else 1.0

    def _check_positive(self, numeric: np.ndarray, label: str) -> None:
        if self.loss_name == "poisson":
            bad = numeric < 0
            if bad.any() or not (numeric > 0).any():
                raise ValueError(
                    f"Task {self.task.name!r} has loss='poisson', which needs targets >= 0 "
                    f"and not all 0; y {label} holds {numeric[bad][:3].tolist() or [0.0]}."
                )
        elif (bad := numeric <= 0).any():
            raise ValueError(
                f"Task {self.task.name!r} has loss='gamma', which needs targets > 0; "
                f"y {label} holds {numeric[bad][:3].tolist()}."
            )

    def encode(self, encoder, values, label):
        numeric = numeric_or_none(values)
        if numeric is None:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {label} holds "
                "non-numeric labels."
            )
        if self.log_link:
            self._check_positive(numeric, label)
        return (numeric - encoder.mean_) / encoder.scale_

    def n_outputs(self, encoder):
        return int(self.has_point) + (0 if self.levels is None else len(self.levels))

    def _point_loss(self):
        name, task = self.loss_name, self.task
        if callable(name):
            return CallableLoss(name, task.name)
        return {
            "squared_error": SquaredError,
            "absolute_error": AbsoluteError,
            "huber": lambda: Huber(task.huber_delta),
            "poisson": PoissonDeviance,
            "gamma": GammaDeviance,
            "quantile": lambda: Pinball(0.5 if task.quantile is None else task.quantile),
        }[name]()

    def loss(self):
        if self.levels is None:
            return self._point_loss()
        return QuantileSetLoss(self.levels, self._point_loss() if self.has_point else None)

    @property
    def _median(self) -> int:
        assert self.levels is not None
        return self.levels.index(0.5)

    def loss_group_key(self):
        if self.levels is not None or callable(self.loss_name):
            return None
        return ("regression", self.loss_name, self.task.huber_delta, self.task.quantile)

    def running_prediction(self, output):
        if self.levels is None:  # one output per target column (also for a loss group)
            return torch.exp(output.clamp(max=30.0)) if self.log_link else output
        if self.has_point:
            point = output[:, :1]
            return torch.exp(point.clamp(max=30.0)) if self.log_link else point
        return increasing_quantiles(output)[:, self._median : self._median + 1]

    def predict_encoded(self, encoder, raw):
        raw = np.asarray(raw, dtype=np.float64)
        if self.has_point:
            return np.exp(np.minimum(raw[:, 0], 30.0)) if self.log_link else raw[:, 0]
        return self.quantiles_encoded(raw)[:, self._median]

    def quantiles_encoded(self, raw: np.ndarray) -> np.ndarray:
        """The quantile outputs, increasing, in target space (n, n_quantiles)."""
        raw = np.asarray(raw, dtype=np.float64)
        return numpy_increasing(raw[:, int(self.has_point) :])

    def decode(self, encoder, raw):
        return self.predict_encoded(encoder, raw) * encoder.scale_ + encoder.mean_

    def raw_from_predictions(self, encoder, predictions):
        values = np.asarray(predictions, dtype=np.float64).reshape(-1)
        encoded = (values - encoder.mean_) / encoder.scale_
        if self.log_link:
            encoded = np.log(np.maximum(encoded, 1e-12))
        columns = [encoded[:, None]]
        if self.levels is not None:  # every quantile at the prediction
            steps = np.full((len(values), len(self.levels) - 1), -30.0)
            columns.append(np.column_stack([encoded, steps]))
        return np.column_stack(columns) if self.has_point else columns[1]


class _ClassKind(TargetKind):
    """Single-column classes: labels learned in fit, class indices as targets."""

    families = frozenset({"classification", "single_label"})

    def fit(self, encoder, labelled, labels, categorical, classes):
        name = self.task.name
        if classes is not None:
            found = class_labels(name, labelled[0])
            encoder.classes_ = class_labels(name, np.asarray(classes))
            unknown = np.setdiff1d(found, encoder.classes_)
            if len(unknown):
                raise ValueError(
                    f"Task {name!r}: labels {unknown.tolist()} are not among the "
                    f"classes given ({encoder.classes_.tolist()})."
                )
        else:
            encoder.classes_ = class_labels(name, labelled[0])
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"Task {name!r} has one class only ({encoder.classes_.tolist()}) in "
                f"y {labels[0]}; a classification task needs at least 2 classes."
            )
        self.check_classes(encoder, labels[0])
        encoder.class_weight_ = self._class_weight(encoder, labelled[0], labels[0])

    def check_classes(self, encoder: TaskEncoder, label: str) -> None:
        """Raise a ValueError when the number of classes does not fit the kind."""

    def _class_weight(self, encoder, labelled, label) -> np.ndarray | None:
        weights = self.task.class_weight
        if weights is None:
            return None
        n_classes = len(encoder.classes_)
        if isinstance(weights, str):  # "balanced"
            counts = np.bincount(self.encode(encoder, labelled, label), minlength=n_classes)
            return len(labelled) / (n_classes * np.maximum(counts, 1.0))
        table = np.ones(n_classes)
        for key, weight in weights.items():
            try:
                index = self.encode(encoder, np.asarray([key], dtype=object), "class_weight")
            except ValueError:
                raise ValueError(
                    f"Task {self.task.name!r}: class_weight names the label {key!r}, which is "
                    f"not a class of the task ({encoder.classes_.tolist()})."
                ) from None
            table[int(index[0])] = float(weight)
        return table

    def encode(self, encoder, values, label):
        classes = encoder.classes_
        numeric = numeric_or_none(values)
        if numeric is not None and is_exact_as_float(classes):
            indices = np.clip(np.searchsorted(classes, numeric), 0, len(classes) - 1)
            known = classes[indices] == numeric
        else:
            lookup = {label_: index for index, label_ in enumerate(classes.tolist())}
            indices = np.fromiter((lookup.get(v, -1) for v in values.tolist()), np.int64)
            known = indices >= 0
        if not np.all(known):
            unknown = unique_labels(self.task.name, values[~known])
            raise ValueError(
                f"Task {self.task.name!r}: y {label} holds labels {unknown[:5].tolist()} "
                f"that were not seen in fit (classes: {classes.tolist()})."
            )
        return indices

    def decode(self, encoder, raw):
        return encoder.classes_[self.predict_encoded(encoder, raw)]

    def raw_from_predictions(self, encoder, predictions):
        indices = np.asarray(predictions).astype(np.int64).reshape(-1)
        return self.raw_from_proba(encoder, np.eye(len(encoder.classes_))[indices])


class _LogitColumns(TargetKind):
    """One logit per output column, binary cross-entropy (binary and multilabel tasks)."""

    def loss(self):
        return self._loss_or(_binary_cross_entropy)

    def running_prediction(self, output):
        return (output > 0).to(output.dtype)

    def loss_group_key(self):
        plain = not callable(self.task.loss) and self.task.class_weight is None
        return (self.name,) if plain else None


@register_kind
class Binary(_LogitColumns, _ClassKind):
    """Two classes: one logit, binary cross-entropy."""

    name = "binary"
    families = frozenset({"classification", "single_label", "binary"})
    max_classes = 2

    def check_classes(self, encoder, label):
        if len(encoder.classes_) > 2:
            raise ValueError(
                f"Task {self.task.name!r} is declared binary but y {label} has "
                f"{len(encoder.classes_)} classes; declare it 'multiclass'."
            )

    def n_outputs(self, encoder):
        return 1

    def predict_encoded(self, encoder, raw):
        return (raw[:, 0] > 0).astype(np.int64)

    def proba(self, encoder, raw):
        positive = _sigmoid(raw[:, 0])
        return np.column_stack([1.0 - positive, positive])

    def positive_score(self, proba):
        return proba[:, 1]

    def raw_from_proba(self, encoder, proba):
        return _logit(np.asarray(proba)[:, 1])[:, None]


@register_kind
class Multiclass(_ClassKind):
    """Three or more unordered classes: one logit per class, cross-entropy."""

    name = "multiclass"

    def n_outputs(self, encoder):
        return len(encoder.classes_)

    def loss(self):
        return self._loss_or(_cross_entropy)

    def running_prediction(self, output):
        return output.argmax(dim=1, keepdim=True).to(output.dtype)

    def predict_encoded(self, encoder, raw):
        return raw.argmax(axis=1)

    def proba(self, encoder, raw):
        shifted = raw - raw.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def raw_from_proba(self, encoder, proba):
        return np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, None))


@register_kind
class Multilabel(_LogitColumns):
    """Several 0/1 columns: one logit per label, binary cross-entropy per column."""

    name = "multilabel"
    multi_column = True
    default_metric = "hamming_score"
    families = frozenset({"classification", "multilabel"})

    def fit(self, encoder, labelled, labels, categorical, classes):
        for values, label in zip(labelled, labels, strict=True):
            self.encode(encoder, values, label)
        encoder.classes_ = np.asarray(encoder.column_ids_, dtype=object)

    def encode(self, encoder, values, label):
        is_binary = values.dtype == bool or (
            values.dtype.kind == "O" and all(isinstance(v, bool | np.bool_) for v in values)
        )
        numeric = values.astype(np.float64) if is_binary else numeric_or_none(values)
        if numeric is None or not np.all(np.isin(numeric, (0.0, 1.0))):
            raise ValueError(
                f"Task {self.task.name!r} is multilabel, so y {label} must hold 0/1 or "
                f"booleans; found {unique_labels(self.task.name, values)[:5].tolist()}."
            )
        return numeric

    def n_outputs(self, encoder):
        return len(encoder.positions)

    def predict_encoded(self, encoder, raw):
        return (raw > 0).astype(np.int64)

    def decode(self, encoder, raw):
        return self.predict_encoded(encoder, raw)

    def proba(self, encoder, raw):
        return _sigmoid(raw)

    def raw_from_predictions(self, encoder, predictions):
        return np.where(np.asarray(predictions) > 0.5, 1.0, -1.0)

    def raw_from_proba(self, encoder, proba):
        return _logit(proba)


@register_kind
class Ordinal(_ClassKind):
    """Ordered classes (ratings, grades): a cumulative-logit model.

    With K classes in their sorted order, the K-1 outputs give decreasing logits
    ``c_k`` of ``P(y >= k)`` (the first output, then positive decrements), so the
    cumulative probabilities never cross; the loss is the negative log-likelihood of
    the class probabilities ``P(y = k) = s(c_k) - s(c_{k+1})``. ``predict`` returns
    the most probable class.
    """

    name = "ordinal"
    families = frozenset({"classification", "single_label", "ordinal"})

    def n_outputs(self, encoder):
        return len(encoder.classes_) - 1

    def loss(self):
        return self._loss_or(OrdinalLogLoss())

    def running_prediction(self, output):
        return ordinal_log_proba(output).argmax(dim=1, keepdim=True).to(output.dtype)

    def predict_encoded(self, encoder, raw):
        return self.proba(encoder, raw).argmax(axis=1)

    def proba(self, encoder, raw):
        return numpy_ordinal_proba(raw)

    def raw_from_proba(self, encoder, proba):
        proba = np.clip(np.asarray(proba, dtype=np.float64), 1e-9, None)
        proba = proba / proba.sum(axis=1, keepdims=True)
        at_least = np.clip(1.0 - np.cumsum(proba, axis=1)[:, :-1], 1e-9, 1 - 1e-9)
        logits = np.log(at_least) - np.log1p(-at_least)
        gaps = np.maximum(logits[:, :-1] - logits[:, 1:], 1e-6)
        return np.column_stack([logits[:, :1], np.log(np.expm1(gaps))])
