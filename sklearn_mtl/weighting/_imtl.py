"""Impartial Multi-Task Learning, IMTL (Liu et al., ICLR 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .._registry import register_weighting
from .._validation import StrOptions
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc

__all__ = ["IMTL", "imtl_coefficients"]


def imtl_coefficients(gram: np.ndarray, preferences: np.ndarray | None = None) -> np.ndarray:
    """IMTL-G's coefficients: the combination with equal projections on every unit gradient.

    Solves ``M a = lambda * p`` with ``M[t, j] = <g_j, g_t> / |g_t|`` (the projection of
    ``g_j`` on the unit gradient ``u_t``) and ``sum(a) = 1``; with ``p = 1`` this is
    IMTL-G's closed form. Tasks with a zero gradient get 0.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix of the task gradients.
    preferences : ndarray of shape (n,), optional
        Target ratios ``p`` of the projections (1 by default).

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import imtl_coefficients
    >>> G = np.array([[1.0, 0.0], [0.0, 4.0]])
    >>> imtl_coefficients(G @ G.T)  # d = (0.8, 0.8): equal projections on both axes
    array([0.8, 0.2])
    """
    n = gram.shape[0]
    p = np.ones(n) if preferences is None else np.asarray(preferences, dtype=float)
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    keep = norms > 1e-12 * max(float(norms.max()), 1e-300)
    out = np.zeros(n)
    if not keep.any():
        return out
    k = gram[np.ix_(keep, keep)]
    m = k / norms[keep][:, None]
    a = np.linalg.lstsq(m, p[keep], rcond=None)[0]
    total = a.sum()
    if not np.isfinite(total) or abs(total) < 1e-12 * np.abs(a).sum():
        a = p[keep] / p[keep].sum()
    else:
        a = a / total
    out[keep] = a
    return out


class _IMTLModule(GradientLevelWeighting):
    def __init__(self, base_weights, gradient_on, scale_losses):
        super().__init__(base_weights, gradient_on)
        self.scale_losses = bool(scale_losses)
        if self.scale_losses:
            self.loss_scales = nn.Parameter(torch.zeros_like(self.base_weights))

    def transform_losses(self, losses, present):
        if not self.scale_losses:
            return losses
        s = self.loss_scales
        return torch.where(present, torch.exp(s) * losses - s, torch.zeros_like(losses))

    def solve(self, gram, losses, base_weights):
        return imtl_coefficients(gram, base_weights)


@gradient_on_doc("parameters")
@register_weighting("imtl")
class IMTL(LossWeighting):
    r"""Impartial Multi-Task Learning (Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, 2021).

    IMTL-G (the gradient part) picks the combination :math:`d = \sum_t \alpha_t g_t`,
    :math:`\sum_t \alpha_t = 1`, whose projections on all unit task gradients
    :math:`u_t = g_t/\lVert g_t \rVert` are equal, :math:`d \cdot u_t = d \cdot u_1`:
    no task is favoured, whatever the gradients' magnitudes. In closed form,
    :math:`\alpha = M^{-1}\mathbf 1 / (\mathbf 1^T M^{-1} \mathbf 1)` with
    :math:`M_{tj} = g_j \cdot u_t`, computed from the Gram matrix (least squares when the
    gradients are linearly dependent). Weights may be negative.

    With ``scale_losses=True``, IMTL-L (the loss part) is added: each task's loss becomes
    :math:`e^{s_t} L_t - s_t` with a learnable scale :math:`s_t` (trained by the net's
    optimizer; at its optimum :math:`e^{s_t} L_t = 1`, so every scaled loss is 1). IMTL-G
    is invariant to those scales, so they act on the heads.

    The fixed ``task_weights`` :math:`w_t` set the ratios of the projections,
    :math:`d \cdot u_t \propto w_t` (equal weights: the paper's method). The recorded
    weights are :math:`\alpha` (on the gradients of the, possibly scaled, losses). The
    heads receive the gradient of :math:`\sum_t w_t L_t` (scaled losses with IMTL-L).

    Parameters
    ----------
    scale_losses : bool, default=False
        Also learn the loss scales of IMTL-L.
    %(gradient_on)s

    References
    ----------
    Liu, L., Li, Y., Kuang, Z., Xue, J.-H., Chen, Y., Yang, W., Liao, Q., & Zhang, W.
    (2021). Towards impartial multi-task learning. *ICLR*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, IMTL
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([1.0, 1.0])])
    >>> module = IMTL().build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # equal projections on (1, 0) and (1, 1) / sqrt(2)
    tensor([1.0000, 0.4142])
    """

    _parameter_constraints: ClassVar[dict] = {
        "scale_losses": ["boolean"],
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
    }

    def __init__(self, scale_losses: bool = False, gradient_on: str = "parameters"):
        self.scale_losses = scale_losses
        self.gradient_on = gradient_on

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _IMTLModule:
        self._validate_params()
        return _IMTLModule(base_weights, self.gradient_on, self.scale_losses)
