"""Hard parameter sharing: one shared trunk, one head per task (Caruana 1997)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import Architecture, MultiTaskModule, NetworkConfig, TaskHeadSpec, make_mlp


class HardSharingModule(MultiTaskModule):
    """A shared MLP trunk followed by one small network per task."""

    def __init__(self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig):
        super().__init__()
        self.task_names = [task.name for task in tasks]
        self.trunk = make_mlp(n_features, config.hidden_layer_sizes, config)
        width = config.hidden_layer_sizes[-1] if config.hidden_layer_sizes else n_features
        self.task_heads = nn.ModuleList(
            make_mlp(width, config.head_layer_sizes, config, n_out=task.n_outputs)
            for task in tasks
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.trunk(X)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            name: head(representation)
            for name, head in zip(self.task_names, self.task_heads, strict=True)
        }

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())


class HardSharing(Architecture):
    """Hard parameter sharing: a shared trunk and one head per task.

    The trunk is the estimator's ``hidden_layer_sizes`` MLP; each head is
    ``head_layer_sizes`` hidden layers and a linear output layer.

    References
    ----------
    Caruana, R. (1997). Multitask learning. *Machine Learning*, 28(1), 41-75.

    Examples
    --------
    >>> from sklearn_mtl.architectures import HardSharing, NetworkConfig, TaskHeadSpec
    >>> module = HardSharing().build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> import torch
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 4)}
    """

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> HardSharingModule:
        return HardSharingModule(n_features, tasks, config)
