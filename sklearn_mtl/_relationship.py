"""Task relationships measured or learned during training.

Two tools that the estimator attaches to its skorch net when asked:

- :class:`GradientAffinity` (``record_task_affinity=True``): the pairwise cosine
  similarity of the tasks' gradients on the shared parameters, accumulated on the
  device over a subset of the training batches and written to the history once per
  epoch.
- :class:`MTRL` (``task_relation="mtrl"``): multi-task relationship learning (Zhang and
  Yeung, 2010). A penalty ``strength / 2 * tr(W Omega^-1 W^T)`` on the task heads ties
  them through a learned task covariance ``Omega``, updated in closed form at the end of
  each epoch (alternating optimisation).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._doc_link import DocLinkMixin
from ._pairwise import PairwiseMean
from ._registry import RELATIONS, register_relation
from ._validation import finite
from .weighting._gradient import task_gradients

__all__ = ["MTRL", "GradientAffinity", "get_task_relation", "relation_matrix_frame"]


# -- gradient affinity -------------------------------------------------------------------
class GradientAffinity:
    """Accumulates the cosine similarity of per-task gradients of the shared parameters.

    On a sampled batch, one extra backward pass per task through the shared part of the
    network gives each task's gradient ``g_t``; the cosines ``g_s . g_t / (|g_s| |g_t|)``
    of the tasks that have labels in the batch are added to a ``(n_tasks, n_tasks)`` sum
    on the device (no host synchronisation per batch). :meth:`pop_epoch` returns the
    epoch's mean and resets.

    Parameters
    ----------
    n_tasks : int
        Number of tasks.
    max_batches : int
        At most this many batches per epoch are used, evenly spaced (all batches when
        an epoch has fewer). Each sampled batch costs ``n_tasks`` extra backward passes
        through the shared layers.
    """

    def __init__(self, n_tasks: int, max_batches: int = 10):
        self.n_tasks = int(n_tasks)
        self.max_batches = int(max_batches)
        self._pairs = PairwiseMean()
        self._stride = 1
        self._batch = 0

    def begin_epoch(self, n_batches: int) -> None:
        """Reset the batch counter; sample every ``ceil(n_batches / max_batches)``-th batch."""
        self._stride = max(1, math.ceil(n_batches / self.max_batches))
        self._batch = 0

    def wants_batch(self) -> bool:
        """Whether the coming batch is sampled (advances the counter)."""
        sampled = self._batch % self._stride == 0
        self._batch += 1
        return sampled

    def accumulate(
        self,
        losses: torch.Tensor,
        present: torch.Tensor,
        inputs: Sequence[torch.Tensor],
    ) -> None:
        """Add the cosines of the present tasks' gradients with respect to ``inputs``.

        Parameters
        ----------
        losses : torch.Tensor of shape (n_tasks,)
            Per-task losses of the batch, still in the graph.
        present : torch.Tensor of bool, shape (n_tasks,)
            Tasks with labels in the batch.
        inputs : sequence of torch.Tensor
            The shared parameters (or the shared representation when the architecture
            has no shared parameter).
        """
        inputs = [p for p in inputs if p.requires_grad]
        if not inputs:
            return
        # every task's row (absent tasks are masked below, on the device: no host sync)
        matrix = task_gradients(losses, inputs).detach()
        norms = matrix.norm(dim=1)
        valid = present & (norms > 0)
        unit = matrix / norms.clamp(min=1e-30)[:, None]
        self._pairs.add(unit @ unit.T, valid)

    def pop_epoch(self) -> np.ndarray:
        """The epoch's mean cosine matrix (NaN for pairs never seen together), then reset."""
        mean = self._pairs.mean(self.n_tasks)
        self._pairs.reset()
        return mean


