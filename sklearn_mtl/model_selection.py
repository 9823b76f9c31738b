"""Folds with labels of every task, and out-of-fold predictions per task.

:class:`LabelledKFold` gives every test fold labels of every task (tasks labelled on
different rows, tables sorted by class), so that task scorers have something to score
in every fold. scikit-learn's ``cross_val_predict(method="predict_proba")``
label-encodes every column of a 2-D y and expects one probability array per column, a
contract that no model with a regression task (or a multilabel task spanning several
columns) can keep.
:func:`cross_val_predict_tasks` fits the model once per fold, as ``cross_val_predict``
does, and returns each task's out-of-fold predictions or probabilities under its name.
:class:`RowSubset` is a lazy view of some rows of a memory-mapped X, for folds of data
too large to copy.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator, cross_validate
from sklearn.utils import check_random_state

from ._data import RowSubset
from ._targets import as_target_table, missing_mask
from ._unwrap import fitted_estimator

__all__ = ["LabelledKFold", "RowSubset", "cross_val_predict_tasks"]

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


_MAX_CLASSES = 50
"""Columns with at most this many distinct labels are dealt class by class."""


class LabelledKFold(BaseCrossValidator):
    """K folds whose test rows hold labels of every task, and of every class in turn.

    A multi-task table often has tasks labelled on different rows (one task on the
    first rows, another on the next), or is sorted by a class. A plain ``KFold`` then
    gives test folds without any label of a task, where a task scorer
    (:func:`~sklearn_mtl.metrics.make_task_scorer`) has nothing to score: its fold score
    is NaN for every candidate of a search, whose mean is then NaN for all of them, and
    ``GridSearchCV`` ranks them all first. ``LabelledKFold`` deals the rows to the
    folds in turn, grouped by which columns of y are labelled, and within a group in the
    order of their class labels, so that every test fold holds about ``1 / n_splits`` of
    each task's labelled rows and of each class.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at least 2).
    shuffle : bool, default=True
        Shuffle the rows of each group (and class) before dealing them.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling.

    Warns
    -----
    UserWarning
        When a column of y has fewer labelled rows than ``n_splits``: some test folds
        then hold none of its labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.model_selection import LabelledKFold
    >>> y = np.full((12, 2), np.nan)
    >>> y[:6, 0] = np.arange(6)          # task 0 labelled on the first rows only
    >>> y[6:, 1] = np.arange(6) % 2      # task 1 on the last rows
    >>> for _, test in LabelledKFold(3, random_state=0).split(np.zeros((12, 1)), y):
    ...     labelled = ~np.isnan(y[test])
    ...     print(len(test), labelled.any(axis=0).tolist())
    4 [True, True]
    4 [True, True]
    4 [True, True]
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = True, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits``."""
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Train and test indices of each fold; y is required (its labelled cells).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples,) or (n_samples, n_columns)
            Labels, NaN or None where missing, as in ``fit``.
        groups : ignored

        Yields
        ------
        train, test : ndarray of int
        """
        if y is None:
            raise ValueError("LabelledKFold.split needs y: the folds follow its labels.")
        return super().split(X, y, groups)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        n_splits = self.n_splits
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral):
            raise TypeError(f"n_splits must be an int >= 2; got {n_splits!r}.")
        if n_splits < 2:
            raise ValueError(f"n_splits must be an int >= 2; got {n_splits!r}.")
        table = as_target_table(y)
        n_samples = table.n_samples
        if n_splits > n_samples:
            raise ValueError(
                f"Cannot have n_splits={n_splits} greater than the number of rows ({n_samples})."
            )
        labelled = np.column_stack([~missing_mask(column) for column in table.columns])
        for j, count in enumerate(labelled.sum(axis=0).tolist()):
            if count < n_splits:
                warnings.warn(
                    f"LabelledKFold: y {table.label(j)} has {count} labelled row(s), fewer "
                    f"than n_splits={n_splits}: some test folds hold none of its labels.",
                    UserWarning,
                    stacklevel=4,
                )
        rng = check_random_state(self.random_state)
        order = rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
        # sort keys, last one first in lexsort: the labelled pattern, then the labels
        keys = [_class_key(column[order]) for column in reversed(table.columns)]
        pattern = labelled[order] @ (2 ** np.arange(labelled.shape[1]))
        ranked = order[np.lexsort([*keys, pattern], axis=0)]
        folds = np.arange(n_samples) % n_splits
        for fold in range(n_splits):
            yield np.sort(ranked[folds == fold])


def _class_key(column: np.ndarray) -> np.ndarray:
    """Integer codes of a column's class labels (missing ones last), for sorting; zeros
    for a column of many distinct values (a regression target: the shuffle decides)."""
    present = ~missing_mask(column)
    codes = np.zeros(len(column), dtype=np.int64)
    values = np.array([str(v) for v in column[present].tolist()], dtype=object)
    distinct, inverse = np.unique(values, return_inverse=True)
    if len(distinct) > _MAX_CLASSES:
        return codes
    codes[present] = inverse
    codes[~present] = len(distinct)
    return codes
