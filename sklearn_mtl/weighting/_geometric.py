"""Geometric Loss Strategy (Chennupati et al., CVPR Workshops 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._registry import register_weighting
from ._base import LossLevelWeighting, LossWeighting
from ._utils import EPS, as_mask

__all__ = ["GeometricLossStrategy"]


class _GeometricModule(LossLevelWeighting):
    def weigh(
        self, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = as_mask(present, losses)
        exponents = self.base_weights * mask
        exponents = exponents / exponents.sum().clamp(min=EPS)
        log_losses = torch.log(losses.clamp(min=EPS))
        total = torch.exp((exponents * log_losses).sum())
        # d total / d L_t = total * exponent_t / L_t: the weight each loss effectively gets
        return total, total.detach() * exponents / losses.detach().clamp(min=EPS)


@register_weighting("geometric")
class GeometricLossStrategy(LossWeighting):
    r"""Geometric Loss Strategy (Chennupati, Sistu, Yogamani & Rawashdeh, 2019).

    The loss is the geometric mean of the task losses,

    .. math::

        L = \prod_t L_t^{\,\omega_t}, \qquad \omega_t = \frac{w_t}{\sum_k w_k},

    whose gradient is :math:`\sum_t (L\, \omega_t / L_t) \nabla L_t`: each task is
    weighted by the inverse of its own loss, so that the direction of the update does
    not change when one task's loss is multiplied by a constant (a task measured in
    grams does not drown one measured in kilograms). With no fixed weights,
    :math:`\omega_t = 1/T` as in the paper.

    A constant factor on a loss does not change the direction of a geometric mean, so
    the fixed ``task_weights`` :math:`w_t` act as exponents (a weighted geometric mean)
    instead of multiplying the losses. The recorded weights are the effective ones,
    :math:`L\,\omega_t / L_t`. Tasks absent from a batch are left out of the product;
    losses are clamped at 1e-8 before the logarithm.

    References
    ----------
    Chennupati, S., Sistu, G., Yogamani, S., & Rawashdeh, S. A. (2019). MultiNet++:
    multi-stream feature aggregation and geometric loss strategy for multi-task
    learning. *CVPR Workshops*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import GeometricLossStrategy
    >>> module = GeometricLossStrategy().build(torch.ones(2))
    >>> module.combine(torch.tensor([1.0, 4.0]), torch.tensor([True, True]))
    tensor(2.)
    >>> module.pop_epoch_weights()
    tensor([1.0000, 0.2500])
    """

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _GeometricModule:
        return _GeometricModule(base_weights)
