"""Loss-balancing methods: how the tasks' losses are weighted against each other.

Each method is a parameter object whose :meth:`~LossWeighting.build` returns a
:class:`WeightingModule`; :func:`get_weighting` resolves the string aliases accepted by
``MultiTaskNetEstimator(loss_weighting=...)``.
"""

from __future__ import annotations

from ._base import (
    BackwardContext,
    FixedWeighting,
    LossLevelWeighting,
    LossWeighting,
    WeightingModule,
)

WEIGHTINGS: dict[str, type[LossWeighting]] = {
    "fixed": FixedWeighting,
}


def get_weighting(loss_weighting: str | LossWeighting) -> LossWeighting:
    """Return a fresh weighting object for an alias, or the object itself.

    Parameters
    ----------
    loss_weighting : str or LossWeighting
        An alias from ``WEIGHTINGS`` or a :class:`LossWeighting` instance.

    Returns
    -------
    LossWeighting

    Examples
    --------
    >>> from sklearn_mtl.weighting import get_weighting
    >>> get_weighting("fixed")
    FixedWeighting()
    """
    if isinstance(loss_weighting, LossWeighting):
        return loss_weighting
    if isinstance(loss_weighting, str) and loss_weighting in WEIGHTINGS:
        return WEIGHTINGS[loss_weighting]()
    raise ValueError(
        f"loss_weighting={loss_weighting!r} is not supported; expected one of "
        f"{sorted(WEIGHTINGS)} or a LossWeighting instance."
    )


__all__ = [
    "WEIGHTINGS",
    "BackwardContext",
    "FixedWeighting",
    "LossLevelWeighting",
    "LossWeighting",
    "WeightingModule",
    "get_weighting",
]
