"""The classification kinds: binary, multiclass, multilabel, ordinal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._targets import class_labels, is_exact_as_float, numeric_or_none, unique_labels
from .._task_losses import (
    OrdinalLogLoss,
    SmoothedBinaryCrossEntropy,
    SmoothedCrossEntropy,
    numpy_ordinal_proba,
    ordinal_log_proba,
)
from ._base import (
    TargetKind,
    _binary_cross_entropy,
    _cross_entropy,
    _logit,
    _sigmoid,
    register_kind,
)

if TYPE_CHECKING:
    from .._task_encoding import TaskEncoder


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
        if self.label_smoothing:
            return self._loss_or(SmoothedBinaryCrossEntropy(self.label_smoothing))
        return self._loss_or(_binary_cross_entropy)

    def running_prediction(self, output):
        return (output > 0).to(output.dtype)

    def loss_group_key(self):
        plain = not callable(self.task.loss) and self.task.class_weight is None
        if not plain:
            return None
        return (self.name, self.label_smoothing) if self.label_smoothing else (self.name,)


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
        if self.label_smoothing:
            return self._loss_or(SmoothedCrossEntropy(self.label_smoothing))
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
        return self._loss_or(OrdinalLogLoss(self.label_smoothing))

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
