"""The rows held out for early stopping, and when "refit" cannot use them.

The validation part is a random ``validation_fraction`` of the rows, adjusted task by
task so that a task with at least two labelled rows has a labelled row on both sides:
tasks on disjoint rows (one task per school, some with 20 rows) would otherwise often
miss one. A task with a single labelled row trains on it and is not validated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_VALIDATION_ROWS", "holdout_rows", "refit_fallback_reason"]

#: Fewer validation rows than this make "refit"'s choice of an epoch a coin toss (as
#: scikit-learn's MLP, which refuses a validation set of fewer than 2 rows).
MIN_VALIDATION_ROWS = 2


def holdout_rows(
    labelled: np.ndarray, n_samples: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted training and validation row indices.

    Parameters
    ----------
    labelled : bool ndarray of shape (n_samples, n_tasks)
        Whether each row carries a label of each task.
    n_samples : int
        Number of rows (at least 2).
    fraction : float
        Share of the rows to hold out, in (0, 1).
    seed : int
        Seed of the random permutation.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(10) < 5  # task a on rows 0-4, task b on rows 5-9
    >>> train, valid = holdout_rows(np.column_stack([a, ~a]), 10, 0.2, seed=0)
    >>> bool(a[valid].any() and (~a)[valid].any()), len(train) + len(valid)
    (True, 10)
    """
    n_valid = min(n_samples - 1, max(1, round(fraction * n_samples)))
    order = np.random.RandomState(seed).permutation(n_samples)
    in_valid = np.zeros(n_samples, dtype=bool)
    in_valid[order[:n_valid]] = True
    rank = np.empty(n_samples, dtype=np.intp)
    rank[order] = np.arange(n_samples)
    several = labelled.sum(axis=0) >= 2
    # a task without a labelled validation row gets its first labelled row (in the
    # permutation's order); one without a labelled training row gives back its last
    for task in np.flatnonzero(several & ~labelled[in_valid].any(axis=0)):
        rows = np.flatnonzero(labelled[:, task])
        in_valid[rows[np.argmin(rank[rows])]] = True
    for task in np.flatnonzero(several & ~labelled[~in_valid].any(axis=0)):
        rows = np.flatnonzero(labelled[:, task])
        in_valid[rows[np.argmax(rank[rows])]] = False
    return np.flatnonzero(~in_valid), np.flatnonzero(in_valid)


def refit_fallback_reason(
    labelled: np.ndarray,
    valid: np.ndarray | None,
    fraction: float,
    weight: np.ndarray | None = None,
) -> str | None:
    """Why the validation rows cannot choose "refit"'s number of epochs, or None.

    ``labelled`` is the (n_samples, n_tasks) mask of :func:`holdout_rows`; ``valid``
    holds the validation row indices (None: there is no split, one row); rows of
    ``weight`` 0 do not count.

    Examples
    --------
    >>> import numpy as np
    >>> labelled = np.ones((6, 1), dtype=bool)
    >>> print(refit_fallback_reason(labelled, np.array([5]), 0.2))
    validation_fraction=0.2 of 6 rows holds out 1 labelled row(s) of positive weight, fewer than 2
    >>> refit_fallback_reason(labelled, np.array([4, 5]), 0.2) is None
    True
    """
    n_samples = len(labelled)
    if valid is None:
        return f"there is {n_samples} row, nothing to hold out"
    any_label: np.ndarray = np.asarray(labelled.any(axis=1))
    if weight is not None:
        any_label &= weight > 0
    n_labelled = int(any_label[valid].sum())
    if n_labelled < MIN_VALIDATION_ROWS:
        return (
            f"validation_fraction={fraction} of {n_samples} rows holds out {n_labelled} "
            f"labelled row(s) of positive weight, fewer than {MIN_VALIDATION_ROWS}"
        )
    return None
