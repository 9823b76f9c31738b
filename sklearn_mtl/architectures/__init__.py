"""Network architectures: how the tasks share what they learn.

Each architecture is a parameter object whose :meth:`~Architecture.build` returns a
torch module (a ``MultiTaskModule``: the shared part and the task heads); the estimator
takes an alias (``"hard"``, ``"mmoe"``, ...) or an object, and wraps a user
``torch.nn.Module`` class or factory in :class:`CustomTrunk`. A new architecture is a
module of this package whose class is registered with
``@register_architecture("alias")`` (see :doc:`/design`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from torch import nn

from .._registry import ARCHITECTURES as _ARCHITECTURES
from ._base import Architecture
from ._base import MultiTaskModule as MultiTaskModule
from ._base import NetworkConfig as NetworkConfig
from ._base import TaskHeadSpec as TaskHeadSpec
from ._base import WrapperModule as WrapperModule
from ._cross_stitch import CrossStitch
from ._custom import CustomTrunk
from ._hard import HardSharing
from ._mmoe import MMoE
from ._offsets import TaskOffsets
from ._ple import PLE
from ._soft import SoftSharing
from ._task_attention import TaskAttention

#: Every registered architecture by alias (``sklearn_mtl._registry.register_architecture``).
ARCHITECTURES = _ARCHITECTURES


def get_architecture(
    architecture: str | Architecture | type[nn.Module] | Callable[..., nn.Module] | nn.Module,
) -> Architecture:
    """Return a fresh architecture object for an alias, or the object itself.

    Parameters
    ----------
    architecture : str, Architecture, or torch.nn.Module class, factory or instance
        An alias from ``ARCHITECTURES``, an :class:`Architecture` instance (returned
        as is), or a user network mapping X to a shared representation, which is
        wrapped in :class:`CustomTrunk`.

    Returns
    -------
    Architecture

    Examples
    --------
    >>> from sklearn_mtl.architectures import get_architecture
    >>> get_architecture("hard")
    HardSharing()
    >>> get_architecture("mmoe")
    MMoE()
    >>> from torch import nn
    >>> get_architecture(nn.Identity)
    CustomTrunk(module=<class 'torch.nn.modules.linear.Identity'>)
    >>> from sklearn_mtl.architectures import PLE
    >>> get_architecture(PLE)
    PLE()
    """
    if isinstance(architecture, Architecture):
        return cast(Architecture, architecture)
    if isinstance(architecture, type) and issubclass(architecture, Architecture):
        return architecture()  # the class itself: its defaults
    if isinstance(architecture, str):
        if architecture in ARCHITECTURES:
            return ARCHITECTURES[architecture]()
    elif isinstance(architecture, nn.Module) or callable(architecture):
        return CustomTrunk(architecture)
    raise ValueError(
        f"architecture={architecture!r} is not supported; expected one of "
        f"{sorted(ARCHITECTURES)}, an Architecture instance, or a torch.nn.Module "
        "class or factory mapping X to a shared representation."
    )


# The public names. What the estimator hands to ``Architecture.build`` (``NetworkConfig``,
# ``TaskHeadSpec``), what it returns (``MultiTaskModule``) and ``get_architecture`` are
# importable from here for the package and for examples that build a network directly;
# the modules built and their parts live in the private modules.
__all__ = [
    "Architecture",
    "CrossStitch",
    "CustomTrunk",
    "HardSharing",
    "MMoE",
    "PLE",
    "SoftSharing",
    "TaskAttention",
    "TaskOffsets",
]
