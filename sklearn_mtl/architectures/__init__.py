"""Network architectures: how the tasks share what they learn.

Each architecture is a parameter object whose :meth:`~Architecture.build` returns a
:class:`MultiTaskModule`; :func:`get_architecture` resolves the string aliases accepted
by ``MultiTaskNetEstimator(architecture=...)``.
"""

from __future__ import annotations

from ._base import Architecture, MultiTaskModule, NetworkConfig, TaskHeadSpec, make_mlp
from ._hard import HardSharing, HardSharingModule

ARCHITECTURES: dict[str, type[Architecture]] = {
    "hard": HardSharing,
}


def get_architecture(architecture: str | Architecture) -> Architecture:
    """Return a fresh architecture object for an alias, or the object itself.

    Parameters
    ----------
    architecture : str or Architecture
        An alias from ``ARCHITECTURES`` or an :class:`Architecture` instance.

    Returns
    -------
    Architecture

    Examples
    --------
    >>> from sklearn_mtl.architectures import get_architecture
    >>> get_architecture("hard")
    HardSharing()
    """
    if isinstance(architecture, Architecture):
        return architecture
    if isinstance(architecture, str) and architecture in ARCHITECTURES:
        return ARCHITECTURES[architecture]()
    raise ValueError(
        f"architecture={architecture!r} is not supported; expected one of "
        f"{sorted(ARCHITECTURES)} or an Architecture instance."
    )


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "HardSharing",
    "HardSharingModule",
    "MultiTaskModule",
    "NetworkConfig",
    "TaskHeadSpec",
    "get_architecture",
    "make_mlp",
]
