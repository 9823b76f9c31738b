"""A group of independent expert MLPs that read the same input, computed together."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from ._base import NetworkConfig, activation_class, nonempty_sizes

__all__ = ["ExpertGroup"]


class ExpertGroup(nn.Module):
    """``n_experts`` MLPs with their own weights, all reading the same input.

    Equivalent to ``n_experts`` separate ``make_mlp(n_in, layer_sizes, config)`` stacks,
    computed in one pass: the first layers of all experts form one wide linear layer
    (they share their input), deeper layers are batched matrix products over the
    experts. Weights are initialised as ``torch.nn.Linear`` initialises them
    (uniform in ``±1/sqrt(fan_in)``), batch normalisation and dropout act per unit.

    Parameters
    ----------
    n_in : int
        Width of the input.
    layer_sizes : sequence of int
        Hidden layer widths of each expert (at least one).
    config : NetworkConfig
        Activation, dropout and batch normalisation.
    n_experts : int
        Number of experts.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig
    >>> experts = ExpertGroup(5, (8, 4), NetworkConfig(), n_experts=3)
    >>> tuple(experts(torch.zeros(2, 5)).shape)
    (2, 3, 4)
    """

    def __init__(
        self, n_in: int, layer_sizes: Sequence[int], config: NetworkConfig, n_experts: int
    ):
        super().__init__()
        sizes = nonempty_sizes(layer_sizes, "ExpertGroup", "expert_layer_sizes")
        activation = activation_class(config.activation)
        self.n_experts = n_experts
        self.sizes = sizes
        self.width = sizes[-1]
        self.first = nn.Linear(n_in, n_experts * sizes[0])
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for n_prev, n_next in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(n_prev)
            self.weights.append(
                nn.Parameter(torch.empty(n_experts, n_prev, n_next).uniform_(-bound, bound))
            )
            self.biases.append(nn.Parameter(torch.empty(n_experts, n_next).uniform_(-bound, bound)))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(n_experts * size) if config.batch_norm else nn.Identity()
            for size in sizes
        )
        self.activation = activation()
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()

    def no_weight_decay(self) -> list[nn.Parameter]:
        """The stacked biases ``(n_experts, size)``: biases, although 2-D."""
        return list(self.biases)

    def _finish(self, layer: int, hidden: torch.Tensor) -> torch.Tensor:
        """Normalise, activate and drop out a ``(batch, n_experts, size)`` tensor."""
        batch = hidden.shape[0]
        hidden = self.norms[layer](hidden.reshape(batch, -1))
        return self.dropout(self.activation(hidden)).reshape(batch, self.n_experts, -1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs of shape ``(batch, n_experts, width)``."""
        hidden = self._finish(0, self.first(X).view(X.shape[0], self.n_experts, -1))
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True), 1):
            hidden = self._finish(layer, torch.einsum("beh,eho->beo", hidden, weight) + bias)
        return hidden
