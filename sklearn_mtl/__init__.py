"""sklearn-mtl: multi-task neural networks as scikit-learn estimators.

One :class:`MultiTaskNetEstimator` learns several targets of one table at once
(regression, binary, multiclass and multilabel tasks, mixed), with missing labels masked
per task, trained with PyTorch through skorch.
"""

from . import architectures, metrics, weighting
from ._estimator import MultiTaskNetEstimator
from .tasks import Task

__version__ = "0.1.0.dev0"

__all__ = ["MultiTaskNetEstimator", "Task", "architectures", "metrics", "weighting"]
