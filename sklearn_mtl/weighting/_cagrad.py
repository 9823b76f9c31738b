"""Conflict-Averse Gradient descent (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._registry import register_weighting
from .._validation import StrOptions, finite, positive_int
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc
from ._solvers import minimize_on_simplex_smooth

__all__ = ["CAGrad", "cagrad_coefficients"]


def cagrad_coefficients(gram: np.ndarray, c: float, max_iter: int = 500) -> np.ndarray:
    """CAGrad's update ``d = sum_t a_t g_t`` from the Gram matrix of the task gradients.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix of the (already weighted) task gradients.
    c : float
        Radius of the ball around the mean gradient, relative to its norm.
    max_iter : int
        Maximum number of iterations of the dual solver for more than six tasks
        (SLSQP, to convergence); up to six tasks the dual is solved exactly, face by
        face of the simplex.

    Returns
    -------
    ndarray of shape (n,)
        The coefficients ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import cagrad_coefficients
    >>> cagrad_coefficients(np.eye(2), c=0.0)
    array([0.5, 0.5])
    """
    n = gram.shape[0]
    mean = np.full(n, 1.0 / n)
    trace = float(np.trace(gram))
    if c <= 0 or not np.isfinite(trace) or trace <= 0.0:
        return mean
    gram = gram / trace  # the coefficients do not depend on a scale of the gradients
    g0_sq = float(mean @ gram @ mean)
    if g0_sq <= 1e-30:
        return mean
    radius = c * np.sqrt(g0_sq)
    linear = gram @ mean  # <g_i, g0>
    floor = 1e-30

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        kw = gram @ w
        norm = np.sqrt(max(float(w @ kw), 0.0) + floor)
        return float(w @ linear) + radius * norm, linear + radius * kw / norm

    if n <= _EXACT_MAX_TASKS:
        w = _dual_by_faces(gram, linear, radius)
    else:
        w = minimize_on_simplex_smooth(objective, mean, max_iter=max_iter)
    gw_norm = np.sqrt(max(float(w @ gram @ w), 0.0))
    if gw_norm <= 1e-6 * np.sqrt(g0_sq):  # 0 in the hull: Pareto-stationary, no ball step
        return mean
    return mean + (radius / gw_norm) * w


#: Up to this many tasks the dual is solved exactly face by face (2^n - 1 faces).
_EXACT_MAX_TASKS = 6


def _dual_by_faces(gram: np.ndarray, linear: np.ndarray, radius: float) -> np.ndarray:
    """Exact minimiser of ``w . b + r sqrt(w^T K w)`` on the simplex, face by face.

    In the relative interior of a face ``S`` the minimiser is stationary:
    ``b_S + r K_S w / q = lambda 1`` with ``q = sqrt(w^T K w)``, so
    ``w = P (lambda 1 - b_S) / (1^T P (lambda 1 - b_S))`` (``P`` the inverse of ``K_S``,
    least squares where it is singular), where ``lambda`` is the larger root of
    ``(lambda 1 - b)^T P (lambda 1 - b) = r^2``. The best feasible candidate over all
    faces is the minimiser; where 0 is in the hull (``q = 0``) the value 0 is reached
    and the caller falls back to the mean gradient.
    """
    n = gram.shape[0]
    best, best_value = np.full(n, 1.0 / n), np.inf
    r2 = radius * radius
    for size in range(1, n + 1):
        for face in itertools.combinations(range(n), size):
            idx = list(face)
            w = np.zeros(n)
            if size == 1:
                w[idx] = 1.0
            else:
                sub = gram[np.ix_(idx, idx)]
                rhs = np.stack([np.ones(size), linear[idx]], axis=1)
                try:
                    sol = np.linalg.solve(sub, rhs)  # P 1 and P b
                except np.linalg.LinAlgError:  # singular face: least squares
                    sol = np.linalg.lstsq(sub, rhs, rcond=None)[0]
                p1, pb = sol[:, 0], sol[:, 1]
                a, bb, cc = p1.sum(), pb.sum(), float(linear[idx] @ pb)
                disc = bb * bb - a * (cc - r2)
                if not (a > 0 and disc > 0 and np.isfinite(disc)):
                    continue
                u = (bb + np.sqrt(disc)) / a * p1 - pb
                total = u.sum()
                if not total > 0 or np.any(u < -1e-12 * np.abs(u).max()):
                    continue
                w[idx] = np.clip(u, 0.0, None) / total
            value = float(w @ linear) + radius * np.sqrt(max(float(w @ gram @ w), 0.0))
            if value < best_value:
                best, best_value = w, value
    return best / best.sum()


class _CAGradModule(GradientLevelWeighting):
    def __init__(self, base_weights, gradient_on, c, max_iter):
        super().__init__(base_weights, gradient_on)
        self.c = float(c)
        self.max_iter = int(max_iter)

    def solve(self, gram, losses, base_weights):
        scaled = gram * np.outer(base_weights, base_weights)
        return base_weights * cagrad_coefficients(scaled, self.c, self.max_iter)


@gradient_on_doc("parameters")
@register_weighting("cagrad")
class CAGrad(LossWeighting):
    r"""Conflict-Averse Gradient descent (Liu, Liu, Jin, Stone & Liu, 2021).

    CAGrad looks, in a ball around the mean gradient :math:`g_0 = \frac1T\sum_t g_t`,
    for the update that most improves the worst-off task:

    .. math::

        \max_{d} \min_t \; g_t \cdot d
        \quad \text{s.t.} \quad \lVert d - g_0 \rVert \le c \lVert g_0 \rVert .

    Its dual is a problem on the simplex,
    :math:`\min_{w \in \Delta} g_w \cdot g_0 + c\lVert g_0\rVert \lVert g_w \rVert` with
    :math:`g_w = \sum_t w_t g_t`, solved here exactly on the Gram matrix (face by
    face of the simplex up to six tasks, SLSQP to convergence beyond, where the
    authors' code stops SLSQP at its default tolerance);
    then :math:`d = g_0 + c\lVert g_0 \rVert\, g_w / \lVert g_w \rVert`. ``c = 0`` gives
    the mean gradient (fixed equal weighting, divided by :math:`T`); larger ``c`` trades
    the average improvement for the worst task's (the paper uses 0.4 to 0.5).

    The fixed ``task_weights`` :math:`w_t` scale the task gradients before the problem,
    so that :math:`g_0 = \frac1T \sum_t w_t g_t`. The recorded weights are the
    coefficients of :math:`d` on the unscaled gradients. The heads receive the gradient
    of :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    c : float, default=0.5
        Radius of the ball, relative to :math:`\lVert g_0 \rVert`, >= 0.
    %(gradient_on)s
    max_iter : int, default=500
        Maximum number of iterations of the dual solver (it stops at convergence, after
        a few tens of iterations).

    References
    ----------
    Liu, B., Liu, X., Jin, X., Stone, P., & Liu, Q. (2021). Conflict-averse gradient
    descent for multi-task learning. *NeurIPS*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, CAGrad
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([-0.5, 1.0])])
    >>> module = CAGrad(c=0.0).build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # c = 0: the mean gradient
    tensor([0.2500, 0.5000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "c": [finite(0)],
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
        "max_iter": [positive_int],
    }

    def __init__(self, c: float = 0.5, gradient_on: str = "parameters", max_iter: int = 500):
        self.c = c
        self.gradient_on = gradient_on
        self.max_iter = max_iter

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _CAGradModule:
        self._validate_params()
        return _CAGradModule(base_weights, self.gradient_on, self.c, self.max_iter)
