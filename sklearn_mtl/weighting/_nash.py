"""Nash-MTL: multi-task learning as a bargaining game (Navon et al., ICML 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._registry import register_weighting
from .._validation import StrOptions, finite, positive_int
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc

__all__ = ["NashMTL", "nash_coefficients"]


def nash_coefficients(
    gram: np.ndarray,
    bargaining_power: np.ndarray | None = None,
    ridge: float = 1e-6,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> np.ndarray:
    """Solve Nash-MTL's equation ``(K a)_t = b_t / a_t`` with ``a > 0``.

    The solution minimises the strictly convex ``1/2 a^T K a - sum_t b_t log a_t``;
    damped Newton's method finds it in a few iterations. The equation is solved on the
    gradients' correlation matrix ``C = N^-1 K N^-1`` (``N`` the diagonal of gradient
    norms; ``a = N^-1 beta`` with ``(C beta)_t = b_t / beta_t``), so that the solution
    does not depend on the scale of any task's gradient, as the method's. ``ridge`` is
    added to the diagonal of ``C`` (i.e. ``ridge * |g_t|^2`` to that of ``K``, a
    regularisation as scale-invariant as the method) so that a solution exists when
    the gradients are linearly dependent. Tasks with a zero gradient get 0.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix of the task gradients.
    bargaining_power : ndarray of shape (n,), optional
        ``b`` (1 by default).
    ridge : float
        Regularisation added to the diagonal of the correlation matrix.
    max_iter : int
        Maximum number of Newton iterations.
    tol : float
        Stop when the relative residual is below this.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import nash_coefficients
    >>> nash_coefficients(np.diag([1.0, 4.0]), ridge=0.0)  # a_t = 1 / |g_t|
    array([1. , 0.5])
    """
    n = gram.shape[0]
    b = np.ones(n) if bargaining_power is None else np.asarray(bargaining_power, dtype=float)
    diag = np.diag(gram)
    keep = diag > 1e-20 * max(float(diag.max()), 1e-300)
    out = np.zeros(n)
    if not keep.any():
        return out
    norms = np.sqrt(diag[keep])
    k = gram[np.ix_(keep, keep)] / np.outer(norms, norms)  # correlations, unit diagonal
    b = b[keep]
    k = k + ridge * np.eye(k.shape[0])
    # start on the right scale: a = c 1 solves the equation summed over tasks
    a = np.full(k.shape[0], np.sqrt(b.sum() / max(float(k.sum()), 1e-300)))
    if not np.all(np.isfinite(a)) or a[0] <= 0:
        a = np.ones(k.shape[0])

    def f(x: np.ndarray) -> float:
        return 0.5 * float(x @ k @ x) - float(b @ np.log(x))

    value = f(a)
    for _ in range(max_iter):
        grad = k @ a - b / a
        if np.linalg.norm(grad * a) <= tol * np.linalg.norm(b):
            break
        hess = k + np.diag(b / a**2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while np.any(a - t * step <= 0):
            t *= 0.5
        while True:  # Armijo backtracking
            candidate = a - t * step
            new_value = f(candidate)
            if new_value <= value - 1e-4 * t * float(grad @ step) or t < 1e-12:
                break
            t *= 0.5
        a, value = candidate, new_value
    out[keep] = a / norms
    return out


class _NashModule(GradientLevelWeighting):
    def __init__(self, base_weights, gradient_on, ridge, max_iter):
        super().__init__(base_weights, gradient_on)
        self.ridge = float(ridge)
        self.max_iter = int(max_iter)

    def solve(self, gram, losses, base_weights):
        return nash_coefficients(gram, base_weights, ridge=self.ridge, max_iter=self.max_iter)


@gradient_on_doc("parameters")
@register_weighting("nash")
class NashMTL(LossWeighting):
    r"""Nash-MTL: the update as the Nash bargaining solution (Navon et al., 2022).

    The tasks bargain over the update :math:`d` in a ball, each with utility
    :math:`g_t \cdot d`; the Nash bargaining solution maximises
    :math:`\sum_t b_t \log(g_t \cdot d)`. It is :math:`d = \sum_t \alpha_t g_t` with
    :math:`\alpha > 0` solving

    .. math::

        (G G^T \alpha)_t = b_t / \alpha_t \quad \text{for every task } t,

    so each task's directional derivative is :math:`g_t \cdot d = b_t/\alpha_t`: the
    update is invariant to the scale of each task's gradient. Instead of the authors'
    sequence of convex programs (cvxpy), the equation is solved exactly by Newton's
    method on the strictly convex
    :math:`\tfrac12 \alpha^T K \alpha - \sum_t b_t \log \alpha_t`, with a small ridge
    :math:`\rho \lVert g_t \rVert^2` on the diagonal of :math:`K` so that a solution
    exists when gradients are linearly dependent (relative to each task's own norm, so
    that the regularised solution stays invariant to the scale of each gradient, as the
    authors' solution is). The authors' optional clipping of the update's norm
    (``max_norm``) is not applied.

    The fixed ``task_weights`` are the bargaining powers :math:`b_t` (1: the paper's
    method). The recorded weights are :math:`\alpha`. The heads receive the gradient of
    :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    %(gradient_on)s
    ridge : float, default=1e-6
        :math:`\rho`, added to each diagonal entry of the Gram matrix relative to that
        entry (the task's squared gradient norm), >= 0.
    max_iter : int, default=50
        Maximum number of Newton iterations.

    References
    ----------
    Navon, A., Shamsian, A., Achituve, I., Maron, H., Kawaguchi, K., Chechik, G., &
    Fetaya, E. (2022). Multi-task learning as a bargaining game. *ICML*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, NashMTL
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([0.0, 2.0])])
    >>> module = NashMTL(ridge=0.0).build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # g_t . d = 1 / a_t with a = (1, 0.5)
    tensor([1., 1.])
    """

    _parameter_constraints: ClassVar[dict] = {
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
        "ridge": [finite(0)],
        "max_iter": [positive_int],
    }

    def __init__(self, gradient_on: str = "parameters", ridge: float = 1e-6, max_iter: int = 50):
        self.gradient_on = gradient_on
        self.ridge = ridge
        self.max_iter = max_iter

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _NashModule:
        self._validate_params()
        return _NashModule(base_weights, self.gradient_on, self.ridge, self.max_iter)
