"""Per-task scores of a fitted multi-task model, and scorers for model selection.

Missing labels (NaN/None) are left out of every score. For a multilabel task,
``"hamming_score"`` (1 - Hamming loss) leaves out single missing entries; the other
metrics leave out the rows with any missing label.

Examples
--------
>>> import numpy as np
>>> from sklearn.model_selection import cross_validate
>>> from sklearn_mtl import MultiTaskNetEstimator
>>> from sklearn_mtl.metrics import make_task_scorer
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(120, 4))
>>> y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=120), X[:, 1] > 0])
>>> est = MultiTaskNetEstimator(tasks={"amount": "regression", "flag": "binary"},
...                             hidden_layer_sizes=(16,), max_epochs=20, random_state=0)
>>> scoring = {"amount_r2": make_task_scorer("amount"),
...            "flag_auc": make_task_scorer("flag", "roc_auc")}
>>> result = cross_validate(est, X, y, cv=3, scoring=scoring)
>>> sorted(k for k in result if k.startswith("test_"))
['test_amount_r2', 'test_flag_auc']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import get_config
from sklearn import metrics as skm
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from ._kinds import KIND_CLASSES, TargetKind
from ._targets import TargetTable, missing_mask
from ._task_encoding import TaskEncoder
from ._unwrap import fitted_estimator
from .tasks import Task

__all__ = [
    "METRICS",
    "TaskWithoutLabelWarning",
    "UnseenLabelWarning",
    "make_task_scorer",
]

# Metrics of the positive class only: an unseen label counts as a negative row.
_POSITIVE_CLASS_ONLY = frozenset({"f1", "precision", "recall"})


class TaskWithoutLabelWarning(UserWarning):
    """``score`` left out tasks without any label in the rows scored."""


class UnseenLabelWarning(UserWarning):
    """Scored labels include classes not seen in fit; they count as wrong predictions."""


def _hamming_score(y_true, y_pred, sample_weight=None):
    return 1.0 - skm.hamming_loss(y_true, y_pred, sample_weight=sample_weight)


def _roc_auc(y_true, proba, sample_weight=None, *, kind):
    score = kind.positive_score(proba)
    if kind.multi_column:
        return skm.roc_auc_score(y_true, score, average="macro", sample_weight=sample_weight)
    if score.ndim == 1:
        return skm.roc_auc_score(y_true, score, sample_weight=sample_weight)
    return skm.roc_auc_score(
        y_true,
        score,
        multi_class="ovr",
        sample_weight=sample_weight,
        labels=np.arange(score.shape[1]),
    )


def _average_precision(y_true, proba, sample_weight=None, *, kind):
    return skm.average_precision_score(
        y_true, kind.positive_score(proba), sample_weight=sample_weight
    )


def _log_loss(y_true, proba, sample_weight=None, *, kind):
    labels = np.arange(proba.shape[1])
    return -skm.log_loss(y_true, proba, sample_weight=sample_weight, labels=labels)


def _negate(metric):
    def negated(y_true, y_pred, sample_weight=None):
        return -metric(y_true, y_pred, sample_weight=sample_weight)

    return negated


@dataclass(frozen=True)
class _Metric:
    """A score, what it reads, and the family of kinds it applies to.

    ``family`` names one or several of the kinds' ``families`` (``"regression"``,
    ``"classification"``, ``"single_label"``, ``"binary"``, ``"multilabel"``): the
    metric applies to a kind that has one of them.
    """

    function: Callable
    response: str  # "predict" or "proba"
    family: str | tuple[str, ...]
    needs_kind: bool = False

    def applies_to(self, kind: TargetKind) -> bool:
        """Whether the metric fits a task of this kind."""
        family = (self.family,) if isinstance(self.family, str) else self.family
        return not kind.families.isdisjoint(family)


METRICS: dict[str, _Metric] = {
    "r2": _Metric(skm.r2_score, "predict", "regression"),
    "explained_variance": _Metric(skm.explained_variance_score, "predict", "regression"),
    "neg_mean_squared_error": _Metric(_negate(skm.mean_squared_error), "predict", "regression"),
    "neg_root_mean_squared_error": _Metric(
        _negate(skm.root_mean_squared_error), "predict", "regression"
    ),
    "neg_mean_absolute_error": _Metric(_negate(skm.mean_absolute_error), "predict", "regression"),
    "accuracy": _Metric(skm.accuracy_score, "predict", "classification"),
    "balanced_accuracy": _Metric(skm.balanced_accuracy_score, "predict", "single_label"),
    "hamming_score": _Metric(_hamming_score, "predict", "classification"),
    "f1": _Metric(skm.f1_score, "predict", "binary"),
    "precision": _Metric(skm.precision_score, "predict", "binary"),
    "recall": _Metric(skm.recall_score, "predict", "binary"),
    "roc_auc": _Metric(_roc_auc, "proba", "classification", needs_kind=True),
    "average_precision": _Metric(
        _average_precision, "proba", ("binary", "multilabel"), needs_kind=True
    ),
    "neg_log_loss": _Metric(_log_loss, "proba", "single_label", needs_kind=True),
}
for _average in ("macro", "micro", "weighted"):
    METRICS[f"f1_{_average}"] = _Metric(
        lambda y, p, sample_weight=None, _a=_average: skm.f1_score(
            y, p, average=_a, sample_weight=sample_weight, zero_division=0.0
        ),
        "predict",
        "classification",
    )
for _average in ("macro", "micro", "weighted"):
    for _name, _function in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        METRICS[f"{_name}_{_average}"] = _Metric(
            lambda y, p, sample_weight=None, _a=_average, _f=_function: _f(
                y, p, average=_a, sample_weight=sample_weight, zero_division=0.0
            ),
            "predict",
            "classification",
        )
for _name, _function in (
    ("neg_mean_poisson_deviance", skm.mean_poisson_deviance),
    ("neg_mean_gamma_deviance", skm.mean_gamma_deviance),
    ("neg_median_absolute_error", skm.median_absolute_error),
    ("neg_mean_absolute_percentage_error", skm.mean_absolute_percentage_error),
    ("neg_mean_squared_log_error", skm.mean_squared_log_error),
):
    METRICS[_name] = _Metric(_negate(_function), "predict", "regression")
METRICS["d2_absolute_error_score"] = _Metric(skm.d2_absolute_error_score, "predict", "regression")
METRICS["matthews_corrcoef"] = _Metric(skm.matthews_corrcoef, "predict", "single_label")
METRICS["jaccard"] = _Metric(skm.jaccard_score, "predict", "binary")
METRICS["neg_brier_score"] = _Metric(
    lambda y, proba, sample_weight=None, *, kind: (
        -skm.brier_score_loss(y, kind.positive_score(proba), sample_weight=sample_weight)
    ),
    "proba",
    "binary",
    needs_kind=True,
)
METRICS["f1_samples"] = _Metric(
    lambda y, p, sample_weight=None: skm.f1_score(
        y, p, average="samples", sample_weight=sample_weight, zero_division=0.0
    ),
    "predict",
    "multilabel",
)


def _encoded_arrays(encoder: TaskEncoder, targets: np.ndarray, outputs: np.ndarray, metric: str):
    """True labels, raw outputs and the row/entry mask of one task from encoded targets."""
    kind = encoder.kind_
    if not kind.is_classification:
        present = ~np.isnan(targets[:, 0])
        truth = targets[present, 0].astype(np.float64) * encoder.scale_ + encoder.mean_
        return truth, outputs[present], present
    if kind.multi_column:
        missing = np.isnan(targets)
        if metric == "hamming_score":
            return targets, outputs, ~missing
        rows = ~missing.any(axis=1)
        return targets[rows].astype(np.int64), outputs[rows], rows
    present = ~np.isnan(targets[:, 0])
    truth = targets[present, 0].astype(np.int64)
    if metric in _POSITIVE_CLASS_ONLY:
        truth = np.maximum(truth, 0)  # an unseen label (-1) is a negative row
    return truth, outputs[present], present


def _encode_single_label(encoder: TaskEncoder, table: TargetTable, metric: str) -> np.ndarray:
    """Class indices of one column, -1 for labels not seen in fit.

    Such labels count as wrong predictions (no prediction is -1), as scikit-learn's
    classifiers count them, with a warning; a metric on probabilities refuses them.
    """
    assert encoder.classes_ is not None
    classes = encoder.classes_
    position = encoder.positions[0]
    column = table.columns[position]
    present = ~missing_mask(column)
    values = column[present]
    seen = set(classes.tolist())
    known = np.fromiter((value in seen for value in values.tolist()), bool, len(values))
    targets = np.full((table.n_samples, 1), np.nan, dtype=np.float32)
    indices = np.full(len(values), -1.0, dtype=np.float32)
    label = table.label(position)
    indices[known] = encoder.kind_.encode(encoder, values[known], label)
    targets[present, 0] = indices
    if known.all():
        return targets
    unseen = np.unique(values[~known].astype(str))[:5].tolist()
    where = f"Task {encoder.task_.name!r}: y {label} holds labels {unseen}"
    if METRICS[metric].response == "proba":
        raise ValueError(
            f"{where} not seen in fit; {metric!r} needs probabilities of the fitted "
            f"classes ({classes.tolist()}). Use a metric on predicted labels, "
            "or drop those rows."
        )
    warnings.warn(
        f"{where} ({int((~known).sum())} rows) not seen in fit; they count as wrong predictions.",
        UnseenLabelWarning,
        stacklevel=4,
    )
    return targets


def task_metric(encoder: TaskEncoder, metric: str | None = None) -> str:
    """The metric that scores a task: ``metric``, else the task's own, else its kind's."""
    if metric is not None:
        return metric
    return encoder.task_.metric or encoder.kind_.default_metric


def task_score(
    encoder: TaskEncoder,
    table: TargetTable,
    outputs: np.ndarray,
    metric: str | None = None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Score one task from the network's raw outputs (internal; see ``score_tasks``).

    Parameters
    ----------
    encoder : TaskEncoder
        The fitted task.
    table : TargetTable
        The true labels (all of y).
    outputs : ndarray of shape (n_samples, n_outputs)
        Raw network outputs for the task.
    metric : str, optional
        A name from ``METRICS``; by default the task's ``metric``, else its kind's
        default.
    sample_weight : ndarray of shape (n_samples,), optional
        Row weights.

    Returns
    -------
    float
        The score, NaN when the task has no label in y.
    """
    name = task_metric(encoder, metric)
    kind = encoder.kind_
    _metric_spec(name, kind, encoder.task_.name)
    if kind.is_classification and not kind.multi_column:
        targets = _encode_single_label(encoder, table, name)
    else:
        targets = encoder.encode(table)  # also checks the labels
    truth, raw, present = _encoded_arrays(encoder, targets, outputs, name)
    if not encoder.kind_.is_classification:  # the labels themselves, not float32 targets
        truth = table.columns[encoder.positions[0]][present].astype(np.float64)
    return _score(encoder, name, truth, raw, present, sample_weight)


