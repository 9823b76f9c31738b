"""Out-of-fold predictions per task, where ``cross_val_predict`` cannot give them.

scikit-learn's ``cross_val_predict(method="predict_proba")`` label-encodes every column
of a 2-D y and expects one probability array per column, a contract that no model with
a regression task (or a multilabel task spanning several columns) can keep.
:func:`cross_val_predict_tasks` fits the model once per fold, as ``cross_val_predict``
does, and returns each task's out-of-fold predictions or probabilities under its name.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import cross_validate

from ._unwrap import fitted_estimator

__all__ = ["cross_val_predict_tasks"]

_METHODS = ("predict", "predict_proba")


def _not_scored(estimator, X, y) -> float:
    """``cross_validate``'s scorer here: nothing (a test fold may hold unseen labels)."""
    return float("nan")


def _rows(data, index: np.ndarray):
    return data.iloc[index] if hasattr(data, "iloc") else data[index]


def _final_estimator(model):
    """The fitted MultiTaskNetEstimator at the end of a Pipeline or inside a search."""
    return fitted_estimator(model)[0]


def _fold_outputs(model, X, method: str) -> tuple[dict[str, np.ndarray], dict]:
    """One fold's outputs per task, and the class labels of its classification tasks."""
    final = _final_estimator(model)
    tasks = [task for task in final.tasks_ if method == "predict" or task.kind != "regression"]
    encoders = {encoder.task_.name: encoder for encoder in final.encoders_}
    if method == "predict_proba":
        probas = model.predict_proba(X)
        probas = [probas] if isinstance(probas, np.ndarray) else probas
        outputs = {task.name: np.asarray(p) for task, p in zip(tasks, probas, strict=True)}
    else:
        predicted = model.predict(X)
        predicted = np.asarray(predicted, dtype=object if _is_object(predicted) else None)
        if predicted.ndim == 1:
            predicted = predicted[:, None]
        outputs = {
            task.name: predicted[:, list(encoders[task.name].positions)].squeeze(axis=1)
            if len(encoders[task.name].positions) == 1
            else predicted[:, list(encoders[task.name].positions)]
            for task in tasks
        }
    classes = {
        task.name: np.asarray(encoders[task.name].classes_)
        for task in tasks
        if task.kind in ("binary", "multiclass")
    }
    return outputs, classes


def _is_object(predicted) -> bool:
    dtypes = getattr(predicted, "dtypes", None)
    if dtypes is not None:
        return any(dtype.kind not in "biuf" for dtype in dtypes)
    return np.asarray(predicted).dtype.kind not in "biuf"


def cross_val_predict_tasks(
    estimator, X, y, *, cv=5, method="predict_proba", n_jobs=None, params=None
) -> dict[str, np.ndarray]:
    """Out-of-fold predictions or probabilities of each task, keyed by task name.

    Every row is predicted by the model fitted on the folds that leave it out, as in
    ``sklearn.model_selection.cross_val_predict``; ``cv`` must be a partition (each
    row in exactly one test fold).

    Parameters
    ----------
    estimator : MultiTaskNetEstimator, or a Pipeline or search ending with one
        The model to fit on each training fold (cloned, never modified).
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like or DataFrame of shape (n_samples, n_columns)
        Labels; NaN marks a missing label, as in ``fit``.
    cv : int, cross-validation generator or iterable, default=5
        As in ``cross_validate``.
    method : {"predict_proba", "predict"}, default="predict_proba"
        "predict_proba": the classification tasks' probabilities (columns in the order
        of the task's sorted class labels, 0 for a class absent from a training fold;
        a multilabel task's positive-label probability per label column).
        "predict": every task's predictions (a multilabel task's 0/1 columns).
    n_jobs : int, default=None
        Folds fitted in parallel.
    params : dict, default=None
        Passed to ``fit`` (``sample_weight``, ...), as in ``cross_validate``.

    Returns
    -------
    dict of str to ndarray
        ``{task: array of shape (n_samples,) or (n_samples, n_columns)}``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl.model_selection import cross_val_predict_tasks
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 3))
    >>> y = np.column_stack([X[:, 0], X[:, 1] > 0, np.digitize(X[:, 2], [-0.5, 0.5])])
    >>> est = MultiTaskNetEstimator(tasks={"amount": "regression", "flag": "binary",
    ...                                    "level": "multiclass"},
    ...                             hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    >>> oof = cross_val_predict_tasks(est, X, y, cv=3)
    >>> {task: proba.shape for task, proba in oof.items()}
    {'flag': (90, 2), 'level': (90, 3)}
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    result = cross_validate(
        estimator,
        X,
        y,
        cv=cv,
        n_jobs=n_jobs,
        params=params,
        return_estimator=True,
        return_indices=True,
        scoring=_not_scored,
        error_score="raise",
    )
    n_samples = len(X)
    tests = result["indices"]["test"]
    covered = np.sort(np.concatenate(tests))
    if len(covered) != n_samples or not np.array_equal(covered, np.arange(n_samples)):
        raise ValueError(
            "cross_val_predict_tasks needs a cv whose test folds cover every row exactly "
            "once (a partition, such as KFold)."
        )
    folds = [
        (test, *_fold_outputs(model, _rows(X, test), method))
        for model, test in zip(result["estimator"], tests, strict=True)
    ]
    names = list(folds[0][1])
    out: dict[str, np.ndarray] = {}
    for name in names:
        if method == "predict_proba" and name in folds[0][2]:
            labels = np.unique(np.concatenate([classes[name] for _, _, classes in folds]))
            array = np.zeros((n_samples, len(labels)))
            for test, outputs, classes in folds:
                columns = np.searchsorted(labels, classes[name])
                array[np.ix_(test, columns)] = outputs[name]
        else:
            first = folds[0][1][name]
            array = np.empty((n_samples, *first.shape[1:]), dtype=first.dtype)
            for test, outputs, _ in folds:
                array[test] = outputs[name]
        out[name] = array
    return out
