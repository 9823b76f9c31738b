"""Parameter validation, one way everywhere: scikit-learn's ``_parameter_constraints``.

The estimator, the loss weightings, the architectures and :class:`~sklearn_mtl.MTRL`
declare their parameters' constraints in a ``_parameter_constraints`` class attribute
(``Interval``, ``StrOptions``, types, ``"boolean"``, ...), checked by scikit-learn's
``BaseEstimator._validate_params`` when they are used (at ``fit``, or at ``build``).
Its ``InvalidParameterError`` is both a ValueError and a TypeError, names the parameter
and the class, and accepts numpy scalars (``np.int64(100)``, ``np.float32(1.5)``), so
that grids built with ``np.arange`` work. Layer sizes, which scikit-learn has no
constraint for, are checked by :func:`check_layer_sizes` with the same kind of message.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)

__all__ = [
    "LAYER_SIZES",
    "HasMethods",
    "Integral",
    "Interval",
    "InvalidParameterError",
    "Real",
    "StrOptions",
    "check_layer_sizes",
    "finite",
    "positive_int",
]

positive_int = Interval(Integral, 1, None, closed="left")
"""An int >= 1 (numpy ints too)."""


def finite(low: float | None = 0.0, closed: str = "left") -> Interval:
    """A finite real number above ``low`` (``closed="neither"``: strictly above)."""
    return Interval(Real, low, np.inf, closed="left" if closed == "left" else "neither")


LAYER_SIZES = ["array-like", positive_int]
"""Constraint of a ``*_layer_sizes`` parameter; :func:`check_layer_sizes` checks the items."""


def check_layer_sizes(
    value: int | Sequence[int] | None,
    name: str,
    owner: str,
    allow_empty: bool = True,
) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ints >= 1) as a tuple of Python ints.

    Examples
    --------
    >>> import numpy as np
    >>> check_layer_sizes(np.arange(2, 4), "hidden_layer_sizes", "MultiTaskNetEstimator")
    (2, 3)
    >>> try:
    ...     check_layer_sizes([8, 2.5], "sizes", "MMoE")
    ... except ValueError as error:
    ...     print(error)
    The 'sizes' parameter of MMoE must hold ints >= 1; got [8, 2.5].
    """
    sizes = (value,) if isinstance(value, numbers.Integral) else value
    if (
        sizes is None
        or isinstance(sizes, str | bytes)
        or not isinstance(sizes, Sequence | np.ndarray)
        or not all(
            isinstance(size, numbers.Integral) and not isinstance(size, bool) and size >= 1
            for size in sizes
        )
    ):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must hold ints >= 1; got {value!r}."
        )
    if not allow_empty and len(sizes) == 0:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} needs at least one layer; got {value!r}."
        )
    return tuple(int(size) for size in sizes)