def _score(encoder, name, truth, raw, present, sample_weight) -> float:
    kind = encoder.kind_
    spec = _metric_spec(name, kind, encoder.task_.name)
    if kind.multi_column and name == "hamming_score":
        weight = (
            np.ones(truth.shape)
            if sample_weight is None
            else np.broadcast_to(np.asarray(sample_weight, dtype=np.float64)[:, None], truth.shape)
        )
        weight = weight * present
        if weight.sum() == 0:
            return float("nan")
        hits = encoder.predict_encoded(raw) == np.nan_to_num(truth)
        return float((weight * hits).sum() / weight.sum())
    if len(truth) == 0:
        return float("nan")
    row_weight = None if sample_weight is None else np.asarray(sample_weight)[present]
    if spec.response == "proba":
        prediction = encoder.proba(raw)
    elif kind.is_classification:
        prediction = encoder.predict_encoded(raw)
    else:
        prediction = encoder.decode(raw)
    if spec.needs_kind:
        return float(spec.function(truth, prediction, sample_weight=row_weight, kind=kind))
    return float(spec.function(truth, prediction, sample_weight=row_weight))


class EncodedScorer:
    """A task's metric computed from raw outputs and encoded targets (the epoch history).

    Parameters
    ----------
    encoder : TaskEncoder
        The fitted task.
    metric : str
        A name of ``METRICS``.
    """

    def __init__(self, encoder: TaskEncoder, metric: str):
        self.encoder = encoder
        self.metric = metric

    def __call__(
        self, outputs: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None
    ) -> float:
        truth, raw, present = _encoded_arrays(self.encoder, targets, outputs, self.metric)
        try:
            return _score(self.encoder, self.metric, truth, raw, present, sample_weight)
        except ValueError:  # e.g. ROC AUC of rows with one class only
            return float("nan")


