"""Baseline adapters: any scikit-learn estimator per task, scored like the network.

A baseline is fitted on one task's labelled rows (class indices for classification)
and its predictions are turned into the network's raw outputs for that task, so that
``task_score`` scores both the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.utils import _safe_indexing

from .._targets import as_target_table
from .._task_encoding import TaskEncoder
from ..metrics import METRICS, task_score
from ..tasks import Task

__all__ = ["baseline_for", "fit_score_baseline", "model_name"]


def baseline_for(baseline, task: Task):
    if isinstance(baseline, Mapping):
        found = baseline.get(task.name, baseline.get(str(task.kind)))
        if found is None:
            raise ValueError(
                f"baseline has no estimator for task {task.name!r} (kind {task.kind!r}); "
                "key the dict by task name or by kind."
            )
        baseline = found
    if not task.is_classification and is_classifier(baseline):
        raise ValueError(
            f"The baseline for regression task {task.name!r} is a classifier "
            f"({type(baseline).__name__}); pass a dict {{kind: estimator}}."
        )
    if task.is_classification and is_regressor(baseline):
        raise ValueError(
            f"The baseline for {task.kind} task {task.name!r} is a regressor "
            f"({type(baseline).__name__}); pass a dict {{kind: estimator}}."
        )
    return baseline


def model_name(baseline) -> str:
    """A readable name of a baseline: its class, a Pipeline's last step, a dict's values."""
    if isinstance(baseline, Mapping):
        names = dict.fromkeys(model_name(model) for model in baseline.values())
        return " / ".join(names)
    steps = getattr(baseline, "steps", None)
    if steps:
        return model_name(steps[-1][1])
    return type(baseline).__name__


def _class_columns(model, probabilities, n_classes: int) -> np.ndarray:
    """Probabilities in the encoder's class order (classes the model never saw get 0)."""
    classes = np.asarray(getattr(model, "classes_", np.arange(n_classes))).astype(np.int64)
    full = np.zeros((probabilities.shape[0], n_classes))
    full[:, classes] = probabilities
    return full


def _baseline_outputs(model, encoder: TaskEncoder, X, response: str) -> np.ndarray:
    """The baseline's predictions on X as raw network-like outputs of ``encoder``'s task."""
    kind = encoder.kind_
    if response != "proba":
        return kind.raw_from_predictions(encoder, np.asarray(model.predict(X)))
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"The metric of task {encoder.task_.name!r} needs probabilities, but the "
            f"baseline {type(model).__name__} has no predict_proba."
        )
    proba = model.predict_proba(X)
    if kind.multi_column:
        if isinstance(proba, list):  # MultiOutputClassifier: one (n, 2) array per label
            proba = np.column_stack([p[:, -1] for p in proba])
        return kind.raw_from_proba(encoder, proba)
    assert encoder.classes_ is not None
    n_classes = len(encoder.classes_)
    return kind.raw_from_proba(encoder, _class_columns(model, np.asarray(proba), n_classes))


def fit_score_baseline(baseline, task, positions, metric, X, y, train, test, classes=None):
    """Fit ``baseline`` on the task's labelled training rows and score it on the test rows
    (``classes``: the task's classes in all of y, as the networks are given)."""
    table_train = as_target_table(_safe_indexing(y, train))
    encoder = TaskEncoder(task, positions).fit(table_train, classes)
    targets = encoder.encode(table_train)
    rows = ~np.isnan(targets).any(axis=1)
    if not encoder.kind_.is_classification:
        values = table_train.columns[positions[0]][rows].astype(np.float64)
    elif encoder.kind_.multi_column:
        values = targets[rows].astype(np.int64)
    else:
        values = targets[rows, 0].astype(np.int64)
    X_train = _safe_indexing(X, train)
    model = clone(baseline).fit(_safe_indexing(X_train, np.flatnonzero(rows)), values)
    X_test = _safe_indexing(X, test)
    table_test = as_target_table(_safe_indexing(y, test))
    outputs = _baseline_outputs(model, encoder, X_test, METRICS[metric].response)
    return task_score(encoder, table_test, outputs, metric)
