"""Random Loss Weighting (Lin et al., TMLR 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from .._random import generator_for
from .._registry import register_weighting
from .._validation import StrOptions
from ._base import LossLevelWeighting, LossWeighting
from ._utils import masked_softmax

__all__ = ["RandomLossWeighting"]

_DISTRIBUTIONS = ("normal", "uniform", "dirichlet")


class _RLWModule(LossLevelWeighting):
    def __init__(self, base_weights: torch.Tensor, distribution: str):
        super().__init__(base_weights)
        self.distribution = distribution

    def task_weights(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        n, device = self.n_tasks, losses.device
        generator = generator_for(device)  # the fit's own, None outside a fit
        if self.distribution == "normal":
            draws = torch.randn(n, device=device, generator=generator)
        elif self.distribution == "uniform":
            draws = torch.rand(n, device=device, generator=generator)
        else:  # Dirichlet(1, ..., 1) = normalised Exp(1) draws
            draws = torch.empty(n, device=device).exponential_(generator=generator)
            draws = draws / draws.sum()
        # the paper (and its authors' code) normalises every draw with a softmax
        return masked_softmax(draws, present)


@register_weighting("rlw")
class RandomLossWeighting(LossWeighting):
    r"""Random Loss Weighting (Lin, Ye, Zhang & Tsang, 2022).

    At every step a vector :math:`\tilde\lambda` is drawn at random and the task
    weights are its softmax over the tasks present in the batch,
    :math:`\lambda = \mathrm{softmax}(\tilde\lambda)`, as in the paper and its authors'
    code, for every distribution of :math:`\tilde\lambda`:

    - ``"normal"``: :math:`\tilde\lambda \sim \mathcal{N}(0, I)` (the paper's default
      and LibMTL's only choice);
    - ``"uniform"``: :math:`\tilde\lambda \sim \mathcal{U}(0, 1)^T`;
    - ``"dirichlet"``: :math:`\tilde\lambda \sim \mathrm{Dirichlet}(1, \dots, 1)`.

    By symmetry every task weighs :math:`1/T` in expectation; the randomness helps
    escape the local minima a fixed weighting settles in. Draws use the fit's own
    generator, seeded by the estimator's ``random_state``. The fixed ``task_weights``
    multiply the losses: the loss is :math:`\sum_t w_t \lambda_t L_t`.

    Parameters
    ----------
    distribution : {"normal", "uniform", "dirichlet"}, default="normal"
        Distribution of :math:`\tilde\lambda`.

    References
    ----------
    Lin, B., Ye, F., Zhang, Y., & Tsang, I. W. (2022). Reasonable effectiveness of
    random weighting: a litmus test for multi-task learning. *Transactions on Machine
    Learning Research*.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.weighting import RandomLossWeighting
    >>> _ = torch.manual_seed(0)
    >>> module = RandomLossWeighting().build(torch.ones(3))
    >>> weights = module.task_weights(torch.ones(3), torch.tensor([True, True, False]))
    >>> float(weights.sum()), float(weights[2])
    (1.0, 0.0)
    """

    _parameter_constraints: ClassVar[dict] = {
        "distribution": [StrOptions(set(_DISTRIBUTIONS))],
    }

    def __init__(self, distribution: str = "normal"):
        self.distribution = distribution

    def build(
        self, base_weights: torch.Tensor, task_kinds: Sequence[str] | None = None
    ) -> _RLWModule:
        self._validate_params()
        return _RLWModule(base_weights, self.distribution)
