"""Task relationships measured or learned during training: plugins of the criterion.

A relationship tool is a :class:`Relationship`, a torch module held by the criterion
(:class:`~sklearn_mtl._losses.MultiTaskLoss`, in its ``plugins``), so that its state
is in the module tree: buffers that ``.to(device)`` moves, that ``state_dict`` saves
(``save``/``load``, the checkpoints of a fit, the restore after a non-finite loss) and
that pickle with the net. The training step calls each plugin's :meth:`~Relationship.
on_step` (which may return a penalty to add to the objective) and the end of every
training epoch its :meth:`~Relationship.end_epoch` (which may return history entries);
the fitted estimator reads :meth:`~Relationship.matrix`. Three plugins exist:

- :class:`GradientAffinity` (``record_task_affinity=True``): the pairwise cosine
  similarity of the tasks' gradients on the shared parameters, accumulated on the
  device over a subset of the training batches and written to the history once per
  epoch.
- :class:`MTRLRegularizer` (``task_relation="mtrl"``, built by :class:`MTRL`):
  multi-task relationship learning (Zhang and Yeung, 2010). A penalty
  ``strength / 2 * tr(W Omega^-1 W^T)`` on the task heads ties them through a learned
  task covariance ``Omega`` (a buffer), updated in closed form at the end of each epoch.
- :class:`~sklearn_mtl.diagnostics._lookahead.LookaheadAffinityModule` (TAG's lookahead
  affinity, used by :func:`~sklearn_mtl.diagnostics.task_affinity`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._doc_link import DocLinkMixin
from ._pairwise import PairwiseMean
from ._registry import RELATIONS, register_relation
from ._validation import OwnErrors, finite
from .weighting._gradient import task_gradients

__all__ = [
    "MTRL",
    "GradientAffinity",
    "Relationship",
    "RelationshipStep",
    "build_relationships",
    "get_task_relation",
    "relation_matrix_frame",
]


# -- the protocol ------------------------------------------------------------------------
@dataclass
class RelationshipStep:
    """What a relationship plugin sees of one training step.

    Attributes
    ----------
    module : torch.nn.Module
        The network (its parameters not yet updated by the step).
    criterion : MultiTaskLoss
        The criterion holding the plugin (``criterion.task_losses`` evaluates a batch).
    batch : tuple of torch.Tensor
        ``(X, targets, sample_weight)`` of the step.
    losses : torch.Tensor of shape (n_tasks,)
        The per-task losses of the step, still in the graph.
    present : torch.Tensor of bool, shape (n_tasks,)
        Tasks with labels in the batch.
    inputs : list of torch.Tensor
        The shared parameters, or the shared representation of the batch when the
        architecture has no shared parameter.
    """

    module: nn.Module
    criterion: Any
    batch: tuple
    losses: torch.Tensor
    present: torch.Tensor
    inputs: list[torch.Tensor]


class Relationship(nn.Module):
    """A task-relationship tool held by the criterion (a plugin; see the module docstring).

    Subclasses keep their state in buffers and override the hooks they need.
    """

    #: The estimator attribute :meth:`matrix` is written to (None: read by its runner).
    attribute: ClassVar[str | None] = None

    def begin_epoch(self, n_batches: int) -> None:
        """Start of a training epoch of ``n_batches`` batches."""

    def on_step(self, step: RelationshipStep) -> torch.Tensor | None:
        """One training step: a penalty to add to the objective, or None."""
        return None

    def end_epoch(self, module: nn.Module) -> dict[str, Any]:
        """End of a training epoch: entries for the epoch's history row."""
        return {}

    def matrix(self, history: Sequence[dict]) -> np.ndarray | None:
        """The fitted ``(n_tasks, n_tasks)`` matrix (None when there is none)."""
        return None

    def summed_buffers(self) -> list[torch.Tensor]:
        """Buffers that are sums over an epoch's steps, reset by :meth:`end_epoch`: a
        distributed fit sums them over the processes before ``end_epoch``."""
        return []


# -- gradient affinity -------------------------------------------------------------------
class GradientAffinity(Relationship):
    """Accumulates the cosine similarity of per-task gradients of the shared parameters.

    On a sampled batch, the tasks' gradients ``g_t`` with respect to the shared part of
    the network (one batched autograd call, or one per task) give the cosines
    ``g_s . g_t / (|g_s| |g_t|)``; those of the tasks with labels in the batch are added
    to a ``(n_tasks, n_tasks)`` sum on the device (no host synchronisation per batch).
    At the end of an epoch the mean goes to the history (key ``task_affinity``); the
    fitted ``task_affinity_`` is the mean of the epochs' matrices.

    Parameters
    ----------
    n_tasks : int
        Number of tasks.
    max_batches : int
        At most this many batches per epoch are used, evenly spaced (all batches when
        an epoch has fewer). Each sampled batch costs ``n_tasks`` extra backward passes
        through the shared layers.
    """

    attribute = "task_affinity_"

    def __init__(self, n_tasks: int, max_batches: int = 10):
        super().__init__()
        self.n_tasks = int(n_tasks)
        self.max_batches = int(max_batches)
        self.pairs = PairwiseMean(self.n_tasks)
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

    def on_step(self, step: RelationshipStep) -> None:
        if self.wants_batch():
            self.accumulate(step.losses, step.present, step.inputs)
        return None

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
        self.pairs.add(unit @ unit.T, valid)

    def pop_epoch(self) -> np.ndarray:
        """The epoch's mean cosine matrix (NaN for pairs never seen together), then reset."""
        mean = self.pairs.mean()
        self.pairs.reset()
        return mean

    def end_epoch(self, module: nn.Module) -> dict[str, Any]:
        return {"task_affinity": self.pop_epoch().tolist()}

    def summed_buffers(self) -> list[torch.Tensor]:
        return [self.pairs.sum, self.pairs.count]

    def matrix(self, history: Sequence[dict]) -> np.ndarray | None:
        """The mean over epochs of the epochs' matrices (from the history)."""
        epochs = [
            np.asarray(row["task_affinity"], dtype=np.float64)
            for row in history
            if "task_affinity" in row
        ]
        if not epochs:
            return None
        with np.errstate(invalid="ignore"):
            stacked = np.stack(epochs)
            counts = np.isfinite(stacked).sum(axis=0)
            return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


