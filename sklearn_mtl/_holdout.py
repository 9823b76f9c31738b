"""The rows held out for early stopping, and when "refit" cannot use them.

The validation part is a random ``validation_fraction`` of the rows, adjusted task by
task so that a task with at least two labelled rows has a labelled row on both sides:
tasks on disjoint rows (one task per school, some with 20 rows) would otherwise often
miss one. A task with a single labelled row trains on it and is not validated.

With ``groups`` (``fit(X, y, groups=...)``: a patient, a site, a customer) whole groups
are held out, as ``GroupShuffleSplit`` does, so that the validation loss measures how
the network carries over to groups it has not seen rather than how well it remembers
near-duplicate rows of one group; the adjustment then moves whole groups.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_VALIDATION_ROWS", "group_codes", "holdout_rows", "refit_fallback_reason"]

#: Fewer validation rows than this make "refit"'s choice of an epoch a coin toss (as
#: scikit-learn's MLP, which refuses a validation set of fewer than 2 rows).
MIN_VALIDATION_ROWS = 2


def group_codes(groups, n_samples: int) -> np.ndarray:
    """``groups`` of ``fit`` as integer codes 0, 1, ... (one per distinct group).

    Raises a ValueError naming ``groups`` when it is not one label per row of X or
    holds a missing value (NaN or None), a TypeError when a label cannot be hashed.

    Examples
    --------
    >>> group_codes(["ann", "bob", "ann"], 3)
    array([0, 1, 0])
    """
    values = np.asarray(groups)
    if values.ndim != 1 or len(values) != n_samples:
        raise ValueError(
            f"groups must hold one label per row of X: got shape {values.shape} for "
            f"{n_samples} rows."
        )
    if values.dtype.kind == "f":
        missing = np.isnan(values)
    elif values.dtype == object:
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in values])
    else:
        missing = np.zeros(n_samples, dtype=bool)
    if missing.any():
        raise ValueError(
            f"groups has {int(missing.sum())} missing value(s) (NaN or None); give every "
            "row a group."
        )
    if values.dtype != object:
        return np.unique(values, return_inverse=True)[1].astype(np.intp).reshape(-1)
    index: dict = {}
    try:
        return np.array([index.setdefault(v, len(index)) for v in values], dtype=np.intp)
    except TypeError as error:
        raise TypeError(f"groups: a label cannot be hashed ({error}).") from error


def holdout_rows(
    labelled: np.ndarray,
    n_samples: int,
    fraction: float,
    seed: int,
    groups: np.ndarray | None = None,
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
    groups : int ndarray of shape (n_samples,), default=None
        Group codes of :func:`group_codes`: the rows of a group fall on one side. The
        held-out groups are the first ones of a random permutation whose rows add up
        closest to ``fraction`` of the rows (at least one group, and at least one group
        left to train on). With a single group, the validation part is empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(10) < 5  # task a on rows 0-4, task b on rows 5-9
    >>> train, valid = holdout_rows(np.column_stack([a, ~a]), 10, 0.2, seed=0)
    >>> bool(a[valid].any() and (~a)[valid].any()), len(train) + len(valid)
    (True, 10)
    >>> patients = np.repeat(np.arange(5), 4)  # 5 patients, 4 rows each
    >>> train, valid = holdout_rows(np.ones((20, 1), bool), 20, 0.2, 0, groups=patients)
    >>> sorted(set(patients[valid]) & set(patients[train])), len(valid)
    ([], 4)
    """
    if groups is None:  # every row its own group
        codes = np.arange(n_samples)
        order = np.random.RandomState(seed).permutation(n_samples)
        n_valid = min(n_samples - 1, max(1, round(fraction * n_samples)))
    else:
        codes = np.asarray(groups, dtype=np.intp)
        n_groups = int(codes.max()) + 1
        order = np.random.RandomState(seed).permutation(n_groups)
        rows_so_far = np.cumsum(np.bincount(codes, minlength=n_groups)[order])
        n_valid = int(np.argmin(np.abs(rows_so_far - fraction * n_samples))) + 1
        n_valid = min(n_groups - 1, n_valid)
    valid_group = np.zeros(len(order), dtype=bool)
    valid_group[order[:n_valid]] = True
    group_rank = np.empty(len(order), dtype=np.intp)
    group_rank[order] = np.arange(len(order))
    rank = group_rank[codes]
    several = labelled.sum(axis=0) >= 2
    # a task without a labelled validation row gets (the group of) its first labelled
    # row in the permutation's order; one without a labelled training row gives back
    # (the group of) its last
    for task in np.flatnonzero(several & ~labelled[valid_group[codes]].any(axis=0)):
        rows = np.flatnonzero(labelled[:, task])
        valid_group[codes[rows[np.argmin(rank[rows])]]] = True
    for task in np.flatnonzero(several & ~labelled[~valid_group[codes]].any(axis=0)):
        rows = np.flatnonzero(labelled[:, task])
        valid_group[codes[rows[np.argmax(rank[rows])]]] = False
    in_valid = valid_group[codes]
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
