"""Multiple-Gradient Descent Algorithm, MGDA-UB (Sener & Koltun, NeurIPS 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._registry import register_weighting
from .._validation import StrOptions, positive_int
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc
from ._solvers import min_norm_simplex

__all__ = ["MGDA"]

_NORMALIZATIONS = ("none", "l2", "loss", "loss+")


class _MGDAModule(GradientLevelWeighting):
    def __init__(self, base_weights, gradient_on, normalization, max_iter):
        super().__init__(base_weights, gradient_on)
        self.normalization = normalization
        self.max_iter = int(max_iter)

    def solve(self, gram, losses, base_weights):
        norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        scale = np.ones_like(norms)
        if self.normalization in ("l2", "loss+"):
            scale = scale / np.maximum(norms, 1e-12)
        if self.normalization in ("loss", "loss+"):
            scale = scale / np.maximum(losses, 1e-12)
        scale = scale * base_weights
        scaled = gram * np.outer(scale, scale)
        return scale * min_norm_simplex(scaled, max_iter=self.max_iter)


@gradient_on_doc("representation")
@register_weighting("mgda")
class MGDA(LossWeighting):
    r"""Multiple-gradient descent, MGDA-UB (Sener & Koltun, 2018).

    The shared update is the minimum-norm point of the convex hull of the (scaled) task
    gradients,

    .. math::

        d = \sum_t \alpha_t \tilde g_t, \qquad
        \alpha = \arg\min_{\alpha \in \Delta} \Big\lVert \sum_t \alpha_t \tilde g_t
        \Big\rVert^2, \qquad \tilde g_t = w_t\, s_t\, g_t,

    a direction that decreases every task's loss at once (or 0 at a Pareto-stationary
    point). :math:`\alpha` is the exact solution of this small quadratic programme on the
    Gram matrix (an active-set method, see ``min_norm_simplex``), not the authors'
    Frank-Wolfe iterations, which stop short of it. By default the gradients
    are taken at the shared representation, the paper's cheap upper bound (MGDA-UB);
    ``gradient_on="parameters"`` gives the exact MGDA.

    The fixed ``task_weights`` :math:`w_t` scale the task gradients before the min-norm
    problem (like ``normalization``'s :math:`s_t`), so a task with a higher weight counts
    more in the hull. The recorded weights are :math:`w_t s_t \alpha_t`. The heads
    receive the gradient of :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    normalization : {"none", "l2", "loss", "loss+"}, default="none"
        Scale :math:`s_t` of each gradient first, as in the authors' code: 1,
        :math:`1/\lVert g_t \rVert`, :math:`1/L_t`, or :math:`1/(L_t\lVert g_t \rVert)`.
    %(gradient_on)s
    max_iter : int, default=250
        Maximum number of iterations of the active-set solver (at least three per
        task; it ends at the exact solution, usually in fewer than ``n_tasks``).

    References
    ----------
    Sener, O., & Koltun, V. (2018). Multi-task learning as multi-objective optimization.
    *NeurIPS*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, MGDA
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([0.0, 3.0])])
    >>> module = MGDA(gradient_on="parameters").build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # min-norm point of the segment [(1, 0), (0, 3)]
    tensor([0.9000, 0.3000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "normalization": [StrOptions(set(_NORMALIZATIONS))],
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
        "max_iter": [positive_int],
    }

    def __init__(
        self,
        normalization: str = "none",
        gradient_on: str = "representation",
        max_iter: int = 250,
    ):
        self.normalization = normalization
        self.gradient_on = gradient_on
        self.max_iter = max_iter

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _MGDAModule:
        self._validate_params()
        return _MGDAModule(base_weights, self.gradient_on, self.normalization, self.max_iter)
