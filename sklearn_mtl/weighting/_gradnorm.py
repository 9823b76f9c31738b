"""GradNorm: gradient normalisation (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from .._registry import register_weighting
from .._validation import StrOptions, finite
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc
from ._utils import EPS, adam_step, as_mask

__all__ = ["GradNorm", "gradnorm_gradient"]


def gradnorm_gradient(
    weights: torch.Tensor,
    grad_norms: torch.Tensor,
    loss_ratios: torch.Tensor,
    alpha: float,
    valid: torch.Tensor,
) -> torch.Tensor:
    r"""Gradient of GradNorm's loss with respect to the task weights.

    GradNorm's loss is :math:`\sum_t |w_t n_t - \bar G\, r_t^\alpha|` with
    :math:`n_t = \lVert\nabla L_t\rVert`, :math:`\bar G` the mean of :math:`w_t n_t` and
    :math:`r_t` the loss ratio :math:`L_t/L_t(0)` divided by its mean; the target is a
    constant, so the gradient is :math:`\operatorname{sign}(w_t n_t - \text{target}_t)\,
    n_t` (0 for tasks not ``valid``).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import gradnorm_gradient
    >>> gradnorm_gradient(torch.ones(2), torch.tensor([1.0, 3.0]), torch.ones(2), 1.5,
    ...                   torch.tensor([True, True]))  # task 1's gradient is too large
    tensor([-1.,  3.])
    """
    mask = valid.to(weights.dtype)
    count = mask.sum().clamp(min=1)
    weighted = weights * grad_norms
    mean_norm = (weighted * mask).sum() / count
    ratios = torch.where(valid, loss_ratios, torch.ones_like(loss_ratios))
    relative = ratios / ((ratios * mask).sum() / count).clamp(min=EPS)
    target = mean_norm * relative.clamp(min=0) ** alpha
    return torch.sign(weighted - target) * grad_norms * mask


class _GradNormModule(GradientLevelWeighting):
    gradnorm_weights: torch.Tensor
    initial_losses: torch.Tensor
    initialised: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    adam_steps: torch.Tensor

    heads_use_method_weights = True

    def __init__(self, base_weights, gradient_on, alpha, lr):
        super().__init__(base_weights, gradient_on)
        self.alpha = float(alpha)
        self.lr = float(lr)
        n = self.n_tasks
        self.register_buffer("gradnorm_weights", torch.ones(n))
        self.register_buffer("initial_losses", torch.zeros(n))
        self.register_buffer("initialised", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("exp_avg", torch.zeros(n))
        self.register_buffer("exp_avg_sq", torch.zeros(n))
        self.register_buffer("adam_steps", torch.zeros(()))

    def compute_weights(self, gram, losses, present):
        losses = losses.to(self.initial_losses)
        new = present & ~self.initialised
        self.initial_losses.copy_(torch.where(new, losses, self.initial_losses))
        self.initialised |= present
        w = self.gradnorm_weights
        weights = self.base_weights * w * as_mask(present, w)  # used for this step
        norms = torch.diagonal(gram).clamp(min=0).sqrt().to(w)
        valid = present & (self.initial_losses > EPS)
        ratios = losses / self.initial_losses.clamp(min=EPS)
        grad = gradnorm_gradient(w, norms, ratios, self.alpha, valid)
        adam_step(w, grad, self.exp_avg, self.exp_avg_sq, self.adam_steps, lr=self.lr)
        w.clamp_(min=1e-3)
        w.mul_(self.n_tasks / w.sum())
        return weights


@gradient_on_doc("parameters")
@register_weighting("gradnorm")
class GradNorm(LossWeighting):
    r"""GradNorm: adaptive loss weights that balance training rates (Chen et al., 2018).

    The loss is :math:`\sum_t w_t \lambda_t L_t` with learned weights :math:`\lambda_t`
    (summing to the number of tasks :math:`T`). After each step the weights move to make
    each weighted gradient norm :math:`\lambda_t \lVert \nabla L_t \rVert` match a target
    that grows with the task's relative inverse training rate:

    .. math::

        \min_\lambda \sum_t \Big| \lambda_t \lVert\nabla L_t\rVert
        - \overline{\lambda \lVert\nabla L\rVert} \; r_t^{\alpha} \Big|, \qquad
        r_t = \frac{L_t / L_t(0)}{\operatorname{mean}_k L_k / L_k(0)},

    so a task that trains slower (higher :math:`L_t/L_t(0)`) gets a larger gradient, and
    with :math:`\alpha = 0` the weighted gradient norms are simply equalised. The target
    is held constant, as in the paper, which makes the gradient of this loss in
    :math:`\lambda` available in closed form (no second-order backward); the weights are
    updated by their own Adam rule with learning rate ``lr`` and renormalised to sum to
    :math:`T`. :math:`L_t(0)` is the task's loss on the first batch where it has a label.
    The paper takes the norms on the last shared layer; here on all shared parameters
    (``gradient_on="parameters"``) or on the shared representation.

    The fixed ``task_weights`` :math:`w_t` multiply the learned weights (GradNorm
    balances the unweighted losses; the fixed weights then scale the balanced ones). The
    recorded weights are :math:`w_t \lambda_t`, which weigh the losses for every
    parameter, heads included.

    Parameters
    ----------
    alpha : float, default=1.5
        Strength of the pull towards equal training rates (the paper uses 0.12 to 1.5),
        >= 0.
    %(gradient_on)s
    lr : float, default=0.025
        Learning rate of the weights, > 0.

    References
    ----------
    Chen, Z., Badrinarayanan, V., Lee, C.-Y., & Rabinovich, A. (2018). GradNorm:
    gradient normalization for adaptive loss balancing in deep multitask networks.
    *ICML*, 794-803.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, GradNorm
    >>> theta = torch.nn.Parameter(torch.ones(2))
    >>> module = GradNorm(alpha=0.0, lr=0.1).build(torch.ones(2))
    >>> for _ in range(50):  # task 1's gradient is 4 times task 0's
    ...     theta.grad = None
    ...     losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                           theta @ torch.tensor([0.0, 4.0])])
    ...     _ = module.backward(losses, torch.tensor([True, True]),
    ...                         BackwardContext([theta], theta))
    >>> module.gradnorm_weights.round(decimals=1)  # weighted norms are equal: 1.6 * 1 = 0.4 * 4
    tensor([1.6000, 0.4000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "alpha": [finite(0)],
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
        "lr": [finite(0, closed="neither")],
    }

    def __init__(self, alpha: float = 1.5, gradient_on: str = "parameters", lr: float = 0.025):
        self.alpha = alpha
        self.gradient_on = gradient_on
        self.lr = lr

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _GradNormModule:
        self._validate_params()
        return _GradNormModule(base_weights, self.gradient_on, self.alpha, self.lr)
