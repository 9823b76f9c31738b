"""sklearn-mtl: multi-task neural networks as scikit-learn estimators.

One :class:`MultiTaskNetEstimator` learns several targets of one table at once
(regression, binary, multiclass and multilabel tasks, mixed), with missing labels masked
per task, trained with PyTorch through skorch.
"""

from . import architectures, datasets, diagnostics, metrics, model_selection, weighting
from ._distributed import fit_distributed
from ._estimator import MultiTaskNetEstimator
from ._relationship import MTRL
from .tasks import Task

__version__ = "0.1.0.dev0"

__all__ = [
    "MTRL",
    "MultiTaskNetEstimator",
    "Task",
    "architectures",
    "datasets",
    "diagnostics",
    "fit_distributed",
    "metrics",
    "model_selection",
    "weighting",
]
