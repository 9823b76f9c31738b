"""Small dense solvers on Gram matrices (numpy, float64), shared by gradient-level methods.

Gradient-level methods only need the Gram matrix ``K = G G^T`` of the task gradients
(``n_tasks x n_tasks``), so their sub-problems are tiny; they run here on the host in
float64, where a 3x3 operation costs about a microsecond.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "minimize_on_simplex",
    "min_norm_simplex",
    "nonneg_qp",
    "project_simplex",
]


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``v`` onto the probability simplex.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting._solvers import project_simplex
    >>> project_simplex(np.array([0.5, 1.5, -1.0]))
    array([0., 1., 0.])
    """
    n = v.shape[0]
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ind = np.arange(1, n + 1)
    cond = u - css / ind > 0
    rho = ind[cond][-1]
    theta = css[cond][-1] / rho
    return np.maximum(v - theta, 0.0)


def min_norm_simplex(gram: np.ndarray, max_iter: int = 250, tol: float = 1e-10) -> np.ndarray:
    """Weights of the min-norm point of the convex hull of vectors with Gram matrix ``gram``.

    Solves ``min_{a in simplex} a^T K a`` by Frank-Wolfe with exact line search, started,
    as in Sener & Koltun (2018), from the best analytic two-vector solution.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix ``K = G G^T`` of the vectors (rows of ``G``).
    max_iter : int
        Maximum number of Frank-Wolfe iterations.
    tol : float
        Stop when the weights change by less than this (L1).

    Returns
    -------
    ndarray of shape (n,)
        Non-negative weights summing to one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting._solvers import min_norm_simplex
    >>> G = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> min_norm_simplex(G @ G.T)
    array([0.5, 0.5])
    """
    n = gram.shape[0]
    if n == 1:
        return np.ones(1)
    diag = np.diag(gram)
    # best pair, each solved in closed form
    best, alpha = np.inf, np.full(n, 1.0 / n)
    for i in range(n):
        for j in range(i + 1, n):
            gamma, value = _min_norm_pair(diag[i], gram[i, j], diag[j])
            if value < best:
                best = value
                alpha = np.zeros(n)
                alpha[i], alpha[j] = gamma, 1.0 - gamma
    if n == 2:
        return alpha
    for _ in range(max_iter):
        grad = gram @ alpha  # inner products of each vector with the current point
        t = int(np.argmin(grad))
        vv = float(alpha @ grad)
        gamma, _ = _min_norm_pair(vv, float(grad[t]), float(diag[t]))
        # gamma weighs the current point, 1 - gamma the vertex t
        new = gamma * alpha
        new[t] += 1.0 - gamma
        if np.abs(new - alpha).sum() < tol:
            alpha = new
            break
        alpha = new
    return alpha


def _min_norm_pair(aa: float, ab: float, bb: float) -> tuple[float, float]:
    """``gamma`` minimising ``||gamma a + (1 - gamma) b||^2`` over [0, 1], and the minimum."""
    denom = aa - 2.0 * ab + bb
    gamma = 0.5 if denom <= 1e-20 else float(np.clip((bb - ab) / denom, 0.0, 1.0))
    value = gamma * gamma * aa + 2.0 * gamma * (1.0 - gamma) * ab + (1.0 - gamma) ** 2 * bb
    return gamma, value


def minimize_on_simplex(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> np.ndarray:
    """Minimise a convex function over the simplex by projected gradient with backtracking.

    Parameters
    ----------
    fun : callable
        ``x -> (value, gradient)``.
    x0 : ndarray
        Starting point on the simplex.
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the objective decreases by less than this (relative).

    Returns
    -------
    ndarray
        The minimiser found.
    """
    x = x0.copy()
    value, grad = fun(x)
    step = 1.0 / max(np.abs(grad).max(), 1e-12)
    for _ in range(max_iter):
        while True:
            candidate = project_simplex(x - step * grad)
            new_value, new_grad = fun(candidate)
            diff = candidate - x
            if new_value <= value + grad @ diff + (diff @ diff) / (2.0 * step) or step < 1e-20:
                break
            step *= 0.5
        decrease = value - new_value
        x, value, grad = candidate, new_value, new_grad
        if decrease <= tol * max(abs(value), 1e-12):
            break
        step *= 2.0
    return x


def nonneg_qp(gram: np.ndarray, linear: np.ndarray, max_iter: int = 500, tol: float = 1e-12):
    """Solve ``min_{l >= 0} 1/2 l^T K l + l^T q`` for each column ``q`` of ``linear``.

    Cyclic coordinate descent, vectorised over the columns.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Positive semi-definite matrix ``K``.
    linear : ndarray of shape (n, m)
        One linear term per problem.
    max_iter : int
        Maximum number of sweeps.
    tol : float
        Stop when a sweep changes no entry by more than this.

    Returns
    -------
    ndarray of shape (n, m)
        The solutions, one per column.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting._solvers import nonneg_qp
    >>> nonneg_qp(np.eye(2), np.array([[-1.0], [1.0]]))
    array([[1.],
           [0.]])
    """
    n, m = linear.shape
    lam = np.zeros((n, m))
    diag = np.diag(gram)
    scale = max(float(diag.max()), 1e-300)
    active = diag > 1e-12 * scale
    for _ in range(max_iter):
        change = 0.0
        for j in range(n):
            if not active[j]:
                continue
            grad_j = gram[j] @ lam + linear[j]
            new = np.maximum(lam[j] - grad_j / diag[j], 0.0)
            change = max(change, float(np.abs(new - lam[j]).max()))
            lam[j] = new
        if change <= tol * (1.0 + float(np.abs(lam).max())):
            break
    return lam
