"""The multi-task estimator inside a Pipeline or a search, found one way everywhere.

Scorers (:mod:`sklearn_mtl.metrics`), diagnostics and plots accept a
``MultiTaskNetEstimator``, a ``Pipeline`` ending with one, or a fitted search
(``GridSearchCV``...) whose best estimator is either. :func:`final_estimator` walks to
the estimator; :func:`fitted_estimator` also requires it to be fitted, by one marker
(:func:`is_fitted`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["final_estimator", "fitted_estimator", "is_fitted", "is_multi_task"]


def is_multi_task(estimator: Any) -> bool:
    """Whether ``estimator`` is a multi-task estimator (by its interface)."""
    return hasattr(estimator, "score_tasks") and hasattr(estimator, "tasks")


def is_fitted(estimator: Any) -> bool:
    """Whether ``estimator`` is a fitted multi-task estimator (it has a trained net)."""
    return is_multi_task(estimator) and hasattr(estimator, "net_")


def final_estimator(
    estimator: Any, X: Any = None, *, searches: bool = True
) -> tuple[Any, Any, str]:
    """The estimator at the end of Pipelines and (fitted) searches.

    Parameters
    ----------
    estimator : object
        A multi-task estimator, a Pipeline ending with one, or with ``searches`` a
        fitted search over either (its ``best_estimator_``), nested in any order.
    X : array-like, default=None
        When given, transformed by the steps of every Pipeline in front of the
        estimator (which must then be fitted).
    searches : bool, default=True
        Follow ``best_estimator_``; False for an estimator about to be cloned and set
        (the parameter prefix then addresses ``estimator`` itself).

    Returns
    -------
    final : object
        The multi-task estimator.
    X : array-like or None
        X as the final estimator sees it.
    prefix : str
        The ``set_params`` prefix of ``final`` within ``estimator``
        (``"model__"`` for ``Pipeline([..., ("model", est)])``).

    Raises
    ------
    TypeError
        When the end is not a multi-task estimator.
    """
    prefix = ""
    while not is_multi_task(estimator):
        if searches and hasattr(estimator, "best_estimator_"):
            estimator, prefix = estimator.best_estimator_, ""
        elif hasattr(estimator, "steps"):
            name, last = estimator.steps[-1]
            if X is not None:
                X = estimator[:-1].transform(X)
            estimator, prefix = last, f"{prefix}{name}__"
        else:
            what = "Pipeline or search" if searches else "Pipeline"
            raise TypeError(
                f"{type(estimator).__name__} is not a MultiTaskNetEstimator, nor a {what} "
                "ending with one."
            )
    return estimator, X, prefix


def fitted_estimator(estimator: Any, X: Any = None) -> tuple[Any, Any]:
    """The fitted multi-task estimator inside ``estimator``, and X transformed for it.

    Raises ``TypeError`` when there is none (or it is not fitted).
    """
    try:
        final = final_estimator(estimator)[0]
    except TypeError:
        final = None
    if final is None or not is_fitted(final):
        raise TypeError(
            f"{type(estimator).__name__} is not a fitted MultiTaskNetEstimator, nor a "
            "Pipeline or search that ends with one."
        )
    if X is not None:
        _, X, _ = final_estimator(estimator, X)
    return final, X
