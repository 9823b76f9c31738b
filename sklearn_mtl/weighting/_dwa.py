"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from .._registry import register_weighting
from .._validation import finite
from ._base import LossLevelWeighting, LossWeighting

__all__ = ["DynamicWeightAverage"]


class _DWAModule(LossLevelWeighting):
    previous_losses: torch.Tensor
    epochs_seen: torch.Tensor
    dwa_weights: torch.Tensor

    def __init__(self, base_weights: torch.Tensor, temperature: float):
        super().__init__(base_weights)
        self.temperature = float(temperature)
        self.register_buffer("previous_losses", torch.zeros(2, self.n_tasks))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("dwa_weights", torch.ones(self.n_tasks))

    def task_weights(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return self.dwa_weights

    def on_epoch_end(self, epoch_losses: torch.Tensor) -> None:
        losses = epoch_losses.detach().to(self.previous_losses)
        self.previous_losses.copy_(torch.stack([self.previous_losses[1], losses]))
        self.epochs_seen += 1
        before, last = self.previous_losses[0], self.previous_losses[1]
        valid = (before > 0) & torch.isfinite(before) & torch.isfinite(last)
        ratio = torch.where(valid, last / before.clamp(min=1e-12), torch.ones_like(last))
        new = self.n_tasks * torch.softmax(ratio / self.temperature, dim=0)
        self.dwa_weights.copy_(torch.where(self.epochs_seen >= 2, new, self.dwa_weights))


@register_weighting("dwa")
class DynamicWeightAverage(LossWeighting):
    r"""Dynamic Weight Average (Liu, Johns & Davison, 2019).

    The weights change once per epoch, from the rate at which each task's training loss
    went down over the two previous epochs:

    .. math::

        r_t = \frac{L_t(e-1)}{L_t(e-2)}, \qquad
        \lambda_t(e) = T \, \frac{\exp(r_t / \tau)}{\sum_k \exp(r_k / \tau)}

    so that a task whose loss stalls (ratio near 1) weighs more than one that falls
    fast. The weights are 1 during the first two epochs and always sum to the number of
    tasks :math:`T`. A large temperature :math:`\tau` makes them uniform; a small one
    concentrates them on the slowest task. Uses the per-epoch mean training losses that
    the net passes to ``on_epoch_end``; a task with no label in an epoch (loss 0) keeps a
    ratio of 1.

    The fixed ``task_weights`` multiply the losses: the step's loss is
    :math:`\sum_t w_t \lambda_t L_t`, and :math:`w_t \lambda_t` is recorded.

    Parameters
    ----------
    temperature : float, default=2.0
        Softmax temperature :math:`\tau` (the paper uses 2), > 0.

    References
    ----------
    Liu, S., Johns, E., & Davison, A. J. (2019). End-to-end multi-task learning with
    attention. *CVPR*, 1871-1880.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import DynamicWeightAverage
    >>> module = DynamicWeightAverage(temperature=2.0).build(torch.ones(2))
    >>> module.on_epoch_end(torch.tensor([1.0, 1.0]))
    >>> module.on_epoch_end(torch.tensor([0.5, 1.0]))  # task 0 halved, task 1 stalled
    >>> module.dwa_weights
    tensor([0.8756, 1.1244])
    """

    _parameter_constraints: ClassVar[dict] = {
        "temperature": [finite(0, closed="neither")],
    }

    def __init__(self, temperature: float = 2.0):
        self.temperature = temperature

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _DWAModule:
        self._validate_params()
        return _DWAModule(base_weights, self.temperature)
