"""Dual-Balancing Multi-Task Learning, DB-MTL (Lin et al., 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from .._registry import register_weighting
from .._validation import Interval, Real, StrOptions, finite
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, combine, gradient_on_doc, row_norms
from ._utils import EPS, as_mask

__all__ = ["DBMTL"]


class _DBMTLModule(GradientLevelWeighting):
    steps: torch.Tensor
    seen: torch.Tensor
    average_norms: torch.Tensor
    average_gradients: torch.Tensor | None

    def __init__(self, base_weights, gradient_on, beta, beta_sigma):
        super().__init__(base_weights, gradient_on)
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        n = self.n_tasks
        self.register_buffer("steps", torch.zeros(()))
        self.register_buffer("seen", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("average_norms", torch.zeros(n))
        self.register_buffer("average_gradients", None)

    def transform_losses(self, losses, present):
        return torch.log(losses + EPS)

    def direction(self, jacobian, losses, present):
        self.steps += 1
        beta = self.beta / self.steps**self.beta_sigma
        present = present.to(jacobian.device)
        # running averages start at zero, as in the authors' code (LibMTL's DB_MTL)
        if self.gradient_on == "parameters":
            if self.average_gradients is None or self.average_gradients.shape != jacobian.shape:
                self.average_gradients = torch.zeros_like(jacobian)
            avg = self.average_gradients
            mixed = beta * avg + (1 - beta) * jacobian
            avg.copy_(torch.where(present[:, None], mixed, avg))
            gradients, norms = avg, avg.norm(dim=1)
        else:
            # gradients at the representation belong to one batch's rows: average norms
            norms_now = row_norms(jacobian).to(self.average_norms)
            mixed = beta * self.average_norms + (1 - beta) * norms_now
            self.average_norms.copy_(torch.where(present, mixed, self.average_norms))
            gradients, norms = jacobian, self.average_norms.to(jacobian.dtype)
        self.seen |= present.to(self.seen.device)
        mask = as_mask(present, jacobian)
        largest = (norms * mask).max()
        scales = largest / (norms + EPS) * (norms > EPS) * mask
        weights = self.base_weights.to(device=jacobian.device, dtype=jacobian.dtype) * scales
        return combine(weights, gradients), weights


@gradient_on_doc("parameters")
@register_weighting("dbmtl")
class DBMTL(LossWeighting):
    r"""Dual-Balancing Multi-Task Learning (Lin, Jiang, Ye, Zhang, Chen, Chen & Liu, 2023).

    Two balancing steps:

    - *loss scale*: each task's loss is replaced by its logarithm,
      :math:`\log L_t` (a constant factor on a loss no longer matters);
    - *gradient magnitude*: the shared gradients :math:`g_t = \nabla \log L_t` are
      averaged over steps, :math:`\hat g_t \leftarrow \beta_k \hat g_t +
      (1-\beta_k) g_t` with :math:`\beta_k = \beta / k^{\sigma}` (from
      :math:`\hat g_t = 0`, as in the authors' code), and all rescaled to the largest
      norm:

    .. math::

        d = \sum_t w_t \frac{\max_k \lVert \hat g_k \rVert}{\lVert \hat g_t \rVert}
        \hat g_t .

    With ``gradient_on="representation"``, the gradients of different batches concern
    different rows, so only their norms are averaged and the current gradients are
    rescaled. The heads receive the gradient of :math:`\sum_t w_t \log L_t`. As in the
    authors' code the logarithm is :math:`\log(L_t + 10^{-8})`.

    The fixed ``task_weights`` :math:`w_t` multiply the rescaled gradients; the recorded
    weights are :math:`w_t \max_k \lVert \hat g_k \rVert / \lVert \hat g_t \rVert`
    (weights on the log-loss gradients).

    Parameters
    ----------
    beta : float, default=0.9
        Averaging factor :math:`\beta` in [0, 1) (0: no averaging).
    beta_sigma : float, default=0.5
        Decay exponent :math:`\sigma` of :math:`\beta_k`, >= 0.
    %(gradient_on)s

    References
    ----------
    Lin, B., Jiang, W., Ye, F., Zhang, Y., Chen, P., Chen, Y.-C., Liu, S., & Kwok, J. T.
    (2023). Dual-balancing for multi-task learning. *arXiv:2308.12029*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, DBMTL
    >>> theta = torch.nn.Parameter(torch.ones(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       100 * theta @ torch.tensor([0.0, 1.0])])  # log: (1, 0), (0, 1)
    >>> module = DBMTL().build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # (1 - beta) times the rescaled gradients: the averages start at 0
    tensor([0.1000, 0.1000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "beta": [Interval(Real, 0, 1, closed="left")],
        "beta_sigma": [finite(0)],
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
    }

    def __init__(self, beta: float = 0.9, beta_sigma: float = 0.5, gradient_on: str = "parameters"):
        self.beta = beta
        self.beta_sigma = beta_sigma
        self.gradient_on = gradient_on

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _DBMTLModule:
        self._validate_params()
        return _DBMTLModule(base_weights, self.gradient_on, self.beta, self.beta_sigma)
