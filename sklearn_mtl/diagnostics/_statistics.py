"""Statistics of a comparison over folds: Delta_m and paired tests."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

__all__ = ["TESTS", "delta_m", "paired", "standard_error"]

TESTS = ("ttest", "corrected_ttest", "wilcoxon")
"""The paired tests of :func:`paired`."""


def delta_m(scores, reference_scores, higher_is_better=True) -> float:
    """Mean relative improvement over a reference, in percent (Maninis et al., 2019).

    ``Delta_m = 100 / T * sum_t (-1)^l_t (M_t - R_t) / |R_t|`` where ``l_t`` is 1 when a
    lower value of task t's metric is better. With the scores of this package (higher is
    better; errors are negated), this is the mean of ``(M_t - R_t) / |R_t|``. Tasks
    whose reference is 0 or whose scores are NaN are left out.

    Parameters
    ----------
    scores : array-like or dict of str to float
        The multi-task model's score per task.
    reference_scores : array-like or dict of str to float
        The single-task reference's score per task (same tasks, same order or keys).
    higher_is_better : bool or array-like of bool, default=True
        Per task or for all tasks.

    Returns
    -------
    float
        Delta_m in percent: positive when multi-task learning improves on the reference.

    References
    ----------
    Maninis, K.-K., Radosavovic, I. and Kokkinos, I. (2019). Attentive single-tasking of
    multiple tasks. *CVPR 2019*.

    Examples
    --------
    >>> from sklearn_mtl.diagnostics import delta_m
    >>> round(delta_m({"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.5}), 6)
    6.25
    >>> round(delta_m([0.2, 0.5], [0.25, 0.5], higher_is_better=[False, True]), 6)  # an error
    10.0
    """
    if isinstance(scores, Mapping):
        if not isinstance(reference_scores, Mapping) or set(scores) != set(reference_scores):
            raise ValueError("scores and reference_scores must name the same tasks.")
        names = list(scores)
        if isinstance(higher_is_better, Mapping):
            higher_is_better = [higher_is_better[name] for name in names]
        scores = [scores[name] for name in names]
        reference_scores = [reference_scores[name] for name in names]
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    reference = np.asarray(reference_scores, dtype=np.float64).reshape(-1)
    if values.shape != reference.shape:
        raise ValueError(
            f"scores has {values.size} task(s) but reference_scores has {reference.size}."
        )
    sign = np.where(
        np.broadcast_to(np.asarray(higher_is_better, dtype=bool), values.shape), 1.0, -1.0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = sign * (values - reference) / np.abs(reference)
    relative = relative[np.isfinite(relative)]
    return float(100.0 * relative.mean()) if relative.size else float("nan")


def paired(a: np.ndarray, b: np.ndarray, test: str, test_fraction: float):
    """Mean difference a - b, its standard error over folds and a two-sided p-value."""
    keep = np.isfinite(a) & np.isfinite(b)
    diff = a[keep] - b[keep]
    k = diff.size
    if k == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(diff.mean())
    if k < 2:
        return mean, float("nan"), float("nan")
    sd = float(diff.std(ddof=1))
    se = sd / math.sqrt(k)
    if test == "wilcoxon":
        if np.all(diff == 0):
            return mean, se, 1.0
        return mean, se, float(stats.wilcoxon(diff).pvalue)
    if sd == 0:
        return mean, se, 1.0 if mean == 0 else 0.0
    if test == "corrected_ttest":  # Nadeau and Bengio (2003)
        scale = sd * math.sqrt(1.0 / k + test_fraction / (1.0 - test_fraction))
        t = mean / scale
        return mean, se, float(2 * stats.t.sf(abs(t), k - 1))
    return mean, se, float(stats.ttest_rel(a[keep], b[keep]).pvalue)


def standard_error(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) / math.sqrt(values.size))
