"""The named building blocks: architectures, loss weightings, task relations, optimizers.

Each kind has one :class:`Registry`, a dict from the alias accepted by
``MultiTaskNetEstimator`` (``architecture="mmoe"``, ``loss_weighting="dwa"``,
``task_relation="mtrl"``, ``optimizer="adam"``) to the class. Classes enter it by
decorator, in the module that defines them::

    @register_weighting("dwa")
    class DynamicWeightAverage(LossLevelWeighting): ...

The estimator resolves aliases here, and the safe file format
(:mod:`sklearn_mtl._persistence`) rebuilds objects from the class names it wrote,
looked up here too: a class that is not registered is never instantiated from a file.
This module imports nothing of the package, so that every other module can import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .architectures import Architecture
    from .weighting import LossWeighting

_T = TypeVar("_T")
_C = TypeVar("_C", bound=type)

__all__ = [
    "ARCHITECTURES",
    "OPTIMIZERS",
    "RELATIONS",
    "WEIGHTINGS",
    "Registry",
    "register_architecture",
    "register_optimizer",
    "register_relation",
    "register_weighting",
]


class Registry(dict[str, type[_T]], Generic[_T]):
    """Aliases of one kind of building block, mapped to their classes.

    A plain dict (iteration, ``in``, ``[alias]``) in registration order, filled by
    :meth:`register`.

    Parameters
    ----------
    kind : str
        What the registry holds ("architecture", "weighting", ...), for messages.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, alias: str) -> Callable[[_C], _C]:
        """A class decorator that registers the class under ``alias``.

        Raises ``ValueError`` when the alias or the class name is taken by another
        class (saved files name classes, so class names must be unique too).
        """
        if not isinstance(alias, str) or not alias:
            raise ValueError(f"A {self.kind} alias must be a non-empty str; got {alias!r}.")

        def decorator(cls: _C) -> _C:
            if not isinstance(cls, type):
                raise TypeError(f"Only classes can be registered as a {self.kind}; got {cls!r}.")
            taken = self.get(alias)
            if taken is not None and taken is not cls:
                raise ValueError(
                    f"The {self.kind} alias {alias!r} is already taken by {taken.__name__}."
                )
            same_name = self.by_class_name().get(cls.__name__)
            if same_name is not None and same_name is not cls:
                raise ValueError(
                    f"Another {self.kind} class is already named {cls.__name__!r}; saved "
                    "files name classes, so class names must be unique."
                )
            self[alias] = cls
            return cls

        return decorator

    def by_class_name(self) -> dict[str, type[_T]]:
        """The registered classes by class name (what a saved file names)."""
        return {cls.__name__: cls for cls in self.values()}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self)})"


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
WEIGHTINGS: Registry[LossWeighting] = Registry("weighting")
RELATIONS: Registry[Any] = Registry("relation")
OPTIMIZERS: Registry[Any] = Registry("optimizer")

register_architecture = ARCHITECTURES.register
register_weighting = WEIGHTINGS.register
register_relation = RELATIONS.register
register_optimizer = OPTIMIZERS.register
