"""Task kinds: everything that depends on what a target is, one class per kind.

A kind says how labels are learned in ``fit`` (classes, or a standardisation), how
they are encoded as float targets of the network, how wide the task's output is,
which loss trains it, how a raw output becomes a label or probabilities, which score
it gets by default, and which predictions the per-epoch running scores count.

The estimator holds one kind object per task (``TaskEncoder.kind_``), built from the
task's declaration by :func:`kind_of`. Adding a kind is a subclass of
:class:`TargetKind` and one ``@register_kind``, in a module imported here (the base in
``_base.py``, the regression kind in ``_regression.py``, the classification kinds in
``_classes.py``).
"""

from ._base import KIND_CLASSES, TargetKind, kind_of, register_kind

# registered in the order the documentation lists the kinds
from ._regression import Regression  # isort: skip
from ._classes import Binary, Multiclass, Multilabel, Ordinal  # isort: skip

__all__ = [
    "KIND_CLASSES",
    "Binary",
    "Multiclass",
    "Multilabel",
    "Ordinal",
    "Regression",
    "TargetKind",
    "kind_of",
    "register_kind",
]
