"""Numeric scaling of the raw-table input: one method per numeric column, and its statistics.

``numeric_scaling`` is one method for every numeric column ("auto", "standard",
"squashing", "robust", "quantile" or None), or a dict ``{column name or index: method}``
whose columns not named get "standard". :func:`resolve_scalings` turns it into one
method per numeric column of a fitted :class:`~sklearn_mtl._input.InputEncoder`, with
errors that name the column; :func:`resolve_auto` replaces "auto" by the method the
training rows call for (:func:`is_heavy_tailed`); :func:`numeric_stats` measures what the
input layer needs for them.

The "auto" rule: a column is *heavy-tailed* when it takes more than two values and
standard scaling would put one of its training values more than :data:`AUTO_MAX_Z` (8)
standard deviations from its mean; it gets "squashing" (median, interquartile range,
smooth clipping to (-3, 3)), every other column "standard". Why this statistic: an
outlier is what standard scaling handles worst, since it inflates the standard deviation
(squeezing every other row of its column together) and reaches the network far outside
the range of the others; the largest ``|z|`` measures exactly that. Why 8: the largest
``|z|`` of a normal sample grows like ``sqrt(2 ln n)``, about 4.9 for the 100,000 rows the
statistics are measured on at most, so a normal, uniform or otherwise bounded column
stays "standard" (the 21 smooth sensor columns of sarcos, where squashing was measured
to lose, reach 6.5 at most), while a lognormal or Pareto tail, or one gross error among
a few hundred rows, crosses it (``|z|`` cannot exceed ``(n - 1) / sqrt(n)``, so no column
of fewer than 66 rows is heavy-tailed). Two-valued columns (indicators) stay "standard":
a rare indicator has a large ``|z|`` but no tail.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "AUTO_MAX_Z",
    "DEFAULT",
    "FITTED_SCALINGS",
    "N_QUANTILES",
    "SCALINGS",
    "is_heavy_tailed",
    "numeric_stats",
    "resolve_auto",
    "resolve_scalings",
]

SCALINGS = ("auto", "standard", "squashing", "robust", "quantile", None)
"""Accepted scaling methods (the values of ``numeric_scaling`` or of its dict)."""

FITTED_SCALINGS = SCALINGS[1:]
"""The methods a fitted column can have ("auto" resolved to one of them)."""

AUTO_MAX_Z = 8.0
"""A column whose training values reach beyond this many standard deviations from the
mean is heavy-tailed (see the module docstring)."""

DEFAULT = "standard"
"""The method of a numeric column that a ``numeric_scaling`` dict does not name."""

N_QUANTILES = 256


def check_method(method: Any, where: str, accepted: Sequence[str | None] = SCALINGS) -> None:
    """A ValueError unless ``method`` is one of ``accepted`` (:data:`SCALINGS`)."""
    if not (method is None or (isinstance(method, str) and method in accepted)):
        raise ValueError(f"{where} must be one of {list(accepted)}; got {method!r}.")


def is_heavy_tailed(column: np.ndarray) -> bool:
    """Whether "auto" scales this column (its values, NaN removed) with "squashing".

    True when the column takes more than two values and one of them lies more than
    :data:`AUTO_MAX_Z` standard deviations from the mean.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bool(is_heavy_tailed(rng.normal(size=100_000)))
    False
    >>> bool(is_heavy_tailed(rng.lognormal(0.0, 1.0, size=1_000)))
    True
    >>> bool(is_heavy_tailed(np.r_[rng.normal(size=999), 1e6]))  # one gross outlier
    True
    """
    if column.size < 3:
        return False
    low, high = column.min(), column.max()
    if not ((column != low) & (column != high)).any():  # at most two values
        return False
    mean, std = column.mean(), column.std()
    return bool(std > 0 and max(high - mean, mean - low) > AUTO_MAX_Z * std)


def resolve_auto(
    values: np.ndarray, missing: np.ndarray, methods: Sequence[str | None]
) -> list[str | None]:
    """``methods`` with each "auto" replaced by "squashing" or "standard".

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_columns)
        The training values of the columns (float64, NaN where ``missing``).
    missing : ndarray of bool, same shape
        Where a value is missing (ignored by the rule).
    methods : sequence
        One method per column.

    Returns
    -------
    list
        The methods, "auto" resolved by :func:`is_heavy_tailed`.
    """
    resolved = list(methods)
    for j, method in enumerate(methods):
        if method == "auto":
            column = values[~missing[:, j], j] if missing[:, j].any() else values[:, j]
            resolved[j] = "squashing" if is_heavy_tailed(column) else "standard"
    return resolved


def resolve_scalings(
    spec: Any, names: Sequence[Any], numeric: Sequence[int], has_names: bool
) -> list[str | None]:
    """One scaling method per numeric column.

    Parameters
    ----------
    spec : str, None or dict
        ``numeric_scaling``.
    names : sequence
        The name of every column of X (its index where X has no names).
    numeric : sequence of int
        The positions of the numeric columns among ``names``.
    has_names : bool
        Whether X has column names (a dict may then name columns by str).

    Returns
    -------
    list
        The method of each numeric column, in the order of ``numeric``.

    Examples
    --------
    >>> resolve_scalings({"income": "quantile"}, ["age", "income", "town"], [0, 1], True)
    ['standard', 'quantile']
    >>> resolve_scalings("robust", [0, 1], [0, 1], False)
    ['robust', 'robust']
    >>> resolve_scalings("auto", [0, 1], [0, 1], False)  # resolved on the rows later
    ['auto', 'auto']
    """
    if not isinstance(spec, Mapping):
        check_method(spec, "numeric_scaling")
        return [spec] * len(numeric)
    chosen: dict[int, tuple[Any, Any]] = {}  # column position -> (key, method)
    for key, method in spec.items():
        position = _position(key, names, has_names)
        check_method(method, f"numeric_scaling[{key!r}]")
        if position in chosen:
            raise ValueError(
                f"numeric_scaling names column {names[position]!r} twice (as "
                f"{chosen[position][0]!r} and {key!r}); give it one method."
            )
        if position not in set(numeric):
            raise ValueError(
                f"numeric_scaling[{key!r}]: column {names[position]!r} is categorical, and "
                "only numeric columns are scaled; drop it from the dict (or convert the "
                "column to numbers)."
            )
        chosen[position] = (key, method)
    return [chosen[j][1] if j in chosen else DEFAULT for j in numeric]


def _position(key: Any, names: Sequence[Any], has_names: bool) -> int:
    """The position of the column a ``numeric_scaling`` dict key names."""
    n_columns = len(names)
    if isinstance(key, bool | np.bool_) or not isinstance(key, str | numbers.Integral):
        raise ValueError(
            f"numeric_scaling keys must be column names (str) or indices (int); got {key!r}."
        )
    if isinstance(key, str):
        if not has_names:
            raise ValueError(
                f"numeric_scaling names the column {key!r}, but X has no column names; "
                "use column indices."
            )
        labels = [str(name) for name in names]
        if key not in labels:
            raise ValueError(
                f"numeric_scaling names {key!r}, which is not a column of X; the columns "
                f"are {labels}."
            )
        return labels.index(key)
    index = int(key)
    if not -n_columns <= index < n_columns:
        raise ValueError(
            f"numeric_scaling index {index} is out of range for X with {n_columns} columns."
        )
    return index % n_columns


def numeric_stats(
    values: np.ndarray,
    missing: np.ndarray,
    methods: Sequence[str | None],
    with_knots: bool | None = None,
    medians: bool = True,
) -> dict[str, np.ndarray]:
    """Imputation value and scaling statistics of each column (NaN ignored).

    ``fill`` is the median (0 for unscaled columns when ``medians=False``, which spares
    their quantiles); ``center`` and ``scale`` the affine part ((x - center) /
    scale: the mean and standard deviation for "standard", the median and the
    interquartile range for "squashing" and "robust", 0 and 1 otherwise); ``knots``,
    its :data:`N_QUANTILES` quantiles for a "quantile" column (zeros for the others),
    present when ``with_knots`` (default: when a column is "quantile").
    """
    n_columns = values.shape[1]
    fill, center, scale = np.zeros(n_columns), np.zeros(n_columns), np.ones(n_columns)
    any_quantile = "quantile" in methods if with_knots is None else with_knots
    knots = np.zeros((n_columns, N_QUANTILES if any_quantile else 0))
    levels = np.linspace(0.0, 1.0, knots.shape[1])
    for j, method in enumerate(methods):
        column = values[~missing[:, j], j] if missing[:, j].any() else values[:, j]
        if column.size == 0 or (method is None and not medians):
            continue
        q25, median, q75 = np.quantile(column, [0.25, 0.5, 0.75])
        fill[j] = median
        if method in ("squashing", "robust"):
            center[j] = median
            spread = q75 - q25
            if spread <= 0:  # more than half the rows share a value: min-max instead
                spread = 0.5 * (column.max() - column.min())
            scale[j] = spread if spread > 0 else 1.0
        elif method == "standard":
            center[j] = column.mean()
            std = column.std()
            scale[j] = std if std > 0 else 1.0
        elif method == "quantile":
            knots[j] = np.quantile(column, levels)
    stats: dict[str, np.ndarray] = {"fill": fill, "center": center, "scale": scale}
    if any_quantile:
        stats["knots"] = knots
    return stats