# -- multi-task relationship learning ------------------------------------------------------
@register_relation("mtrl")
class MTRL(DocLinkMixin, BaseEstimator):
    """Multi-task relationship learning: a learned task covariance over the task heads.

    Each task's head starts with a linear layer on the shared representation; its weight
    matrix, flattened, is the task's column ``w_t`` of ``W``. The training loss gets the
    penalty ``strength / 2 * tr(W Omega^-1 W^T)`` (the matrix-variate normal prior of
    Zhang and Yeung, 2010), which pulls together the heads of tasks that ``Omega`` says
    are related and pushes apart those it says are opposed. ``Omega`` starts as
    ``I / n_tasks`` (independent tasks) and, at the end of every epoch, takes its closed
    form optimum given the heads, ``Omega = (W^T W)^(1/2) / tr((W^T W)^(1/2))``: network
    and covariance are optimised in turn. The plain ``tr(W W^T)`` term of the original
    objective is the estimator's weight decay ``alpha``.

    The learned task correlation (``Omega`` scaled to a unit diagonal) is the
    estimator's ``task_relation_``.

    All heads' first layers must have the same shape: with linear heads
    (``head_layer_sizes=()``) this needs tasks with equal output widths (regression and
    binary tasks have 1; a k-class task has k). Give every head a hidden layer
    (``head_layer_sizes=(h,)``) to relate tasks of different widths.

    Parameters
    ----------
    strength : float, default=0.01
        Weight of the penalty (comparable to ``alpha``, the weight decay).
    epsilon : float, default=1e-4
        Ridge added to ``W^T W`` before the matrix square root, relative to its mean
        diagonal, so that ``Omega`` stays invertible.

    References
    ----------
    Zhang, Y. and Yeung, D.-Y. (2010). A convex formulation for learning task
    relationships in multi-task learning. *UAI 2010*, 733-742.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl import MTRL
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0], X[:, 0] + 0.1 * rng.normal(size=200), -X[:, 0]])
    >>> est = MultiTaskNetEstimator(task_relation=MTRL(strength=0.1), hidden_layer_sizes=(16,),
    ...                             max_epochs=100, lr=0.01, random_state=0).fit(X, y)
    >>> relation = np.asarray(est.task_relation_)
    >>> bool(relation[0, 1] > 0.5), bool(relation[0, 2] < -0.5)
    (True, True)
    """

    _parameter_constraints: ClassVar[dict] = {"strength": [finite(0)], "epsilon": [finite(0)]}

    def __init__(self, strength: float = 0.01, epsilon: float = 1e-4):
        self.strength = strength
        self.epsilon = epsilon

    def build(self, module: nn.Module, task_names: Sequence[str]) -> MTRLRegularizer:
        """Return the runtime regulariser for a built multi-task module."""
        self._validate_params()
        return MTRLRegularizer(module, task_names, float(self.strength), float(self.epsilon))


def _first_linear(head: nn.Module, task: str) -> nn.Linear:
    for layer in head.modules():
        if isinstance(layer, nn.Linear):
            return layer
    raise ValueError(f"Task {task!r} has a head without a linear layer; MTRL cannot relate it.")


def _last_linear(head: nn.Module) -> nn.Linear:
    linears = [layer for layer in head.modules() if isinstance(layer, nn.Linear)]
    return linears[-1]


class MTRLRegularizer:
    """Runtime state of :class:`MTRL`: the task covariance and the penalty.

    ``Omega`` is kept as a float64 numpy array (so that a model trained on a GPU
    unpickles anywhere); a device copy of its inverse is cached and rebuilt on demand.
    """

    def __init__(
        self, module: nn.Module, task_names: Sequence[str], strength: float, epsilon: float
    ):
        heads = getattr(module, "task_heads", None)
        if heads is None or not hasattr(heads, "inputs_from"):
            raise ValueError(
                "task_relation='mtrl' needs an architecture with per-task heads "
                f"(a `task_heads` attribute); {type(module).__name__} has none."
            )
        self.task_names = list(task_names)
        self.strength = strength
        self.epsilon = epsilon
        self._widths: list[int] = []
        shapes = {}
        for index, name in enumerate(self.task_names):
            layer = _first_linear(heads[index], name)
            chained = sum(
                _last_linear(heads[heads.task_names.index(source)]).out_features
                for source in heads.inputs_from[index]
            )
            width = layer.in_features - chained
            self._widths.append(width)
            shapes[name] = (layer.out_features, width)
        if len(set(shapes.values())) > 1:
            detail = ", ".join(f"{name}: {shape}" for name, shape in shapes.items())
            raise ValueError(
                "task_relation='mtrl' relates the tasks' head weights, which must have the "
                f"same shape; the heads' first layers are ({detail}). Give every task a "
                "hidden head layer of the same width, e.g. head_layer_sizes=(16,)."
            )
        n_tasks = len(self.task_names)
        self.omega = np.eye(n_tasks) / n_tasks
        self._inverse: torch.Tensor | None = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_inverse"] = None
        return state

    def _head_matrix(self, module: nn.Module) -> torch.Tensor:
        """``W^T``: one row per task, the flattened first-layer weights of its head."""
        heads: Any = module.task_heads
        rows = [
            _first_linear(heads[i], name).weight[:, : self._widths[i]].reshape(-1)
            for i, name in enumerate(self.task_names)
        ]
        return torch.stack(rows)

    def penalty(self, module: nn.Module) -> torch.Tensor:
        """``strength / 2 * tr(W Omega^-1 W^T)`` for the current heads, in the graph."""
        W_t = self._head_matrix(module)
        if self._inverse is None or self._inverse.device != W_t.device:
            self._inverse = torch.as_tensor(np.linalg.inv(self.omega), dtype=W_t.dtype).to(
                W_t.device
            )
        gram = W_t @ W_t.T
        return 0.5 * self.strength * (self._inverse * gram).sum()

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Closed-form covariance step: ``Omega = (W^T W)^(1/2) / tr((W^T W)^(1/2))``."""
        W_t = self._head_matrix(module).double().cpu().numpy()
        gram = W_t @ W_t.T
        n_tasks = gram.shape[0]
        ridge = self.epsilon * max(float(np.trace(gram)) / n_tasks, 1e-12)
        values, vectors = np.linalg.eigh(gram + ridge * np.eye(n_tasks))
        root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        trace = float(np.trace(root))
        if not np.isfinite(trace) or trace <= 0:
            return
        self.omega = root / trace
        self._inverse = None

    def correlation(self) -> np.ndarray:
        """``Omega`` scaled to a unit diagonal: the learned task correlation."""
        scale = np.sqrt(np.clip(np.diag(self.omega), 1e-300, None))
        return self.omega / scale[:, None] / scale[None, :]


def get_task_relation(task_relation: object) -> MTRL | None:
    """Resolve the estimator's ``task_relation`` parameter."""
    if task_relation is None:
        return None
    if isinstance(task_relation, MTRL):
        return task_relation
    if isinstance(task_relation, str) and task_relation.lower() in RELATIONS:
        return RELATIONS[task_relation.lower()]()
    raise ValueError(
        f"task_relation={task_relation!r} is not supported; expected None, 'mtrl' or an "
        "sklearn_mtl.MTRL instance."
    )


