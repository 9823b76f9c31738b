"""Aligned-MTL (Senushkin, Patakin, Kuznetsov & Konushin, CVPR 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._registry import register_weighting
from .._validation import StrOptions
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc

__all__ = ["AlignedMTL", "aligned_coefficients"]


def aligned_alignment(gram: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """The matrix ``B`` such that the rows of ``B G`` are orthogonal with norm ``sigma_min``.

    ``B = sigma_min * V S^-1 V^T`` from the eigendecomposition ``K = V S^2 V^T``,
    keeping the eigenvalues above ``rtol`` times the largest: a pseudo-inverse when the
    gradients are linearly dependent. The default ``rtol`` is ``n`` times the float64
    machine epsilon, as in torchjd (the Gram matrix is accumulated in float64).
    """
    eigvals, eigvecs = np.linalg.eigh(gram)
    top = max(float(eigvals.max()), 0.0)
    if rtol is None:
        rtol = gram.shape[0] * np.finfo(np.float64).eps
    keep = eigvals > rtol * top if top > 0 else np.zeros_like(eigvals, dtype=bool)
    if not keep.any():
        return np.zeros_like(gram)
    sigma = np.sqrt(eigvals[keep])
    vecs = eigvecs[:, keep]
    return sigma.min() * (vecs / sigma) @ vecs.T


def aligned_coefficients(gram: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Aligned-MTL's coefficients ``a = B^T w`` of the update ``d = (B G)^T w = G^T a``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import aligned_coefficients
    >>> aligned_coefficients(np.diag([1.0, 4.0]))  # both rows rescaled to norm 1
    array([1. , 0.5])
    """
    n = gram.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    return aligned_alignment(gram).T @ w


class _AlignedModule(GradientLevelWeighting):
    def solve(self, gram, losses, base_weights):
        return aligned_coefficients(gram, base_weights)


@gradient_on_doc("parameters")
@register_weighting("aligned")
class AlignedMTL(LossWeighting):
    r"""Aligned-MTL: gradients aligned by their principal components (Senushkin et al., 2023).

    Conflicting and dominating gradients make the matrix :math:`G` of task gradients
    ill-conditioned. Aligned-MTL replaces it by the closest matrix with condition number
    one: with the SVD :math:`G = U \Sigma V^T` (obtained here from the eigendecomposition
    of the small Gram matrix :math:`G G^T = U \Sigma^2 U^T`),

    .. math::

        \hat G = \sigma_{\min}\, U \Sigma^{-1} U^T G, \qquad d = \hat G^T w,

    whose rows are orthogonal and all of norm :math:`\sigma_{\min}` (the smallest
    non-zero singular value, which sets the scale). Zero singular values (linearly
    dependent gradients) are left out, as a pseudo-inverse. The recorded weights are
    the coefficients :math:`\sigma_{\min} U \Sigma^{-1} U^T w` of :math:`d` on the
    original gradients. Taken at the shared representation this is the paper's
    Aligned-MTL-UB.

    The fixed ``task_weights`` are the paper's task weights :math:`w` of the aligned
    gradients (1: equal). The heads receive the gradient of :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    %(gradient_on)s

    References
    ----------
    Senushkin, D., Patakin, N., Kuznetsov, A., & Konushin, A. (2023). Independent
    component alignment for multi-task learning. *CVPR*, 20083-20093.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import AlignedMTL, BackwardContext
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([0.0, 4.0])])
    >>> module = AlignedMTL().build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # both gradients brought to norm sigma_min = 1
    tensor([1., 1.])
    """

    _parameter_constraints: ClassVar[dict] = {
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
    }

    def __init__(self, gradient_on: str = "parameters"):
        self.gradient_on = gradient_on

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _AlignedModule:
        self._validate_params()
        return _AlignedModule(base_weights, self.gradient_on)
