"""The loss-weighting protocol: how per-task losses become one training step.

A *weighting* is a small parameter object (``FixedWeighting()``, ``GradNorm(alpha=1.5)``)
that the estimator clones and asks to :meth:`LossWeighting.build` a
:class:`WeightingModule` once the tasks are known. The module lives inside the skorch
net's criterion, so its learnable parameters (if any) are trained by the net's optimizer,
move with ``device`` and are saved with the net.

Each training step the net computes the vector of per-task masked mean losses and calls
:meth:`WeightingModule.step`, which returns a :class:`StepResult`: the scalar objective
to back-propagate, the task weights it applied and the loss to report. The net then
records the weights, adds the architecture's penalties to the objective and runs the
step's one backward pass (through the gradient scaler under fp16):

- loss-level methods (:class:`LossLevelWeighting`) return a combination of the losses;
- gradient-level methods receive the per-task gradients of the shared parameters (or of
  the shared representation, see :class:`BackwardContext`) and return a surrogate whose
  gradient is the combined update (see :mod:`~sklearn_mtl.weighting._gradient`).

:meth:`WeightingModule.backward` does the same in one call (without a scaler), for use
outside the net. The fixed ``task_weights`` of the estimator arrive as ``base_weights``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from sklearn.base import BaseEstimator
from torch import nn

from .._doc_link import DocLinkMixin
from .._registry import register_weighting
from .._validation import OwnErrors

__all__ = [
    "BackwardContext",
    "StepResult",
    "FixedWeighting",
    "LossLevelWeighting",
    "LossWeighting",
    "WeightingModule",
]


@dataclass
class BackwardContext:
    """What a weighting may need beyond the losses, for one training step.

    Attributes
    ----------
    shared_parameters : list of torch.nn.Parameter
        The parameters every task depends on, as declared by the architecture.
    representation : torch.Tensor
        The batch's shared representation (``module.shared(X)``), still in the graph:
        gradient-level methods may differentiate the losses with respect to it instead
        of the shared parameters (cheaper for wide trunks).
    grad_scaler : torch.amp.GradScaler or None
        The fp16 gradient scaler of the step (None otherwise). Gradient-level methods
        take their per-task gradients of the scaled losses (so that float16 gradients
        do not underflow), unscale them before combining them, and skip the step (the
        scaler then lowers its scale) when one is infinite or NaN, as the scaler does
        for the gradients of the backward pass.
    outputs : dict of str to torch.Tensor, optional
        The module's outputs of the batch (a ``TaskOutputs`` of
        ``sklearn_mtl/architectures/_heads.py`` in the net), through which
        gradient-level methods may take every task's gradient at the representation in
        one backward pass when the heads are one fused linear layer on it (see
        ``sklearn_mtl/weighting/_gradient.py``).
    task_parameters : list of torch.nn.Parameter, optional
        The module's other trainable parameters (heads, gates, task towers). Given, a
        gradient-level method at the shared parameters takes their gradients in a
        backward pass through the heads alone and returns a surrogate linear in the
        parameters, so that the step's backward pass does not run through the trunk
        again; None (the default, and the net's choice under data parallelism) keeps a
        surrogate through the whole graph. The gradients are the same either way.
    """

    shared_parameters: list[nn.Parameter]
    representation: torch.Tensor
    grad_scaler: torch.amp.GradScaler | None = None
    outputs: dict[str, torch.Tensor] | None = None
    task_parameters: list[nn.Parameter] | None = None


@dataclass
class StepResult:
    """What a weighting returns for one training step.

    Attributes
    ----------
    objective : torch.Tensor
        The scalar to back-propagate (a surrogate for gradient-level methods; it may not
        require gradients when nothing is trainable).
    weights : torch.Tensor of shape (n_tasks,)
        The task weights the step applied (recorded by the net into the history).
    loss : torch.Tensor
        The detached scalar loss to report, ``sum_t base_weights[t] * loss_t``.
    skipped : bool
        True when the step is to be skipped (an fp16 step whose scaled per-task
        gradients overflowed): its weights are not recorded, and its objective is NaN
        so that the gradient scaler skips the optimizer step and lowers its scale.
    """

    objective: torch.Tensor
    weights: torch.Tensor
    loss: torch.Tensor
    skipped: bool = False


class WeightingModule(nn.Module):
    """Runtime state of a weighting method: turns per-task losses into gradients.

    Parameters
    ----------
    base_weights : torch.Tensor of shape (n_tasks,)
        The fixed per-task weights (the estimator's ``task_weights``; 1.0 by default).
    """

    base_weights: torch.Tensor
    weight_sum: torch.Tensor
    step_count: torch.Tensor

    def __init__(self, base_weights: torch.Tensor):
        super().__init__()
        self.register_buffer("base_weights", base_weights.detach().clone().float())
        self.register_buffer("weight_sum", torch.zeros_like(self.base_weights))
        self.register_buffer("step_count", torch.zeros_like(self.base_weights))

    @property
    def n_tasks(self) -> int:
        return int(self.base_weights.shape[0])

    def step(
        self, losses: torch.Tensor, present: torch.Tensor, context: BackwardContext
    ) -> StepResult:
        """What one training step back-propagates, the weights it applies, the loss.

        Parameters
        ----------
        losses : torch.Tensor of shape (n_tasks,)
            Masked mean loss of each task on the batch (0 for a task with no label in
            the batch).
        present : torch.Tensor of bool, shape (n_tasks,)
            Whether each task had at least one label in the batch.
        context : BackwardContext
            Shared parameters and representation of the step.

        Returns
        -------
        StepResult
        """
        raise NotImplementedError

    def backward(
        self, losses: torch.Tensor, present: torch.Tensor, context: BackwardContext
    ) -> torch.Tensor:
        """Run one step outside the net: :meth:`step`, record, back-propagate.

        Returns
        -------
        torch.Tensor
            The scalar (detached) loss to report for the step.
        """
        result = self.step(losses, present, context)
        if not result.skipped:
            self.record(result.weights, present)
        if result.objective.requires_grad:
            result.objective.backward()
        return result.loss

    def fixed_weighted_loss(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``sum_t base_weights[t] * loss_t`` over the tasks present: the loss to report.

        Every method reports it (not its own objective), so that training losses are
        comparable across methods and with the validation loss.
        """
        if self.unit_base_weights():  # 1.0 * loss is the loss: the same values
            return (losses * present).sum()
        return (self.base_weights * losses * present).sum()

    def unit_base_weights(self) -> bool:
        """Whether every base weight is 1.0 (the default), checked again only when
        ``base_weights`` changed (loaded, set in place: its version counter) or was
        replaced."""
        weights = self.base_weights
        key = (id(weights), weights._version)
        if self.__dict__.get("_unit_key") != key:
            self.__dict__["_unit"] = bool((weights == 1.0).all())
            self.__dict__["_unit_key"] = key
        return self.__dict__["_unit"]

    def record(self, weights: torch.Tensor, present: torch.Tensor | None = None) -> None:
        """Accumulate the effective task weights of a step (no host synchronisation).

        Parameters
        ----------
        weights : torch.Tensor of shape (n_tasks,)
            The weights the step applied.
        present : torch.Tensor of bool, shape (n_tasks,), optional
            Tasks that had labels in the batch; only those steps count in each task's
            mean (a task missing from half the batches does not show half its weight).
            All tasks when None.
        """
        if present is None:
            self.weight_sum += weights.detach()
            self.step_count += 1
        else:
            mask = present.to(self.weight_sum)
            self.weight_sum += weights.detach() * mask
            self.step_count += mask

    def record_steps(self, weights: torch.Tensor | None, present: torch.Tensor) -> None:
        """Accumulate the effective task weights of several steps at once (as
        :meth:`record` does step by step; no host synchronisation).

        Parameters
        ----------
        weights : torch.Tensor of shape (n_steps, n_tasks), or None
            The weights each step applied; None when every step applied
            ``base_weights`` (a fixed weighting).
        present : torch.Tensor of bool, shape (n_steps, n_tasks)
            The tasks that had labels in each step's batch.
        """
        mask = present.to(self.weight_sum)
        counts = mask.sum(0)
        if weights is None:
            self.weight_sum.add_(self.base_weights * counts)
        else:
            self.weight_sum.add_((weights.detach().to(mask) * mask).sum(0))
        self.step_count.add_(counts)

    def summed_buffers(self) -> list[torch.Tensor]:
        """Buffers that are sums over an epoch's steps (``weight_sum``, ``step_count``):
        a distributed fit sums them over the processes instead of broadcasting them."""
        return [self.weight_sum, self.step_count]

    def pop_epoch_weights(self) -> torch.Tensor:
        """Each task's mean effective weight over the steps since the last call, then reset.

        The mean is over the steps where the task had labels (0 if it had none).
        """
        mean = self.weight_sum / self.step_count.clamp(min=1)
        self.weight_sum.zero_()
        self.step_count.zero_()
        return mean

    def on_epoch_end(self, epoch_losses: torch.Tensor) -> None:
        """Hook called with each task's mean training loss at the end of an epoch."""


class LossLevelWeighting(WeightingModule):
    """A weighting that combines the task losses into one scalar.

    Subclasses override :meth:`task_weights` (and :meth:`weigh` when the total is not
    a weighted sum, as for uncertainty weighting).
    """

    def task_weights(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Method-specific weight of each task (multiplied by ``base_weights``)."""
        return torch.ones_like(losses)

    def weigh(
        self, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The objective and the effective task weights of a step (nothing recorded)."""
        weights = self.base_weights * self.task_weights(losses, present)
        return (weights * losses * present).sum(), weights

    def combine(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """:meth:`weigh`'s objective, recording its weights (for use outside the net)."""
        objective, weights = self.weigh(losses, present)
        self.record(weights, present)
        return objective

    def step(
        self, losses: torch.Tensor, present: torch.Tensor, context: BackwardContext
    ) -> StepResult:
        """:meth:`weigh`; report ``sum_t base_weights[t] * loss_t``.

        The reported loss is the fixed-weighted sum for every method (not the method's
        own objective, e.g. with uncertainty regularisers), so that training losses are
        comparable across methods and with the validation loss.
        """
        objective, weights = self.weigh(losses, present)
        return StepResult(objective, weights, self.reported_loss(losses, present, objective))

    def reported_loss(
        self, losses: torch.Tensor, present: torch.Tensor, objective: torch.Tensor
    ) -> torch.Tensor:
        """The detached loss :meth:`step` reports for the step's ``objective``."""
        return self.fixed_weighted_loss(losses, present).detach()


class LossWeighting(OwnErrors, DocLinkMixin, BaseEstimator):
    """Base class of weighting parameter objects.

    Subclasses take their hyperparameters in ``__init__`` (stored unchanged, so that
    ``get_params``/``set_params`` and GridSearchCV work) and implement :meth:`build`.
    """

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> WeightingModule:
        """Return a fresh :class:`WeightingModule` for tasks with these fixed weights.

        Parameters
        ----------
        base_weights : torch.Tensor of shape (n_tasks,)
            The fixed task weights (the estimator's ``task_weights``).
        task_kinds : sequence of str, optional
            Each task's kind (``"regression"``, ``"binary"``, ``"multiclass"``,
            ``"multilabel"``), for methods whose form depends on it (uncertainty
            weighting); None when unknown.

        Returns
        -------
        WeightingModule
        """
        raise NotImplementedError


class _FixedWeightingModule(LossLevelWeighting):
    """Fixed weights: the objective is itself the loss to report (computed once)."""

    def weigh(
        self, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fixed_weighted_loss(losses, present), self.base_weights

    def reported_loss(
        self, losses: torch.Tensor, present: torch.Tensor, objective: torch.Tensor
    ) -> torch.Tensor:
        return objective.detach()


@register_weighting("fixed")
class FixedWeighting(LossWeighting):
    """Static task weights: the loss is ``sum_t task_weights[t] * loss_t``.

    With no ``task_weights`` every task weighs 1.0 (equal weighting). This is the
    estimator's default ``loss_weighting="fixed"``.

    See Also
    --------
    UncertaintyWeighting, DynamicWeightAverage : weights that adapt during training.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import FixedWeighting
    >>> module = FixedWeighting().build(torch.tensor([1.0, 0.5]))
    >>> module.combine(torch.tensor([2.0, 4.0]), torch.tensor([True, True]))
    tensor(4.)
    """

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> WeightingModule:
        return _FixedWeightingModule(base_weights)
