"""Task groups: the partition of tasks that maximises within-group affinity."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["suggest_task_groups"]


def _as_matrix(affinity, task_names):
    if hasattr(affinity, "to_numpy") and hasattr(affinity, "index"):
        names = [str(name) for name in affinity.index]
        matrix = affinity.to_numpy(dtype=np.float64)
    else:
        matrix = np.asarray(affinity, dtype=np.float64)
        names = None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"affinity must be a square matrix; got shape {matrix.shape}.")
    if task_names is not None:
        names = [str(name) for name in task_names]
        if len(names) != matrix.shape[0]:
            raise ValueError(
                f"task_names has {len(names)} names for a {matrix.shape[0]}-task affinity."
            )
    if names is None:
        names = [f"task{i}" for i in range(matrix.shape[0])]
    return np.nan_to_num(matrix, nan=0.0), names


def _group_score(matrix: np.ndarray, group: Sequence[int]) -> float:
    """Sum over the group's tasks of the mean affinity onto each from the group's others."""
    if len(group) < 2:
        return 0.0
    index = np.asarray(group)
    block = matrix[np.ix_(index, index)]
    return float((block.sum(axis=0) - np.diag(block)).sum() / (len(group) - 1))


def _partitions(items: list[int], n_groups: int):
    """All partitions of ``items`` into exactly ``n_groups`` non-empty blocks."""
    if n_groups == 1:
        yield [items]
        return
    if len(items) == n_groups:
        yield [[item] for item in items]
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest, n_groups - 1):
        yield [[first], *partition]
    for partition in _partitions(rest, n_groups):
        for k in range(len(partition)):
            yield [*partition[:k], [first, *partition[k]], *partition[k + 1 :]]


def _greedy(matrix: np.ndarray, n_groups: int) -> list[list[int]]:
    groups = [[i] for i in range(matrix.shape[0])]
    while len(groups) > n_groups:
        best = None
        for a, b in itertools.combinations(range(len(groups)), 2):
            merged = groups[a] + groups[b]
            gain = (
                _group_score(matrix, merged)
                - _group_score(matrix, groups[a])
                - _group_score(matrix, groups[b])
            )
            if best is None or gain > best[0]:
                best = (gain, a, b)
        assert best is not None
        _, a, b = best
        groups = [g for k, g in enumerate(groups) if k not in (a, b)] + [groups[a] + groups[b]]
    improved = True
    while improved:  # move single tasks between groups while the total improves
        improved = False
        for source in range(len(groups)):
            for task in list(groups[source]):
                if len(groups[source]) == 1:
                    continue
                for target in range(len(groups)):
                    if target == source:
                        continue
                    before = _group_score(matrix, groups[source]) + _group_score(
                        matrix, groups[target]
                    )
                    left = [t for t in groups[source] if t != task]
                    after = _group_score(matrix, left) + _group_score(
                        matrix, groups[target] + [task]
                    )
                    if after > before + 1e-12:
                        groups[source] = left
                        groups[target] = groups[target] + [task]
                        improved = True
                        break
    return groups


def suggest_task_groups(affinity, n_groups, *, task_names=None, method="auto", max_exhaustive=10):
    """Propose which tasks to train together: a partition maximising within-group affinity.

    A group's score is the sum over its tasks of the mean affinity that the group's
    other tasks have onto it (``affinity[i, j]``: effect of task ``i`` on task ``j``),
    the criterion of TAG (Fifty et al., 2021) restricted to non-overlapping groups; a
    task alone scores 0. The partition into exactly ``n_groups`` groups with the highest
    total is returned.

    ``method="exhaustive"`` enumerates every partition (Stirling numbers of the second
    kind: 9,330 for 10 tasks into 3 groups, 42,525 into 5). ``method="greedy"``, the
    default beyond ``max_exhaustive`` tasks, starts from one group per task, merges the
    pair of groups whose union adds the most score until ``n_groups`` remain, then moves
    single tasks between groups while the total improves: fast (``O(T^3)`` merges) but
    not guaranteed optimal.

    Parameters
    ----------
    affinity : DataFrame or array-like of shape (n_tasks, n_tasks)
        Any task affinity: :func:`task_affinity`, the estimator's ``task_affinity_``
        (gradient cosines) or ``task_relation_``. NaN counts as 0.
    n_groups : int
        Number of groups, between 1 and the number of tasks.
    task_names : sequence of str, default=None
        Names of the tasks (default: the DataFrame's index, else ``task0``, ...).
    method : {"auto", "exhaustive", "greedy"}, default="auto"
        "auto" is exhaustive up to ``max_exhaustive`` tasks, greedy beyond.
    max_exhaustive : int, default=10
        Largest number of tasks searched exhaustively by "auto".

    Returns
    -------
    list of list of str
        The groups, each a list of task names in task order, largest first.

    See Also
    --------
    task_affinity : the lookahead affinity this is designed for.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.diagnostics import suggest_task_groups
    >>> affinity = np.array([[1.0, 0.5, -0.2], [0.4, 1.0, -0.1], [-0.3, -0.2, 1.0]])
    >>> suggest_task_groups(affinity, 2, task_names=["price", "volume", "churn"])
    [['price', 'volume'], ['churn']]
    """
    matrix, names = _as_matrix(affinity, task_names)
    n_tasks = matrix.shape[0]
    if (
        isinstance(n_groups, bool)
        or not isinstance(n_groups, numbers.Integral)
        or not (1 <= int(n_groups) <= n_tasks)
    ):
        raise ValueError(f"n_groups must be an int between 1 and {n_tasks}; got {n_groups!r}.")
    if method not in ("auto", "exhaustive", "greedy"):
        raise ValueError(f"method must be 'auto', 'exhaustive' or 'greedy'; got {method!r}.")
    if method == "auto":
        method = "exhaustive" if n_tasks <= max_exhaustive else "greedy"
    if method == "exhaustive":
        best_score, best = -np.inf, None
        for partition in _partitions(list(range(n_tasks)), int(n_groups)):
            score = sum(_group_score(matrix, group) for group in partition)
            if score > best_score + 1e-12:
                best_score, best = score, partition
        groups = best
    else:
        groups = _greedy(matrix, int(n_groups))
    assert groups is not None
    groups = sorted((sorted(group) for group in groups), key=lambda g: (-len(g), g[0]))
    return [[names[i] for i in group] for group in groups]