def _metric_spec(metric: str, kind: TargetKind | str, task_name: str) -> _Metric:
    """The metric named ``metric``, or a ValueError when it is unknown or does not fit."""
    if isinstance(kind, str):
        kind = KIND_CLASSES[kind](Task(task_name, kind))
    if metric not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r} for task {task_name!r}; expected one of {sorted(METRICS)}."
        )
    spec = METRICS[metric]
    if not spec.applies_to(kind):
        usable = sorted(name for name, s in METRICS.items() if s.applies_to(kind))
        raise ValueError(
            f"Metric {metric!r} does not apply to task {task_name!r} of kind {kind.name!r}; "
            f"use one of {usable}."
        )
    return spec


class TaskScorer:
    """Scores one task of a fitted model; a scorer for ``GridSearchCV(scoring=...)``.

    Create it with :func:`make_task_scorer`. Called as ``scorer(estimator, X, y)``
    where ``estimator`` is a fitted :class:`~sklearn_mtl.MultiTaskNetEstimator`, or a
    Pipeline or search ending with one, and ``y`` has the columns seen in fit.
    Greater is better: error metrics are negated, as in scikit-learn.

    On rows without a label of its task (a test fold of a ``KFold`` on a table whose
    tasks are labelled on different rows), or too few for the metric (ROC AUC of one
    class), it returns NaN with a :class:`TaskWithoutLabelWarning` naming the task and
    the fold's size, as scikit-learn's metrics return NaN where they are undefined. A
    fold that every candidate of a search scores NaN makes all their means NaN and
    ``GridSearchCV`` ranks them all first: split with
    :class:`~sklearn_mtl.model_selection.LabelledKFold`, whose test folds hold labels of
    every task.

    With metadata routing enabled (``sklearn.set_config(enable_metadata_routing=True)``),
    ``set_score_request(sample_weight=True)`` asks a search or ``cross_validate`` to
    pass the rows' weights to the scorer, as for scikit-learn's own scorers.
    """

    def __init__(self, task: str, metric: str | None = None):
        self.task = task
        self.metric = metric
        self._sample_weight_request: bool | str | None = None

    def set_score_request(self, *, sample_weight=UNCHANGED) -> TaskScorer:
        """Request the ``sample_weight`` metadata (scikit-learn's metadata routing).

        Parameters
        ----------
        sample_weight : bool, str or None, default=UNCHANGED
            True to receive the weights passed to the search (``fit(...,
            sample_weight=w)``), False not to, None to raise when they are passed
            without a decision, or a string alias under which they are passed.

        Returns
        -------
        self : TaskScorer
        """
        if not get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request needs metadata routing: call "
                "sklearn.set_config(enable_metadata_routing=True) first."
            )
        if sample_weight is not UNCHANGED:
            self._sample_weight_request = sample_weight
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's metadata request: ``sample_weight`` for ``score``."""
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_weight", alias=self._sample_weight_request)
        return request

    def __call__(self, estimator, X, y, sample_weight=None) -> float:
        final, Xt = fitted_estimator(estimator, X)
        score = final.score_tasks(
            Xt, y, sample_weight=sample_weight, metrics={self.task: self.metric}
        )[self.task]
        if np.isnan(score):
            index = getattr(X, "index", None)
            rows = "" if index is None or not len(index) else f" ({index[0]!r}...)"
            warnings.warn(
                f"Task {self.task!r} has no score on this fold of {len(y)} rows{rows} (no "
                "label of the task, or too few for the metric): the scorer returns NaN. "
                "A search gives every candidate a NaN mean for this scorer then, and ranks "
                "them all first: use sklearn_mtl.model_selection.LabelledKFold, whose test "
                "folds hold labels of every task.",
                TaskWithoutLabelWarning,
                stacklevel=2,
            )
        return score

    def __repr__(self) -> str:
        metric = "" if self.metric is None else f", {self.metric!r}"
        return f"make_task_scorer({self.task!r}{metric})"


