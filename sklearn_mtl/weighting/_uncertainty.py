"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .._kinds import KIND_CLASSES
from .._registry import register_weighting
from .._validation import Interval, Real
from ._base import LossLevelWeighting, LossWeighting
from ._utils import as_mask

__all__ = ["UncertaintyWeighting"]


class _UncertaintyModule(LossLevelWeighting):
    factors: torch.Tensor

    def __init__(self, base_weights: torch.Tensor, factors: torch.Tensor, init: float):
        super().__init__(base_weights)
        self.register_buffer("factors", factors.float())
        self.log_vars = nn.Parameter(torch.full_like(self.base_weights, float(init)))

    def weigh(
        self, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = as_mask(present, losses)
        precision = torch.exp(-self.log_vars)
        weights = self.base_weights * self.factors * precision
        # absent tasks contribute nothing, not even the regulariser (it would drift)
        terms = weights * losses + 0.5 * self.base_weights * self.log_vars
        return (terms * mask).sum(), weights.detach()


@register_weighting("uncertainty")
class UncertaintyWeighting(LossWeighting):
    r"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, 2018).

    Each task ``t`` gets a learned log-variance :math:`s_t = \log \sigma_t^2`, trained
    with the network by the net's optimizer, and the loss is

    .. math::

        \sum_t w_t \left( c_t\, e^{-s_t} L_t + \tfrac{1}{2} s_t \right)

    with :math:`c_t = 1/2` for regression (Gaussian likelihood, the paper's eq. 5:
    :math:`L/(2\sigma^2) + \log\sigma`) and :math:`c_t = 1` for classification (the
    paper's Boltzmann likelihood with temperature :math:`\sigma^2`, eq. 10:
    :math:`L/\sigma^2 + \log\sigma`). At the optimum in :math:`s_t` the effective weight
    :math:`c_t e^{-s_t}` is :math:`1/(2 L_t)` for both: noisier (higher-loss) tasks
    weigh less.

    The fixed ``task_weights`` :math:`w_t` multiply each task's whole term (they do not
    move the optimum of :math:`s_t`, so the learned balance is scaled by them). The
    recorded weights are :math:`w_t c_t e^{-s_t}`. A task absent from a batch adds
    nothing, not even its regulariser.

    Parameters
    ----------
    init_log_var : float, default=0.0
        Initial value of every :math:`s_t`.

    Attributes
    ----------
    The built module has ``log_vars`` (a ``torch.nn.Parameter`` of shape (n_tasks,)).

    References
    ----------
    Kendall, A., Gal, Y., & Cipolla, R. (2018). Multi-task learning using uncertainty to
    weigh losses for scene geometry and semantics. *CVPR*, 7482-7491.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import UncertaintyWeighting
    >>> module = UncertaintyWeighting().build(
    ...     torch.ones(2), task_kinds=["regression", "binary"])
    >>> module.combine(torch.tensor([2.0, 1.0]), torch.tensor([True, True]))
    tensor(2., grad_fn=<SumBackward0>)
    >>> module.pop_epoch_weights()
    tensor([0.5000, 1.0000])
    """

    _parameter_constraints: ClassVar[dict] = {
        "init_log_var": [Interval(Real, -np.inf, np.inf, closed="neither")],
    }

    def __init__(self, init_log_var: float = 0.0):
        self.init_log_var = init_log_var

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _UncertaintyModule:
        self._validate_params()
        n_tasks = int(base_weights.shape[0])
        kinds = list(task_kinds) if task_kinds is not None else ["regression"] * n_tasks
        if len(kinds) != n_tasks:
            raise ValueError(f"task_kinds has {len(kinds)} entries for {n_tasks} tasks.")
        factors = torch.tensor(
            [1.0 if KIND_CLASSES[kind].is_classification else 0.5 for kind in kinds]
        )
        return _UncertaintyModule(base_weights, factors, self.init_log_var)