# -- multi-task relationship learning ------------------------------------------------------
@register_relation("mtrl")
class MTRL(OwnErrors, DocLinkMixin, BaseEstimator):
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

    def build(
        self, module: nn.Module, task_names: Sequence[str], lr: float | None = None
    ) -> MTRLRegularizer:
        """Return the criterion's plugin for a built multi-task module (``lr`` unused)."""
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


class MTRLRegularizer(Relationship):
    """The plugin of :class:`MTRL`: the task covariance and the penalty.

    ``Omega`` and its inverse are float64 buffers (``omega``, ``omega_inverse``): in the
    module tree, they move with the criterion, are saved with its state and pickle like
    the weights. The network is not held (it is passed to each hook), so that its
    parameters do not appear twice in the state.
    """

    attribute = "task_relation_"
    omega: torch.Tensor
    omega_inverse: torch.Tensor

    def __init__(
        self, module: nn.Module, task_names: Sequence[str], strength: float, epsilon: float
    ):
        super().__init__()
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
        omega = torch.eye(n_tasks, dtype=torch.float64) / n_tasks
        self.register_buffer("omega", omega)
        self.register_buffer("omega_inverse", torch.linalg.inv(omega))

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
        gram = W_t @ W_t.T
        inverse = self.omega_inverse.to(device=W_t.device, dtype=W_t.dtype)
        return 0.5 * self.strength * (inverse * gram).sum()

    def on_step(self, step: RelationshipStep) -> torch.Tensor:
        return self.penalty(step.module)

    def end_epoch(self, module: nn.Module) -> dict[str, Any]:
        self.update(module)
        return {}

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
        omega = root / trace
        self.set_omega(omega)

    def set_omega(self, omega: np.ndarray) -> None:
        """Set ``Omega`` (and its inverse) in place, on the buffers' device."""
        omega = np.asarray(omega, dtype=np.float64).reshape(tuple(self.omega.shape))
        self.omega.copy_(torch.from_numpy(omega))
        self.omega_inverse.copy_(torch.from_numpy(np.linalg.inv(omega)))

    def correlation(self) -> np.ndarray:
        """``Omega`` scaled to a unit diagonal: the learned task correlation."""
        omega = self.omega.detach().cpu().numpy()
        scale = np.sqrt(np.clip(np.diag(omega), 1e-300, None))
        return omega / scale[:, None] / scale[None, :]

    def matrix(self, history: Sequence[dict]) -> np.ndarray:
        return self.correlation()


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


def build_relationships(
    module: nn.Module,
    task_names: Sequence[str],
    record_task_affinity: object,
    task_relation: object,
    lr: float | None = None,
    extra: Sequence[tuple[str, Any]] = (),
) -> nn.ModuleDict:
    """The criterion's plugins for the estimator's relationship parameters.

    Parameters
    ----------
    module : torch.nn.Module
        The built network.
    task_names : sequence of str
    record_task_affinity, task_relation : object
        The estimator's parameters of these names.
    lr : float, optional
        The estimator's learning rate (the lookahead's default step).
    extra : sequence of (name, spec)
        Further plugins, each built by ``spec.build(module, task_names, lr=lr)`` (for
        :func:`~sklearn_mtl.diagnostics.task_affinity`).

    Returns
    -------
    torch.nn.ModuleDict
        The plugins by name, empty when no tool is asked for.

    Their results are DataFrames (``task_affinity_``, ``task_relation_``): pandas is
    checked here, before training, rather than after it.
    """
    max_batches = check_record_task_affinity(record_task_affinity)
    if max_batches or task_relation is not None:
        require_pandas("record_task_affinity and task_relation (their matrices are DataFrames)")
    plugins = nn.ModuleDict()
    if max_batches:
        plugins["gradient_affinity"] = GradientAffinity(len(task_names), max_batches)
    relation = get_task_relation(task_relation)
    if relation is not None:
        plugins["mtrl"] = relation.build(module, task_names)
    for name, spec in extra:
        plugins[name] = spec.build(module, task_names, lr=lr)
    return plugins


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
    """Set ``task_affinity_`` and ``task_relation_`` on a fitted estimator from its
    criterion's plugins."""
    net = estimator.net_
    names = [task.name for task in estimator.tasks_]
    for attribute in ("task_affinity_", "task_relation_"):
        if hasattr(estimator, attribute):
            delattr(estimator, attribute)
    for plugin in net.criterion_.relationships():
        if plugin.attribute is None:
            continue
        matrix = plugin.matrix(net.history)
        if matrix is not None:
            setattr(estimator, plugin.attribute, relation_matrix_frame(matrix, names))
