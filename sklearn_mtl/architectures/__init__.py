"""Network architectures: how the tasks share what they learn.

Each architecture is a parameter object whose :meth:`~Architecture.build` returns a
:class:`MultiTaskModule`; :func:`get_architecture` resolves the string aliases accepted
by ``MultiTaskNetEstimator(architecture=...)``, and wraps a user ``torch.nn.Module``
class or factory in :class:`CustomTrunk`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from torch import nn

from .._registry import ARCHITECTURES as _ARCHITECTURES
from ._base import (
    Architecture,
    MultiTaskModule,
    NetworkConfig,
    TaskHeadSpec,
    check_task_specs,
    make_mlp,
)
from ._cross_stitch import CrossStitch, CrossStitchModule, CrossStitchUnit
from ._custom import CustomTrunk, CustomTrunkModule
from ._hard import HardSharing, HardSharingModule
from ._heads import TaskHeads
from ._mmoe import MMoE, MMoEModule, SoftmaxGate
from ._offsets import TaskOffsets, TaskOffsetsModule
from ._ple import PLE, CGCLevel, PLEModule
from ._soft import SoftSharing, SoftSharingModule
from ._task_attention import AttentionMask, TaskAttention, TaskAttentionModule

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


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "AttentionMask",
    "CGCLevel",
    "CrossStitch",
    "CrossStitchModule",
    "CrossStitchUnit",
    "CustomTrunk",
    "CustomTrunkModule",
    "HardSharing",
    "HardSharingModule",
    "MMoE",
    "MMoEModule",
    "MultiTaskModule",
    "NetworkConfig",
    "PLE",
    "PLEModule",
    "SoftSharing",
    "SoftSharingModule",
    "SoftmaxGate",
    "TaskAttention",
    "TaskAttentionModule",
    "TaskHeadSpec",
    "TaskHeads",
    "TaskOffsets",
    "TaskOffsetsModule",
    "check_task_specs",
    "get_architecture",
    "make_mlp",
]
