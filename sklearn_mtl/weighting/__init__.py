"""Loss-balancing methods: how the tasks' losses are weighted against each other.

Each method is a parameter object whose :meth:`~LossWeighting.build` returns a
:class:`WeightingModule`; ``get_weighting`` resolves the string aliases accepted by
``MultiTaskNetEstimator(loss_weighting=...)``.

Loss-level methods combine the task losses into one scalar: :class:`FixedWeighting`,
:class:`UncertaintyWeighting`, :class:`DynamicWeightAverage`,
:class:`RandomLossWeighting`, :class:`GeometricLossStrategy`, :class:`FAMO`.
Gradient-level methods combine the tasks' gradients of the shared part of the network
(:class:`GradientLevelWeighting`): :class:`DBMTL`, :class:`GradNorm`, :class:`PCGrad`,
:class:`MGDA`, :class:`CAGrad`, :class:`IMTL`, :class:`NashMTL`, :class:`AlignedMTL`,
:class:`UPGrad`.
"""

from __future__ import annotations

from .._registry import WEIGHTINGS as _WEIGHTINGS
from ._aligned import AlignedMTL, aligned_coefficients  # noqa: F401 (not in __all__)
from ._base import (
    BackwardContext,
    FixedWeighting,
    LossLevelWeighting,
    LossWeighting,
    StepResult,
    WeightingModule,
)
from ._cagrad import CAGrad, cagrad_coefficients  # noqa: F401 (not in __all__)
from ._dbmtl import DBMTL
from ._dwa import DynamicWeightAverage
from ._famo import FAMO
from ._geometric import GeometricLossStrategy
from ._gradient import GradientLevelWeighting
from ._gradnorm import GradNorm, gradnorm_gradient  # noqa: F401 (not in __all__)
from ._imtl import IMTL, imtl_coefficients  # noqa: F401 (not in __all__)
from ._mgda import MGDA
from ._nash import NashMTL, nash_coefficients  # noqa: F401 (not in __all__)
from ._pcgrad import PCGrad, pcgrad_coefficients  # noqa: F401 (not in __all__)
from ._rlw import RandomLossWeighting
from ._solvers import min_norm_simplex  # noqa: F401 (not in __all__)
from ._uncertainty import UncertaintyWeighting
from ._upgrad import UPGrad, upgrad_coefficients  # noqa: F401 (not in __all__)

#: Every registered method by alias (``sklearn_mtl._registry.register_weighting``), in
#: registration order: the imports above.
WEIGHTINGS = _WEIGHTINGS

#: Aliases of the methods that need per-task gradients (one backward pass per task).
#: They are the methods with a ``gradient_on`` parameter.
GRADIENT_LEVEL = tuple(
    alias for alias, cls in WEIGHTINGS.items() if "gradient_on" in cls._get_param_names()
)


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
    >>> get_weighting("gradnorm")
    GradNorm()
    """
    if isinstance(loss_weighting, LossWeighting):
        return loss_weighting
    if isinstance(loss_weighting, str) and loss_weighting in WEIGHTINGS:
        return WEIGHTINGS[loss_weighting]()
    raise ValueError(
        f"loss_weighting={loss_weighting!r} is not supported; expected one of "
        f"{sorted(WEIGHTINGS)} or a LossWeighting instance."
    )


# The public names: the methods, their registry, and the protocol a new method
# implements. The numpy cores (``*_coefficients``, ``min_norm_simplex``,
# ``gradnorm_gradient``), ``GRADIENT_LEVEL`` and ``get_weighting`` are importable from
# here for the package, its tests and doctests.
__all__ = [
    "AlignedMTL",
    "BackwardContext",
    "CAGrad",
    "DBMTL",
    "DynamicWeightAverage",
    "FAMO",
    "FixedWeighting",
    "GeometricLossStrategy",
    "GradNorm",
    "GradientLevelWeighting",
    "IMTL",
    "LossLevelWeighting",
    "LossWeighting",
    "MGDA",
    "NashMTL",
    "PCGrad",
    "RandomLossWeighting",
    "StepResult",
    "UPGrad",
    "UncertaintyWeighting",
    "WeightingModule",
]
