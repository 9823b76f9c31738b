"""Small dense solvers on Gram matrices (numpy, float64), shared by gradient-level methods.

Gradient-level methods only need the Gram matrix ``K = G G^T`` of the task gradients
(``n_tasks x n_tasks``), so their sub-problems are tiny; they run here on the host in
float64, where a 3x3 operation costs about a microsecond.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

__all__ = [
    "gram_factor",
    "minimize_on_simplex_smooth",
    "min_norm_simplex",
    "nonneg_qp",
    "project_simplex",
]


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``v`` onto the probability simplex.

    Examples
    --------
    >>> import numpy as np
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


def gram_factor(gram: np.ndarray) -> np.ndarray:
    """A square factor ``R`` with ``R^T R = gram`` (symmetric PSD), from its eigenvalues.

    Negative eigenvalues from rounding are set to 0.
    """
    eigvals, eigvecs = np.linalg.eigh(0.5 * (gram + gram.T))
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))).T


def min_norm_simplex(gram: np.ndarray, max_iter: int = 250) -> np.ndarray:
    """Weights of the min-norm point of the convex hull of vectors with Gram matrix ``gram``.

    Solves ``min_{a in simplex} a^T K a`` exactly: with ``K = R^T R``, the non-negative
    least-squares problem ``min_{x >= 0} |R x|^2 + (1^T x - 1)^2`` has the solution
    ``x = a / (1 + |R a|^2)`` (for a fixed direction, the best scale is ``1 / (1 +
    |R a|^2)``, and the value left, ``|R a|^2 / (1 + |R a|^2)``, grows with ``|R a|``),
    which the Lawson-Hanson active-set method (``scipy.optimize.nnls``) finds in a
    finite number of steps. The minimiser is invariant to a scale of ``K``, so ``K`` is
    first divided by its trace.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix ``K = G G^T`` of the vectors (rows of ``G``).
    max_iter : int
        Maximum number of active-set iterations (at least ``3 n``).

    Returns
    -------
    ndarray of shape (n,)
        Non-negative weights summing to one.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> min_norm_simplex(G @ G.T)
    array([0.5, 0.5])
    >>> G = np.array([[1.0, 0.0], [0.0, 3.0]])  # the point (0.9, 0.3) of the segment
    >>> np.round(min_norm_simplex(G @ G.T), 6)
    array([0.9, 0.1])
    """
    n = gram.shape[0]
    if n == 1:
        return np.ones(1)
    trace = float(np.trace(gram))
    if not np.isfinite(trace) or trace <= 0.0:  # all vectors zero: any point is the minimum
        return np.full(n, 1.0 / n)
    factor = gram_factor(gram / trace)
    design = np.vstack([factor, np.ones((1, n))])
    target = np.zeros(n + 1)
    target[-1] = 1.0
    x, _ = optimize.nnls(design, target, maxiter=max(int(max_iter), 3 * n))
    total = x.sum()
    if not total > 0:  # pragma: no cover - x = 0 has a larger residual than any a / (1 + q)
        return np.full(n, 1.0 / n)
    return x / total


def minimize_on_simplex_smooth(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    max_iter: int = 500,
) -> np.ndarray:
    """Minimise a smooth convex function over the simplex to convergence (SLSQP).

    Sequential quadratic programming with the exact gradient converges superlinearly on
    these small problems (a few tens of iterations for 5 variables), to a Frank-Wolfe
    gap of about 1e-12 of the objective's scale.

    Parameters
    ----------
    fun : callable
        ``x -> (value, gradient)``.
    x0 : ndarray
        Starting point on the simplex.
    max_iter : int
        Maximum number of iterations.

    Returns
    -------
    ndarray
        The minimiser found, projected on the simplex.
    """
    n = x0.shape[0]
    ones = np.ones(n)
    result = optimize.minimize(
        fun,
        x0,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: ones}],
        options={"ftol": 1e-16, "maxiter": int(max_iter)},
    )
    x = result.x if np.all(np.isfinite(result.x)) else x0
    return project_simplex(x)


def nonneg_qp(gram: np.ndarray, targets: np.ndarray, max_iter: int = 500) -> np.ndarray:
    """Solve ``min_{l >= 0} 1/2 (l + b)^T K (l + b)`` for each column ``b`` of ``targets``.

    That is ``min_{l >= 0} 1/2 l^T K l + l^T K b``: with ``K = R^T R`` it is the
    non-negative least-squares problem ``min_{l >= 0} |R l + R b|^2``, solved exactly
    by the Lawson-Hanson active-set method (``scipy.optimize.nnls``), one per column.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Positive semi-definite matrix ``K``.
    targets : ndarray of shape (n, m)
        One vector ``b`` per problem.
    max_iter : int
        Maximum number of active-set iterations per problem (at least ``3 n``).

    Returns
    -------
    ndarray of shape (n, m)
        The solutions, one per column.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, 0.0], [-1.0, 1.0]])  # project g_0 on {x : G x >= 0}
    >>> np.round(nonneg_qp(G @ G.T, np.array([[1.0], [0.0]])), 6)
    array([[0. ],
           [0.5]])
    """
    n, m = targets.shape
    trace = float(np.trace(gram))
    out = np.zeros((n, m))
    if not np.isfinite(trace) or trace <= 0.0:
        return out
    factor = gram_factor(gram / trace)
    rhs = -factor @ targets
    for j in range(m):
        out[:, j], _ = optimize.nnls(factor, rhs[:, j], maxiter=max(int(max_iter), 3 * n))
    return out