def check_record_task_affinity(value: object) -> int:
    """Batches per epoch to sample for the gradient affinity (0: off)."""
    if value is False or value is None:
        return 0
    if value is True:
        return 10
    if isinstance(value, numbers.Integral) and int(value) >= 1:
        return int(value)
    raise ValueError(
        "record_task_affinity must be False, True (10 batches per epoch) or a positive "
        f"int (batches per epoch); got {value!r}."
    )


def attach(
    net, record_task_affinity: object, task_relation: object, task_names: Sequence[str]
) -> None:
    """Give an initialised :class:`~sklearn_mtl._net.MultiTaskNet` its relationship tools.

    Their results are DataFrames (``task_affinity_``, ``task_relation_``): pandas is
    checked here, before training, rather than after it.
    """
    max_batches = check_record_task_affinity(record_task_affinity)
    if max_batches or task_relation is not None:
        require_pandas("record_task_affinity and task_relation (their matrices are DataFrames)")
    net.affinity_tracker_ = GradientAffinity(len(task_names), max_batches) if max_batches else None
    relation = get_task_relation(task_relation)
    net.task_relation_module_ = (
        None if relation is None else relation.build(net.module_, task_names)
    )


def require_pandas(what: str) -> Any:
    """The pandas module, or an ImportError saying that ``what`` needs it.

    What a function returns never depends on whether pandas is installed: a function
    that returns a DataFrame raises this error without it.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            f"{what} need(s) pandas, an optional dependency: pip install pandas"
        ) from None
    return pd


def relation_matrix_frame(matrix: np.ndarray, names: Sequence[str]):
    """A square matrix as a DataFrame indexed by task names (pandas is required)."""
    pd = require_pandas("task affinity and relation matrices")
    return pd.DataFrame(matrix, index=list(names), columns=list(names))


def fitted_relationships(estimator) -> None:
    """Set ``task_affinity_`` and ``task_relation_`` on a fitted estimator."""
    net = estimator.net_
    names = [task.name for task in estimator.tasks_]
    for attribute in ("task_affinity_", "task_relation_"):
        if hasattr(estimator, attribute):
            delattr(estimator, attribute)
    if getattr(net, "affinity_tracker_", None) is not None:
        epochs = [
            np.asarray(row["task_affinity"], dtype=np.float64)
            for row in net.history
            if "task_affinity" in row
        ]
        if epochs:
            with np.errstate(invalid="ignore"):
                stacked = np.stack(epochs)
                counts = np.isfinite(stacked).sum(axis=0)
                mean = np.where(
                    counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan
                )
            estimator.task_affinity_ = relation_matrix_frame(mean, names)
    regulariser = getattr(net, "task_relation_module_", None)
    if regulariser is not None:
        estimator.task_relation_ = relation_matrix_frame(regulariser.correlation(), names)
