"""Soft parameter sharing: one tower per task, corresponding layers pulled together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from .._registry import register_architecture
from .._validation import finite
from ._base import (
    Architecture,
    MultiTaskModule,
    NetworkConfig,
    TaskHeadSpec,
    check_task_specs,
    make_mlp,
    nonempty_sizes,
)
from ._heads import TaskHeads


class SoftSharingModule(MultiTaskModule):
    """Independent per-task MLP towers and an L2 penalty between their parameters.

    No parameter is used by every task, so :meth:`shared_parameters` is empty. The
    representation returned by :meth:`shared` is the concatenation of the towers'
    outputs (task ``k``'s head reads block ``k``), so that gradient-level weighting
    methods working on the representation see one block of coordinates per task.
    """

    heads_read_input = False

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        strength: float,
    ):
        super().__init__()
        sizes = nonempty_sizes(config.hidden_layer_sizes, "SoftSharing")
        tasks = check_task_specs(tasks, "SoftSharing")
        self.task_names = [task.name for task in tasks]
        self.strength = float(strength)
        self.towers = nn.ModuleList(make_mlp(n_features, sizes, config) for _ in tasks)
        self.width = sizes[-1]
        self.task_heads = TaskHeads(
            [self.width] * len(tasks), tasks, config, config.head_layer_sizes
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return torch.cat([tower(X) for tower in self.towers], dim=1)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.task_heads(representation.split(self.width, dim=1))

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def tower_distance(self) -> torch.Tensor:
        """Mean over task pairs of the squared L2 distance between their towers.

        ``sum_{i<j} ||theta_i - theta_j||^2 / n_pairs`` over every parameter of the
        towers, computed through the mean tower in O(n_tasks).
        """
        n_tasks = len(self.towers)
        total = None
        for tensors in zip(*(tower.parameters() for tower in self.towers), strict=True):
            stacked = torch.stack(tensors)
            spread = (stacked - stacked.mean(dim=0)).pow(2).sum()
            total = spread if total is None else total + spread
        assert total is not None
        return total * (2.0 / (n_tasks - 1))

    def penalty(self) -> torch.Tensor | None:
        if len(self.towers) < 2 or self.strength == 0:
            return None
        return self.strength * self.tower_distance()


@register_architecture("soft")
class SoftSharing(Architecture):
    """Soft parameter sharing: one tower per task, with an L2 penalty between towers.

    Every task gets its own ``hidden_layer_sizes`` MLP tower and head; nothing is
    shared in the forward pass. Instead, the training loss gets the penalty
    ``strength * mean_{i<j} ||theta_i - theta_j||^2`` over the corresponding
    parameters of each pair of towers (weights, biases and batch-norm parameters),
    which pulls the towers towards each other (Duong et al. 2015 used it between two
    parsers). ``strength=0`` gives independent single-task networks; a large
    strength approaches hard sharing.

    Parameters
    ----------
    strength : float, default=0.01
        Weight of the L2 distance between towers in the training loss.

    Notes
    -----
    ``SoftSharingModule.shared_parameters`` is empty: gradient-level loss
    weighting methods have no shared parameter to act on (they may still act on the
    per-task blocks of the representation).

    References
    ----------
    Duong, L., Cohn, T., Bird, S. and Cook, P. (2015). Low resource dependency parsing:
    cross-lingual parameter sharing in a neural network parser. *ACL 2015*, 845-850.

    Ruder, S. (2017). An overview of multi-task learning in deep neural networks.
    arXiv:1706.05098.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, SoftSharing, TaskHeadSpec
    >>> module = SoftSharing(strength=0.1).build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 4)}
    >>> module.penalty().item() > 0
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "strength": [finite(0)],
    }

    def __init__(self, strength: float = 0.01):
        self.strength = strength

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> SoftSharingModule:
        self._validate_params()
        return SoftSharingModule(n_features, tasks, config, self.strength)
