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

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ._targets import class_labels, is_exact_as_float, numeric_or_none, unique_labels

if TYPE_CHECKING:
    from .tasks import Task, TaskEncoder

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


def _squared_error(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    return F.mse_loss(output, target, reduction=reduction)


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
    """

    name: ClassVar[str]
    is_classification: ClassVar[bool] = True
    multi_column: ClassVar[bool] = False
    default_metric: ClassVar[str] = "accuracy"
    families: ClassVar[frozenset[str]] = frozenset()
    running_r2: ClassVar[bool] = False

    def __init__(self, task: Task):
        self.task = task

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


@register_kind
class Regression(TargetKind):
    """Real-valued targets, standardised inside the model, squared error."""

    name = "regression"
    is_classification = False
    default_metric = "r2"
    families = frozenset({"regression"})
    running_r2 = True

    def fit(self, encoder, labelled, labels, categorical, classes):
        numeric = numeric_or_none(labelled[0])
        if numeric is None or categorical:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {labels[0]} holds "
                f"non-numeric labels such as {labelled[0][0]!r}."
            )
        if not np.all(np.isfinite(numeric)):
            raise ValueError(f"Task {self.task.name!r}: y {labels[0]} holds infinite values.")
        encoder.mean_ = float(numeric.mean())
        std = float(numeric.std())
        encoder.scale_ = std if std > 1e-12 * max(1.0, abs(encoder.mean_)) else 1.0

    def encode(self, encoder, values, label):
        numeric = numeric_or_none(values)
        if numeric is None:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {label} holds "
                "non-numeric labels."
            )
        return (numeric - encoder.mean_) / encoder.scale_

    def n_outputs(self, encoder):
        return 1

    def loss(self):
        return _squared_error

    def running_prediction(self, output):
        return output

    def predict_encoded(self, encoder, raw):
        return raw[:, 0].astype(np.float64)

    def decode(self, encoder, raw):
        return self.predict_encoded(encoder, raw) * encoder.scale_ + encoder.mean_

    def raw_from_predictions(self, encoder, predictions):
        values = np.asarray(predictions, dtype=np.float64).reshape(-1)
        return ((values - encoder.mean_) / encoder.scale_)[:, None]


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


@register_kind
class Binary(_ClassKind):
    """Two classes: one logit, binary cross-entropy."""

    name = "binary"
    families = frozenset({"classification", "single_label", "binary"})

    def fit(self, encoder, labelled, labels, categorical, classes):
        super().fit(encoder, labelled, labels, categorical, classes)
        if len(encoder.classes_) > 2:
            raise ValueError(
                f"Task {self.task.name!r} is declared binary but y {labels[0]} has "
                f"{len(encoder.classes_)} classes; declare it 'multiclass'."
            )

    def n_outputs(self, encoder):
        return 1

    def loss(self):
        return _binary_cross_entropy

    def running_prediction(self, output):
        return (output > 0).to(output.dtype)

    def predict_encoded(self, encoder, raw):
        return (raw[:, 0] > 0).astype(np.int64)

    def proba(self, encoder, raw):
        positive = _sigmoid(raw[:, 0])
        return np.column_stack([1.0 - positive, positive])

    def positive_score(self, proba):
        return proba[:, 1]

    def raw_from_proba(self, encoder, proba):
        return _logit(np.asarray(proba)[:, 1])[:, None]


def _cross_entropy(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    loss = F.cross_entropy(output, target[:, 0].long(), reduction=reduction)
    return loss if reduction == "mean" else loss[:, None]


@register_kind
class Multiclass(_ClassKind):
    """Three or more unordered classes: one logit per class, cross-entropy."""

    name = "multiclass"

    def n_outputs(self, encoder):
        return len(encoder.classes_)

    def loss(self):
        return _cross_entropy

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
class Multilabel(TargetKind):
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

    def loss(self):
        return _binary_cross_entropy

    def running_prediction(self, output):
        return (output > 0).to(output.dtype)

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
