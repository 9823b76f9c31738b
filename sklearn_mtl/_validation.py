"""Parameter validation, one way everywhere: scikit-learn's ``_parameter_constraints``.

The estimator, the loss weightings, the architectures and :class:`~sklearn_mtl.MTRL`
declare their parameters' constraints in a ``_parameter_constraints`` class attribute
(``Interval``, ``StrOptions``, types, ``"boolean"``, ...), checked by scikit-learn's
``BaseEstimator._validate_params`` when they are used (at ``fit``, or at ``build``).
Its ``InvalidParameterError`` is both a ValueError and a TypeError, names the parameter
and the class, and accepts numpy scalars (``np.int64(100)``, ``np.float32(1.5)``), so
that grids built with ``np.arange`` work. Layer sizes, which scikit-learn has no
constraint for, are checked by :func:`check_layer_sizes` with the same kind of message.

Errors of scikit-learn's checks reach the user re-raised from here (:class:`OwnErrors`,
:func:`errors_about`), so that the innermost frame of an error is always sklearn-mtl's,
with a message that names the parameter, or X, y or sample_weight.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    "OwnErrors",
    "Integral",
    "Interval",
    "InvalidParameterError",
    "Real",
    "StrOptions",
    "check_layer_sizes",
    "errors_about",
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


def _reraised(error: Exception, message: str) -> Exception:
    """An error of ``error``'s class (a ValueError or TypeError) with ``message``."""
    try:
        new = type(error)(message)
    except Exception:  # a class whose constructor takes other arguments
        new = TypeError(message) if isinstance(error, TypeError) else ValueError(message)
    return new if isinstance(new, ValueError | TypeError) else ValueError(message)


@contextmanager
def errors_about(subject: str) -> Iterator[None]:
    """Re-raise a ValueError or TypeError of the block from here, naming ``subject``.

    For the checks of scikit-learn (``validate_data``, ``_check_sample_weight``) on the
    user's X, y or sample_weight: the message is kept, prefixed with ``subject`` when it
    does not name it, and the error is of the same class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import check_array
    >>> try:
    ...     with errors_about("X"):
    ...         check_array(np.ones((2, 2)), ensure_min_samples=3)
    ... except ValueError as error:
    ...     print(error)
    X: Found array with 2 sample(s) (shape=(2, 2)) while a minimum of 3 is required.
    """
    try:
        yield
    except (ValueError, TypeError) as error:
        message = str(error)
        if not re.search(rf"(?<!\w){re.escape(subject)}(?!\w)", message):
            message = f"{subject}: {message}"
        raise _reraised(error, message) from error


class OwnErrors:
    """Mixin: ``_validate_params`` re-raises scikit-learn's ``InvalidParameterError``
    from sklearn-mtl's code (its message already names the parameter and the class)."""

    def _validate_params(self) -> None:
        try:
            super()._validate_params()  # type: ignore[misc]
        except InvalidParameterError as error:
            raise InvalidParameterError(str(error)) from error
