"""Hard parameter sharing: one shared trunk, one head per task (Caruana 1997)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._registry import register_architecture
from ._base import (
    Architecture,
    MultiTaskModule,
    NetworkConfig,
    TaskHeadSpec,
    check_task_specs,
    make_mlp,
)
from ._heads import TaskHeads


class HardSharingModule(MultiTaskModule):
    """A shared MLP trunk followed by one small network per task.

    The trunk is a sequence of blocks, one per hidden layer. A task with ``depth=d``
    reads the output of block ``d`` (hierarchical supervision); the others read the
    top. :meth:`shared` runs the blocks every task uses (up to the lowest depth);
    :meth:`heads` runs the blocks above it, which only the deeper tasks use.
    """

    heads_read_input = False

    def __init__(self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig):
        super().__init__()
        sizes = tuple(config.hidden_layer_sizes)
        tasks = check_task_specs(tasks, "HardSharing", n_layers=len(sizes))
        self.task_names = [task.name for task in tasks]
        widths = (n_features, *sizes)
        self.trunk = nn.Sequential(
            *(make_mlp(widths[i], [sizes[i]], config) for i in range(len(sizes)))
        )
        self.depths = [len(sizes) if task.depth is None else task.depth for task in tasks]
        self.shared_depth = min(self.depths)
        self.task_heads = TaskHeads(
            [widths[d] for d in self.depths],
            tasks,
            config,
            config.head_layer_sizes,
            feature_slots=self.depths,
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        hidden = X
        for depth in range(self.shared_depth):  # not trunk[:depth]: a new module per call
            hidden = self.trunk[depth](hidden)
        return hidden

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        by_depth = {self.shared_depth: representation}
        hidden = representation
        for depth in range(self.shared_depth, max(self.depths)):
            hidden = self.trunk[depth](hidden)
            by_depth[depth + 1] = hidden
        return self.task_heads([by_depth[depth] for depth in self.depths])

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk[: self.shared_depth].parameters())


@register_architecture("hard")
class HardSharing(Architecture):
    """Hard parameter sharing: a shared trunk and one head per task.

    The trunk is the estimator's ``hidden_layer_sizes`` MLP; each head is
    ``head_layer_sizes`` hidden layers and a linear output layer.

    Two per-task options (fields of ``Task``, passed as ``TaskHeadSpec``) shape
    the heads:

    - ``depth=d`` attaches the task's head to the output of trunk layer ``d``
      (1-based) instead of the top: low-level tasks supervise lower layers
      (hierarchical supervision, Søgaard and Goldberg 2016). The shared
      representation is then the output of the lowest such layer, and the layers
      above it belong to the deeper tasks only.
    - ``inputs_from=[...]`` feeds the raw outputs (logits or values) of earlier tasks
      to the task's head, concatenated with its features (task chains, as in ESMM).
      Gradients flow through the chain.

    References
    ----------
    Caruana, R. (1997). Multitask learning. *Machine Learning*, 28(1), 41-75.

    Søgaard, A. and Goldberg, Y. (2016). Deep multi-task learning with low level tasks
    supervised at lower layers. *ACL 2016*, 231-235.

    Ma, X. et al. (2018). Entire space multi-task model: an effective approach for
    estimating post-click conversion rate. *SIGIR 2018*.

    Examples
    --------
    >>> from sklearn_mtl.architectures import HardSharing, NetworkConfig, TaskHeadSpec
    >>> module = HardSharing().build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> import torch
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 4)}

    A part-of-speech task supervising the first layer, and a task chain:

    >>> tasks = [TaskHeadSpec("pos", 5, depth=1), TaskHeadSpec("chunk", 3, inputs_from=("pos",))]
    >>> module = HardSharing().build(3, tasks, NetworkConfig(hidden_layer_sizes=(8, 6)))
    >>> module.task_heads[1]
    Sequential(
      (0): Linear(in_features=11, out_features=3, bias=True)
    )
    """

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> HardSharingModule:
        return HardSharingModule(n_features, tasks, config)
