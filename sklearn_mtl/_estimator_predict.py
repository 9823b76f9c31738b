"""The estimator's predictions and scores (predict, predict_proba, score...)."""

from __future__ import annotations

import warnings
from typing import cast

import numpy as np
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
)

from ._estimator_fit import _Fitting
from ._kinds import Regression
from ._threads import torch_threads
from ._validation import errors_about
from .metrics import TaskWithoutLabelWarning, task_score

_PREDICT_BATCH_SIZE = 8192


class _Prediction(_Fitting):
    """Prediction and scoring of :class:`~sklearn_mtl.MultiTaskNetEstimator`."""

    def _outputs(self, X) -> list[np.ndarray]:
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        with torch_threads(self.n_threads):
            return self.net_.forward_outputs(X, max(self.batch_size, _PREDICT_BATCH_SIZE))

    def predict(self, X):
        """Predict every task: regression values and decoded class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray or DataFrame of shape (n_samples, n_columns), or (n_samples,)
            One column per column of y in fit, in y's order (a multilabel task fills
            its columns with 0/1). A DataFrame with y's column names when y was one;
            1-D when y was 1-D.
        """
        index = getattr(X, "index", None)
        outputs = self._outputs(X)
        columns: list[np.ndarray | None] = [None] * self._n_target_columns
        for encoder, output in zip(self.encoders_, outputs, strict=True):
            decoded = encoder.decode(output)
            if decoded.ndim == 1:
                decoded = decoded[:, None]
            for j, position in enumerate(encoder.positions):
                columns[position] = decoded[:, j]
        if self._target_is_1d:
            return columns[0]
        filled = cast(list[np.ndarray], columns)  # every position belongs to a task
        if self._target_is_frame:
            import pandas as pd

            names = cast(list, self._target_names)
            return pd.DataFrame(dict(zip(names, filled, strict=True)), index=index)
        kinds = {column.dtype.kind for column in filled}
        dtype = object if kinds - set("biuf") else np.result_type(*filled)
        return np.column_stack([np.asarray(c, dtype=dtype) for c in filled])

    def predict_proba(self, X):
        """Class probabilities of every classification task.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        list of ndarray, or ndarray
            One array per classification task, in task order: (n_samples, 2) for a
            binary task, (n_samples, n_classes) for multiclass, (n_samples, n_labels)
            of positive-label probabilities for multilabel. The array itself when y
            was one-dimensional.
        """
        outputs = self._outputs(X)
        probas = [
            encoder.proba(output)
            for encoder, output in zip(self.encoders_, outputs, strict=True)
            if encoder.kind_.is_classification
        ]
        if not probas:
            raise ValueError("This model has no classification task, so it has no probabilities.")
        if self._target_is_1d:
            return probas[0]
        return probas

    def predict_quantiles(self, X):
        """Predicted quantiles of every regression task declared with ``quantiles``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        dict of str to ndarray of shape (n_samples, n_quantiles)
            ``{task: quantiles}``, increasing along each row, in the order of the
            task's ``quantiles``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_mtl import MultiTaskNetEstimator, Task
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 3))
        >>> y = X[:, 0] + rng.normal(size=200)
        >>> est = MultiTaskNetEstimator(
        ...     tasks=[Task("y", "regression", quantiles=(0.1, 0.5, 0.9))],
        ...     hidden_layer_sizes=(16,), max_epochs=20, random_state=0).fit(X, y)
        >>> bands = est.predict_quantiles(X)["y"]
        >>> bands.shape, bool(np.all(np.diff(bands, axis=1) > 0))
        ((200, 3), True)
        """
        check_is_fitted(self, "net_")
        wanted = [e.task_.quantiles is not None for e in self.encoders_]
        if not any(wanted):
            raise ValueError(
                "No task of this model predicts quantiles; declare "
                "Task(name, 'regression', quantiles=(0.1, 0.5, 0.9))."
            )
        outputs = self._outputs(X)
        return {
            encoder.task_.name: cast(Regression, encoder.kind_).quantiles_encoded(output)
            * encoder.scale_
            + encoder.mean_
            for encoder, output, keep in zip(self.encoders_, outputs, wanted, strict=True)
            if keep
        }

    def score_tasks(self, X, y, sample_weight=None, metrics=None):
        """Score of each task on X, y, missing labels left out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
            True labels, with the columns seen in fit.
        sample_weight : array-like of shape (n_samples,), default=None
        metrics : dict of str to str, default=None
            Metric per task (see :data:`sklearn_mtl.metrics.METRICS`); the default
            is the task's ``metric``, else R² for regression, accuracy for binary,
            multiclass and ordinal tasks, 1 - Hamming loss for multilabel. Only the
            tasks named are scored when given.

        Returns
        -------
        dict of str to float
            ``{task: score}``; NaN for a task without label in y.
        """
        outputs = self._outputs(X)
        table = self._table(y, outputs[0].shape[0])
        self._check_table_matches(table)
        weight = None
        if sample_weight is not None:
            with errors_about("sample_weight"):
                weight = _check_sample_weight(sample_weight, outputs[0], dtype=np.float64)
        names = [task.name for task in self.tasks_]
        if metrics is not None:
            unknown = sorted(set(metrics) - set(names))
            if unknown:
                raise ValueError(f"Unknown task(s) {unknown}; the tasks are {names}.")
        scores = {}
        for encoder, output in zip(self.encoders_, outputs, strict=True):
            name = encoder.task_.name
            if metrics is not None and name not in metrics:
                continue
            metric = None if metrics is None else metrics[name]
            scores[name] = task_score(encoder, table, output, metric, weight)
        return scores

    def score(self, X, y, sample_weight=None):
        """Unweighted mean of the tasks' scores (``task_weights`` play no part).

        Each task's ``metric``, by default R² for regression, accuracy for binary,
        multiclass and ordinal tasks, 1 - Hamming loss for multilabel; missing labels
        are left out, and tasks without label in y too, with a
        :class:`~sklearn_mtl.metrics.TaskWithoutLabelWarning` naming them (in a
        cross-validation, the mean of such a fold covers fewer tasks than the others;
        :class:`~sklearn_mtl.model_selection.LabelledKFold` avoids such folds).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        by_task = self.score_tasks(X, y, sample_weight)
        left_out = [name for name, score in by_task.items() if np.isnan(score)]
        if left_out:
            warnings.warn(
                f"score: task(s) {left_out} have no score on these {len(y)} rows (no "
                "label, or too few for the metric); the mean is over the other tasks. In a "
                "cross-validation, this fold's mean covers fewer tasks than the others: "
                "sklearn_mtl.model_selection.LabelledKFold gives every test fold labels "
                "of every task.",
                TaskWithoutLabelWarning,
                stacklevel=2,
            )
        scores = np.array(list(by_task.values()), dtype=float)
        finite = scores[~np.isnan(scores)]
        return float(finite.mean()) if finite.size else float("nan")
