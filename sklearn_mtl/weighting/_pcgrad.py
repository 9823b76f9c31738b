"""Projecting Conflicting Gradients (Yu et al., NeurIPS 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from .._random import generator_for
from .._registry import register_weighting
from .._validation import StrOptions
from ._base import LossWeighting
from ._gradient import GRADIENT_ON, GradientLevelWeighting, gradient_on_doc

__all__ = ["PCGrad", "pcgrad_coefficients"]


def pcgrad_coefficients(gram: np.ndarray, orders: Sequence[Sequence[int]]) -> np.ndarray:
    """PCGrad's projected gradients as combinations of the original ones.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Gram matrix of the task gradients.
    orders : sequence of n sequences of int
        For each task ``i``, the order in which the other tasks are visited.

    Returns
    -------
    ndarray of shape (n, n)
        Row ``i`` holds the coefficients ``C[i]`` with projected ``g_i = C[i] @ G``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.weighting import pcgrad_coefficients
    >>> G = np.array([[1.0, 0.0], [-1.0, 1.0]])
    >>> pcgrad_coefficients(G @ G.T, [[1], [0]])
    array([[1. , 0.5],
           [1. , 1. ]])
    """
    n = gram.shape[0]
    coef = np.eye(n)
    if n == 0:
        return coef
    diag = np.diag(gram)
    tiny = 1e-20 * max(float(diag.max()), 1e-300)
    # Task i's projections are sequential (each sees the ones before), but the tasks
    # are independent: visit step s of every task's order at once (a task whose order
    # is shorter visits itself, which projects nothing).
    length = max((len(order) for order in orders), default=0)
    table = np.array(
        [[*order, *([i] * (length - len(order)))] for i, order in enumerate(orders)],
        dtype=np.int64,
    ).reshape(n, length)
    tasks = np.arange(n)
    for step in range(length):
        j = table[:, step]
        dots = np.einsum("ik,ki->i", coef, gram[:, j])  # <projected g_i, g_j>
        change = np.flatnonzero((j != tasks) & (diag[j] > tiny) & (dots < 0))
        coef[change, j[change]] -= dots[change] / diag[j[change]]
    return coef


class _PCGradModule(GradientLevelWeighting):
    def solve(self, gram, losses, base_weights):
        n = gram.shape[0]
        generator = generator_for("cpu")  # the fit's own, None outside a fit
        orders = [torch.randperm(n, generator=generator).tolist() for _ in range(n)]
        return base_weights @ pcgrad_coefficients(gram, orders)


@gradient_on_doc("parameters")
@register_weighting("pcgrad")
class PCGrad(LossWeighting):
    r"""Projecting Conflicting Gradients, "gradient surgery" (Yu et al., 2020).

    For each task :math:`i`, in a random order of the other tasks :math:`j`: when the
    (already projected) gradient conflicts with :math:`g_j`,
    :math:`g_i^{PC} \cdot g_j < 0`, its component along :math:`g_j` is removed,

    .. math::

        g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC} \cdot g_j}{\lVert g_j \rVert^2} g_j,

    and the shared update is :math:`\sum_i w_i g_i^{PC}`. Gradients that agree are left
    untouched (the update is then the fixed-weight gradient). Only the Gram matrix of the
    gradients is needed: each projected gradient is tracked as a combination of the
    original ones, whose coefficients (weighted by :math:`w`) are the recorded weights.
    The random orders use the fit's own generator (seeded by ``random_state``).

    The fixed ``task_weights`` :math:`w_i` scale each projected gradient (the same as
    scaling the task gradients first: projections are positively homogeneous). The heads
    receive the gradient of :math:`\sum_t w_t L_t`.

    Parameters
    ----------
    %(gradient_on)s

    References
    ----------
    Yu, T., Kumar, S., Gupta, A., Levine, S., Hausman, K., & Finn, C. (2020). Gradient
    surgery for multi-task learning. *NeurIPS*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import BackwardContext, PCGrad
    >>> theta = torch.nn.Parameter(torch.zeros(2))
    >>> losses = torch.stack([theta @ torch.tensor([1.0, 0.0]),
    ...                       theta @ torch.tensor([-1.0, 1.0])])  # conflicting
    >>> module = PCGrad().build(torch.ones(2))
    >>> _ = module.backward(losses, torch.tensor([True, True]), BackwardContext([theta], theta))
    >>> theta.grad  # projected: (0.5, 0.5) + (0, 1)
    tensor([0.5000, 1.5000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "gradient_on": [StrOptions(set(GRADIENT_ON))],
    }

    def __init__(self, gradient_on: str = "parameters"):
        self.gradient_on = gradient_on

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _PCGradModule:
        self._validate_params()
        return _PCGradModule(base_weights, self.gradient_on)
