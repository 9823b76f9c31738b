"""Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu, NeurIPS 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from .._registry import register_weighting
from .._validation import finite
from ._base import LossLevelWeighting, LossWeighting
from ._utils import EPS, adam_step, as_mask, masked_softmax

__all__ = ["FAMO"]


class _FAMOModule(LossLevelWeighting):
    logits: torch.Tensor
    previous_log_losses: torch.Tensor
    previous_present: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    adam_steps: torch.Tensor

    def __init__(self, base_weights: torch.Tensor, lr: float, weight_decay: float):
        super().__init__(base_weights)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        n = self.n_tasks
        self.register_buffer("logits", torch.zeros(n))
        self.register_buffer("previous_log_losses", torch.zeros(n))
        self.register_buffer("previous_present", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("exp_avg", torch.zeros(n))
        self.register_buffer("exp_avg_sq", torch.zeros(n))
        self.register_buffer("adam_steps", torch.zeros(()))

    def update_logits(self, log_losses: torch.Tensor, present: torch.Tensor) -> None:
        """One step on the logits from the change of the log-losses since the last step."""
        valid = present & self.previous_present
        decrease = torch.where(valid, self.previous_log_losses - log_losses, 0.0)
        z = masked_softmax(self.logits, valid)
        # gradient of sum_t z_t(logits) * decrease_t (softmax Jacobian, transposed)
        grad = z * (decrease - (z * decrease).sum()) + self.weight_decay * self.logits
        grad = torch.where(valid, grad, 0.0)
        # no loss history yet (first batch, or no task seen twice in a row): no Adam
        # step at all, as in the authors' code, whose first update follows the first step
        active = valid.any()
        before = (self.logits.clone(), self.exp_avg.clone(), self.exp_avg_sq.clone())
        steps_before = self.adam_steps.clone()
        adam_step(self.logits, grad, self.exp_avg, self.exp_avg_sq, self.adam_steps, lr=self.lr)
        self.logits.copy_(torch.where(valid, self.logits, before[0]))  # absent tasks stay
        self.exp_avg.copy_(torch.where(active, self.exp_avg, before[1]))
        self.exp_avg_sq.copy_(torch.where(active, self.exp_avg_sq, before[2]))
        self.adam_steps.copy_(torch.where(active, self.adam_steps, steps_before))

    def weigh(
        self, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = as_mask(present, losses)
        shifted = losses.detach() + EPS  # log(L + 1e-8) as in the authors' code
        log_losses = torch.log(shifted)
        self.update_logits(log_losses, present)
        z = masked_softmax(self.logits, present)
        inverse = z / shifted
        weights = self.base_weights * inverse / inverse.sum().clamp(min=EPS) * mask
        self.previous_log_losses.copy_(log_losses)
        self.previous_present.copy_(present)
        return (weights * losses).sum(), weights


@register_weighting("famo")
class FAMO(LossWeighting):
    r"""Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu, 2023).

    FAMO balances the *rates* at which the tasks' log-losses decrease, at the cost of a
    loss-level method (no per-task gradients). It keeps logits :math:`\xi` and task
    weights :math:`z = \mathrm{softmax}(\xi)`; the update direction is

    .. math::

        d = \frac{\sum_t (z_t / L_t)\, \nabla L_t}{\sum_t z_t / L_t}
          = c \sum_t z_t \nabla \log L_t,

    i.e. the loss :math:`\sum_t \alpha_t L_t` with :math:`\alpha_t \propto z_t/L_t`
    summing to one. After each step, with
    :math:`\delta_t = \log L_t^{\text{before}} - \log L_t^{\text{after}}` the decrease of
    each log-loss, the logits move down the gradient of :math:`\sum_t z_t(\xi)\delta_t`
    plus a weight decay :math:`\gamma\xi`: a task that improved less than the others
    gains weight. Here the "after" losses are those of the next batch (FAMO's authors
    re-evaluate the same batch after the step, which our single-pass training loop does
    not do; the noise averages out over steps). The logits are updated by their own
    Adam rule with learning rate ``lr``, not by the net's optimizer.

    The log-loss objective makes a constant factor on a loss irrelevant, so the fixed
    ``task_weights`` :math:`w_t` multiply the normalised weights: the loss is
    :math:`\sum_t w_t \alpha_t L_t` and :math:`w_t\alpha_t` is recorded. Tasks absent
    from a batch get weight 0 and do not move the logits.

    Parameters
    ----------
    lr : float, default=0.025
        Learning rate :math:`\beta` of the logits (the paper's default), > 0.
    weight_decay : float, default=0.01
        Regularisation :math:`\gamma` of the logits towards equal weights (the authors'
        default), >= 0.

    References
    ----------
    Liu, B., Feng, Y., Stone, P., & Liu, Q. (2023). FAMO: fast adaptive multitask
    optimization. *NeurIPS*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import FAMO
    >>> module = FAMO().build(torch.ones(2))
    >>> both = torch.tensor([True, True])
    >>> module.combine(torch.tensor([1.0, 1.0]), both)  # equal losses, equal weights
    tensor(1.)
    >>> _ = module.combine(torch.tensor([0.5, 1.0]), both)  # task 0 improved
    >>> bool(module.logits[1] > module.logits[0])  # so task 1 gains weight
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "lr": [finite(0, closed="neither")],
        "weight_decay": [finite(0)],
    }

    def __init__(self, lr: float = 0.025, weight_decay: float = 0.01):
        self.lr = lr
        self.weight_decay = weight_decay

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _FAMOModule:
        self._validate_params()
        return _FAMOModule(base_weights, self.lr, self.weight_decay)
