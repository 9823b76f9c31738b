"""UPGrad: unconflicting projection of gradients (Quinton & Rey, 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._registry import register_weighting
from .._validation import StrOptions, positive_int
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc
from ._solvers import nonneg_qp

__all__ = ["UPGrad", "upgrad_coefficients"]


def upgrad_coefficients(
    gram: np.ndarray, weights: np.ndarray | None = None, max_iter: int = 500
) -> np.ndarray:
    """UPGrad's coefficients: mean of the projections of the gradients on the dual cone.

    The projection of ``g_i`` on ``{x : G x >= 0}`` is ``g_i + G^T l`` with ``l >= 0``
    solving ``min 1/2 l^T K l + l^T K e_i``, so the update is ``G^T a`` with
    ``a = (1/n) sum_i w_i (e_i + l_i)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import upgrad_coefficients
    >>> G = np.array([[1.0, 0.0], [-1.0, 1.0]])
    >>> upgrad_coefficients(G @ G.T)
    array([1.  , 0.75])
    """
    n = gram.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    lam = nonneg_qp(gram, np.eye(n), max_iter=max_iter)  # column i: multipliers for g_i
    return ((np.eye(n) + lam) @ w) / n


class _UPGradModule(GradientLevelWeighting):
    def __init__(self, base_weights, gradient_on, max_iter):
        super().__init__(base_weights, gradient_on)
        self.max_iter = int(max_iter)

    def solve(self, gram, losses, base_weights):
        return upgrad_coefficients(gram, base_weights, self.max_iter)


@gradient_on_doc("parameters")
@register_weighting("upgrad")
class UPGrad(LossWeighting):
    r"""Unconflicting projection of gradients, UPGrad (Quinton & Rey, 2024).

    The aggregator of *Jacobian descent*: each task gradient is projected onto the dual
    cone of the gradients, :math:`\{x : g_t \cdot x \ge 0 \text{ for all } t\}` (the
    directions that harm no task), and the projections are averaged,

    .. math::

        d = \frac1T \sum_i w_i\, \pi(g_i), \qquad
        \pi(g_i) = \arg\min_{x :\, G x \ge 0} \lVert x - g_i \rVert^2 .

    The update never conflicts with any task (:math:`G d \ge 0`), and equals the mean
    gradient when no two gradients conflict. Each projection is
    :math:`g_i + G^T \lambda_i` with :math:`\lambda_i \ge 0` solving a small
    non-negative quadratic program on the Gram matrix (solved exactly here, as a
    non-negative least-squares problem by an active-set method).

    The fixed ``task_weights`` :math:`w_i` weigh the projections (the same as scaling
    the gradients first; 1: the paper's method). The recorded weights are the
    coefficients of :math:`d` on the original gradients. The heads receive the gradient
    of :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    %(gradient_on)s
    max_iter : int, default=500
        Maximum number of active-set iterations per projection (at least 3 per task).

    References
    ----------
    Quinton, P., & Rey, V. (2024). Jacobian descent for multi-objective optimization.
    *arXiv:2406.16232*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, UPGrad
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([-1.0, 1.0])])  # conflicting
    >>> module = UPGrad().build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # mean of the projections (0.5, 0.5) and (0, 1)
    tensor([0.2500, 0.7500])
    """

    _parameter_constraints: ClassVar[dict] = {
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
        "max_iter": [positive_int],
    }

    def __init__(self, gradient_on: str = "parameters", max_iter: int = 500):
        self.gradient_on = gradient_on
        self.max_iter = max_iter

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _UPGradModule:
        self._validate_params()
        return _UPGradModule(base_weights, self.gradient_on, self.max_iter)