def make_task_scorer(task: str, metric: str | None = None) -> TaskScorer:
    """Make a scorer of one task, for ``GridSearchCV``, ``cross_validate`` and friends.

    Parameters
    ----------
    task : str
        Name of the task to score.
    metric : str, optional
        One of ``METRICS``: ``"r2"``, ``"explained_variance"``,
        ``"neg_mean_squared_error"``, ``"neg_root_mean_squared_error"``,
        ``"neg_mean_absolute_error"``, ``"neg_median_absolute_error"``,
        ``"neg_mean_poisson_deviance"``, ``"neg_mean_gamma_deviance"``,
        ``"neg_mean_absolute_percentage_error"``, ``"neg_mean_squared_log_error"``,
        ``"d2_absolute_error_score"`` (regression); ``"accuracy"``,
        ``"balanced_accuracy"``, ``"matthews_corrcoef"``, ``"f1"``, ``"precision"``,
        ``"recall"``, ``"jaccard"``, ``"roc_auc"``, ``"average_precision"``,
        ``"neg_brier_score"``, ``"neg_log_loss"``, ``"f1_macro"``, ``"f1_micro"``,
        ``"f1_weighted"`` and ``precision_``/``recall_`` with the same averages
        (classification; ordinal tasks take the single-label ones);
        ``"hamming_score"``, ``"f1_samples"`` (multilabel). By default the task's
        ``metric``, else its kind's default score: R² for regression, accuracy for
        binary, multiclass and ordinal tasks, 1 - Hamming loss for multilabel. For
        binary tasks the positive class is ``classes_[1]``.

    Returns
    -------
    TaskScorer
        A callable ``scorer(estimator, X, y, sample_weight=None) -> float``.

    See Also
    --------
    MultiTaskNetEstimator.score_tasks : all tasks' scores at once.

    Examples
    --------
    >>> from sklearn_mtl.metrics import make_task_scorer
    >>> make_task_scorer("bought", "roc_auc")
    make_task_scorer('bought', 'roc_auc')
    """
    if metric is not None and metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {sorted(METRICS)}.")
    return TaskScorer(task, metric)
