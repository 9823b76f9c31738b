"""Multi-gate mixture-of-experts (Ma et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from .._registry import register_architecture
from .._validation import LAYER_SIZES, check_layer_sizes, positive_int
from ._base import (
    Architecture,
    MultiTaskModule,
    NetworkConfig,
    TaskHeadSpec,
    check_task_specs,
    nonempty_sizes,
)
from ._experts import ExpertGroup
from ._heads import TaskHeads


class SoftmaxGate(nn.Module):
    """A linear map of the input followed by a softmax over ``n_choices`` experts.

    Parameters
    ----------
    n_in : int
        Width of the gate's input.
    n_choices : int
        Number of experts it weighs.
    """

    def __init__(self, n_in: int, n_choices: int):
        super().__init__()
        self.linear = nn.Linear(n_in, n_choices)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(X), dim=1)


def mix(weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Weighted sum of experts: ``(batch, n) x (batch, n, width) -> (batch, width)``."""
    return torch.bmm(weights.unsqueeze(1), experts).squeeze(1)


class MMoEModule(MultiTaskModule):
    """Shared experts, one softmax gate and one tower per task.

    The representation is the flattened expert outputs ``(batch, n_experts * width)``;
    each task's gate (a function of X) and tower are task-specific.
    """

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        n_experts: int,
        expert_layer_sizes: Sequence[int],
        tower_layer_sizes: Sequence[int],
    ):
        super().__init__()
        sizes = nonempty_sizes(expert_layer_sizes, "MMoE", "expert_layer_sizes")
        tasks = check_task_specs(tasks, "MMoE")
        self.task_names = [task.name for task in tasks]
        self.n_experts = n_experts
        self.width = sizes[-1]
        self.experts = ExpertGroup(n_features, sizes, config, n_experts)
        self.gates = nn.ModuleList(SoftmaxGate(n_features, n_experts) for _ in tasks)
        self.task_heads = TaskHeads([self.width] * len(tasks), tasks, config, tower_layer_sizes)

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.experts(X).flatten(1)

    def gate_weights(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each task's weights over the experts, ``(batch, n_experts)``, rows summing to 1."""
        return {name: gate(X) for name, gate in zip(self.task_names, self.gates, strict=True)}

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        experts = representation.view(-1, self.n_experts, self.width)
        return self.task_heads([mix(gate(X), experts) for gate in self.gates])

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.experts.parameters())


@register_architecture("mmoe")
class MMoE(Architecture):
    """Multi-gate mixture-of-experts: shared experts, one softmax gate per task.

    ``n_experts`` expert MLPs (``expert_layer_sizes``) all read X. Each task ``k`` has
    a gate ``g_k(x) = softmax(W_k x + b_k)`` that weighs the experts, and its tower
    (``tower_layer_sizes`` hidden layers and an output layer) reads
    ``sum_i g_k(x)_i * expert_i(x)``. Tasks that conflict can use different experts;
    tasks that agree can share them.

    Parameters
    ----------
    n_experts : int, default=4
        Number of shared experts.
    expert_layer_sizes : tuple of int or None, default=None
        Hidden layer widths of each expert; None uses the estimator's
        ``hidden_layer_sizes``.
    tower_layer_sizes : tuple of int or None, default=None
        Hidden layer widths of each task tower; None uses the estimator's
        ``head_layer_sizes``.

    References
    ----------
    Ma, J., Zhao, Z., Yi, X., Chen, J., Hong, L. and Chi, E. H. (2018). Modeling task
    relationships in multi-task learning with multi-gate mixture-of-experts.
    *KDD 2018*, 1930-1939.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import MMoE, NetworkConfig, TaskHeadSpec
    >>> module = MMoE(n_experts=3, expert_layer_sizes=(8,)).build(
    ...     5, [TaskHeadSpec("income", 1), TaskHeadSpec("marital", 1)], NetworkConfig())
    >>> X = torch.randn(4, 5)
    >>> {name: tuple(out.shape) for name, out in module(X).items()}
    {'income': (4, 1), 'marital': (4, 1)}
    >>> weights = module.gate_weights(X)["income"]
    >>> tuple(weights.shape), torch.allclose(weights.sum(dim=1), torch.ones(4))
    ((4, 3), True)
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_experts": [positive_int],
        "expert_layer_sizes": [None, *LAYER_SIZES],
        "tower_layer_sizes": [None, *LAYER_SIZES],
    }

    def __init__(
        self,
        n_experts: int = 4,
        expert_layer_sizes: tuple[int, ...] | None = None,
        tower_layer_sizes: tuple[int, ...] | None = None,
    ):
        self.n_experts = n_experts
        self.expert_layer_sizes = expert_layer_sizes
        self.tower_layer_sizes = tower_layer_sizes

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> MMoEModule:
        self._validate_params()
        return MMoEModule(
            n_features,
            tasks,
            config,
            int(self.n_experts),
            config.hidden_layer_sizes
            if self.expert_layer_sizes is None
            else check_layer_sizes(self.expert_layer_sizes, "expert_layer_sizes", "MMoE"),
            config.head_layer_sizes
            if self.tower_layer_sizes is None
            else check_layer_sizes(self.tower_layer_sizes, "tower_layer_sizes", "MMoE"),
        )
