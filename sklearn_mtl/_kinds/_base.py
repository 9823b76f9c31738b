"""What a task kind is (:class:`TargetKind`), the registry of kinds and its helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._task_losses import CallableLoss

if TYPE_CHECKING:
    from .._task_encoding import TaskEncoder
    from ..tasks import Task


TorchLoss = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]
"""``loss(output, target, reduction)``: per element of target (``"none"``) or the mean."""


KIND_CLASSES: dict[str, type[TargetKind]] = {}
"""Kind name -> class, in the order the documentation lists the kinds."""


def register_kind(cls: type[TargetKind]) -> type[TargetKind]:
    """Class decorator: make ``cls`` the kind named ``cls.name``."""
    KIND_CLASSES[cls.name] = cls
    return cls


def kind_of(task: Task) -> TargetKind:
    """The kind object of a task whose kind is known."""
    if task.kind is None:
        raise ValueError(f"Task {task.name!r} has no kind yet (it is inferred in fit).")
    return KIND_CLASSES[task.kind](task)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _binary_cross_entropy(
    output: torch.Tensor, target: torch.Tensor, reduction: str
) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(output, target, reduction=reduction)


class TargetKind:
    """What one kind of target means for the network (subclass and register to add one).

    Parameters
    ----------
    task : Task
        The task's declaration (its options, such as a loss, live there).

    Attributes
    ----------
    name : str
        The kind's name, as written in ``Task(name, kind)``.
    is_classification : bool
        Whether the task predicts classes (it then has ``classes_`` and probabilities).
    multi_column : bool
        Whether the task may span several columns of y.
    default_metric : str
        The score of ``score``, ``score_tasks`` and the history unless the task sets one.
    families : frozenset of str
        Which metrics of :data:`sklearn_mtl.metrics.METRICS` apply: each metric names
        the family it needs (``"regression"``, ``"classification"``,
        ``"single_label"``, ``"binary"``, ``"multilabel"``).
    running_r2 : bool
        Whether the per-epoch running score is R² (else the share of hits).
    max_classes : int or None
        The most classes a single-column classification kind takes (None: no limit).
    label_smoothing : float
        The label smoothing of the kind's cross-entropy (0: none; see :meth:`smoothed`).
    """

    name: ClassVar[str]
    is_classification: ClassVar[bool] = True
    multi_column: ClassVar[bool] = False
    default_metric: ClassVar[str] = "accuracy"
    families: ClassVar[frozenset[str]] = frozenset()
    running_r2: ClassVar[bool] = False
    max_classes: ClassVar[int | None] = None
    label_smoothing: float = 0.0

    def __init__(self, task: Task):
        self.task = task
        self.check(task)
        if task.metric is not None:
            from ..metrics import _metric_spec

            _metric_spec(task.metric, self, task.name)

    def check(self, task: Task) -> None:
        """Raise a ValueError when the task's options do not fit the kind."""
        for option, default in (("huber_delta", 1.0), ("quantile", None), ("quantiles", None)):
            if getattr(task, option) != default:
                raise ValueError(
                    f"Task {task.name!r}: {option} is a regression option; the task is {self.name}."
                )
        if isinstance(task.loss, str) and task.loss != "log_loss":
            raise ValueError(
                f"Task {task.name!r} is a {self.name} task: its loss is 'log_loss' or a "
                f"callable; got {task.loss!r}."
            )
        if task.class_weight is not None and self.multi_column:
            raise ValueError(
                f"Task {task.name!r}: class_weight applies to binary, multiclass and "
                f"ordinal tasks, not {self.name} tasks."
            )

    def _loss_or(self, default: Callable) -> Callable:
        """The user's callable loss when there is one, else ``default``."""
        if callable(self.task.loss):
            return CallableLoss(self.task.loss, self.task.name)
        return default

    def smoothed(self, label_smoothing: float) -> TargetKind:
        """This kind with its cross-entropy computed on smoothed labels.

        A copy whose ``loss`` mixes the one-hot target with the uniform distribution
        over the classes (weight ``label_smoothing``), as torch's ``label_smoothing``;
        ``self`` when ``label_smoothing`` is 0, for kinds without classes (regression)
        and for a task with a callable loss (the user's loss is left as it is).
        """
        if not label_smoothing or not self.is_classification or callable(self.task.loss):
            return self
        other = copy.copy(self)
        other.label_smoothing = float(label_smoothing)
        return other

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task.name!r})"

    # -- fit and encoding ---------------------------------------------------------
    def fit(
        self,
        encoder: TaskEncoder,
        labelled: list[np.ndarray],
        labels: list[str],
        categorical: bool,
        classes: object,
    ) -> None:
        """Learn the encoding (``classes_`` or ``mean_``/``scale_``) on ``encoder``."""
        raise NotImplementedError

    def encode(self, encoder: TaskEncoder, values: np.ndarray, label: str) -> np.ndarray:
        """Float targets of one column's present labels."""
        raise NotImplementedError

    def n_outputs(self, encoder: TaskEncoder) -> int:
        """Width of the task's network output."""
        raise NotImplementedError

    # -- training -----------------------------------------------------------------
    def loss(self) -> TorchLoss:
        """The task's loss ``(output, target, reduction)``."""
        raise NotImplementedError

    def running_prediction(self, output: torch.Tensor) -> torch.Tensor:
        """The prediction the running scores count, in target space, one per target column."""
        raise NotImplementedError

    def loss_group_key(self) -> object:
        """A key shared by tasks whose losses may be evaluated together, or None.

        Tasks with equal keys must have the same loss and running prediction, both
        acting on each output column alone (one output per target column): the
        criterion then evaluates them with one call per batch on their outputs side by
        side. None (the default) keeps the task's loss a call of its own.
        """
        return None

    # -- decoding -----------------------------------------------------------------
    def predict_encoded(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> predictions in target space (class index, 0/1, standardised)."""
        raise NotImplementedError

    def decode(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> predictions in label space: (n,), or (n, k) for several columns."""
        raise NotImplementedError

    def proba(self, encoder: TaskEncoder, raw: np.ndarray) -> np.ndarray:
        """Raw outputs -> class probabilities."""
        raise ValueError(f"Task {self.task.name!r} is a {self.name} task: it has no probabilities.")

    def positive_score(self, proba: np.ndarray) -> np.ndarray:
        """The probabilities a ranking metric (ROC AUC, average precision) reads."""
        return proba

    # -- outputs of another estimator, for baselines --------------------------------
    def raw_from_predictions(self, encoder: TaskEncoder, predictions: np.ndarray) -> np.ndarray:
        """Raw outputs that decode to ``predictions`` (target space, as fitted on)."""
        raise NotImplementedError

    def raw_from_proba(self, encoder: TaskEncoder, proba: np.ndarray) -> np.ndarray:
        """Raw outputs whose probabilities are ``proba``."""
        raise NotImplementedError


def _cross_entropy(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    loss = F.cross_entropy(output, target[:, 0].long(), reduction=reduction)
    return loss if reduction == "mean" else loss[:, None]
