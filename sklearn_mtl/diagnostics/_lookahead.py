"""TAG's lookahead inter-task affinity (Fifty et al., 2021): the plugin and its runner."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from .._pairwise import PairwiseMean
from .._relationship import Relationship, RelationshipStep, relation_matrix_frame, require_pandas
from .._unwrap import final_estimator

__all__ = ["LookaheadAffinity", "LookaheadAffinityModule", "task_affinity"]

_PLUGIN = "lookahead_affinity"


class LookaheadAffinity:
    """Parameters of TAG's lookahead affinity; builds the criterion's plugin.

    Parameters
    ----------
    lr : float or None
        Step size of the lookahead; None takes the estimator's ``lr``.
    every : int
        Use every ``every``-th training batch.
    """

    def __init__(self, lr: float | None = None, every: int = 1):
        self.lr = lr
        self.every = every

    def build(
        self, module: nn.Module, task_names: Sequence[str], lr: float | None = None
    ) -> LookaheadAffinityModule:
        """The plugin for a built network (``lr``: the estimator's, the default step)."""
        shared = [p for p in cast(Any, module).shared_parameters() if p.requires_grad]
        if not shared:
            raise ValueError(
                f"task_affinity needs shared parameters; the architecture "
                f"{type(module).__name__} declares none (no parameter is shared by all tasks)."
            )
        step = self.lr if self.lr is not None else lr
        if step is None:
            raise ValueError("LookaheadAffinity needs a step size (lr).")
        return LookaheadAffinityModule(len(task_names), float(step), int(self.every))


class LookaheadAffinityModule(Relationship):
    """The criterion's plugin measuring TAG's lookahead inter-task affinity.

    On a sampled training step (before the optimizer changes the network), for every
    task ``i`` with labels in the batch, the shared parameters take a plain gradient
    step on task ``i``'s loss alone, ``theta_s' = theta_s - lr * grad L_i``, and the
    affinity of ``i`` onto ``j`` is ``1 - L_j(theta_s', theta_j) / L_j(theta_s,
    theta_j)`` on the same batch: positive when a step for task ``i`` lowers task
    ``j``'s loss. The network itself is not changed; evaluation is in eval mode (no
    dropout). The epoch's sums and those of the run are buffers (saved and
    checkpointed with the criterion); :meth:`matrix` is the mean over the run.

    Parameters
    ----------
    n_tasks : int
    lr : float
        Step size of the lookahead.
    every : int
        Use every ``every``-th training batch.
    """

    def __init__(self, n_tasks: int, lr: float, every: int = 1):
        super().__init__()
        self.lr = lr
        self.every = every
        self.pairs = PairwiseMean(n_tasks)  # this epoch's
        self.total = PairwiseMean(n_tasks)  # the finished epochs'
        self._batches = 0

    def on_step(self, step: RelationshipStep) -> None:
        self._batches += 1
        if (self._batches - 1) % self.every:
            return None
        module = step.module
        shared = [p for p in cast(Any, module).shared_parameters() if p.requires_grad]
        ids = {id(p): name for name, p in module.named_parameters()}
        names = [ids[id(p)] for p in shared]
        X, targets, weight = step.batch
        criterion = step.criterion
        was_training = module.training
        module.eval()
        try:
            with torch.enable_grad():
                losses, present = criterion.task_losses(module(X), targets, weight)
            base = losses.detach()
            rows = []
            for i in range(losses.shape[0]):
                grads = torch.autograd.grad(losses[i], shared, retain_graph=True, allow_unused=True)
                moved = {
                    name: p - self.lr * (g if g is not None else torch.zeros_like(p))
                    for name, p, g in zip(names, shared, grads, strict=True)
                }
                with torch.no_grad():
                    outputs = torch.func.functional_call(module, moved, (X,))
                    after, _ = criterion.task_losses(outputs, targets, weight)
                rows.append(1.0 - after / base.clamp(min=1e-12))
        finally:
            module.train(was_training)
        self.pairs.add(torch.stack(rows), present & (base > 0))
        return None

    def end_epoch(self, module: nn.Module) -> dict:
        self.total.sum += self.pairs.sum
        self.total.count += self.pairs.count
        self.pairs.reset()
        return {}

    def summed_buffers(self) -> list[torch.Tensor]:
        return [self.pairs.sum, self.pairs.count]

    def matrix(self, history: Sequence[dict]) -> np.ndarray:
        """The mean affinity over the sampled steps (NaN for pairs never seen together)."""
        if not bool(self.total.count.any()):
            raise ValueError("No training batch was sampled: the affinity is undefined.")
        return self.total.mean()


def task_affinity(estimator, X, y, *, lookahead_lr=None, every=1, symmetric=False):
    """Lookahead inter-task affinity (TAG, Fifty et al., 2021) measured over one training run.

    Fits a clone of ``estimator`` on X, y and, on every ``every``-th training batch,
    measures how one gradient step on task ``i`` alone changes the loss of task ``j``
    on that batch: ``Z[i, j] = 1 - L_j(after step on i) / L_j(before)``, averaged over
    training. Positive values mean that training on ``i`` helps ``j``; negative, that it
    hurts (a sign of negative transfer). The step is a plain gradient step of size
    ``lookahead_lr`` on the shared parameters only (the task heads are unchanged).

    Cost: on each sampled batch, one forward pass, one backward pass per task through
    the shared layers and one forward pass per task, on top of the ordinary training
    step; ``every=k`` divides this by about k.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline ending with one
        The model (cloned; the preprocessing steps of a Pipeline are fitted on X first).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples, n_columns)
    lookahead_lr : float, default=None
        Step size of the lookahead; None is the estimator's ``lr``. The affinities scale
        roughly with it, their ordering hardly.
    every : int, default=1
        Measure on every ``every``-th training batch.
    symmetric : bool, default=False
        Return ``(Z + Z^T) / 2`` instead of the directed matrix.

    Returns
    -------
    affinity : DataFrame or ndarray of shape (n_tasks, n_tasks)
        ``affinity[i, j]``: effect of a step on task ``i`` (row) on task ``j``'s loss
        (column), indexed by task names (pandas is required). The diagonal
        is each task's own relative loss decrease.

    See Also
    --------
    suggest_task_groups : which tasks to train together, from this matrix.

    References
    ----------
    Fifty, C., Amid, E., Zhao, Z., Yu, T., Anil, R. and Finn, C. (2021). Efficiently
    identifying task groupings for multi-task learning. *NeurIPS 2021*.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl.diagnostics import task_affinity
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0], X[:, 0] + 0.1 * rng.normal(size=200), X[:, 3] ** 2])
    >>> est = MultiTaskNetEstimator(hidden_layer_sizes=(16,), max_epochs=5, lr=0.05,
    ...                             batch_size=32, random_state=0)
    >>> affinity = task_affinity(est, X, y)  # 35 steps, while the losses still fall
    >>> affinity.shape
    (3, 3)
    >>> bool(affinity.loc["task0", "task1"] > affinity.loc["task0", "task2"])
    True
    """
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"every must be a positive int; got {every!r}.")
    if lookahead_lr is not None and (
        not isinstance(lookahead_lr, numbers.Real) or not float(lookahead_lr) > 0
    ):
        raise ValueError(f"lookahead_lr must be a positive number; got {lookahead_lr!r}.")
    require_pandas("task_affinity (it returns a DataFrame)")
    model, Xt = clone(estimator), X
    while hasattr(model, "steps"):  # fit the transformers of (nested) Pipelines in front
        if len(model.steps) > 1:
            Xt = model[:-1].fit_transform(Xt, y)
        model = model.steps[-1][1]
    final_estimator(model, searches=False)
    step = None if lookahead_lr is None else float(lookahead_lr)
    model._extra_relationships = ((_PLUGIN, LookaheadAffinity(lr=step, every=int(every))),)
    try:
        model.fit(Xt, y)
    finally:
        del model._extra_relationships  # the class attribute (none) again
    matrix = model.net_.criterion_.plugins[_PLUGIN].matrix(model.history_)
    if symmetric:
        matrix = (matrix + matrix.T) / 2
    return relation_matrix_frame(matrix, [task.name for task in model.tasks_])
