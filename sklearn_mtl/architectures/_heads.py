"""Task heads shared by every architecture, with task chains (``inputs_from``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._base import NetworkConfig, TaskHeadSpec, make_mlp

__all__ = ["TaskHeads"]


class TaskHeads(nn.ModuleList):
    """One small network per task, evaluated in task order.

    Head ``k`` maps its task's features, concatenated with the raw outputs of the
    tasks listed in ``inputs_from`` (task chains, as in ESMM and scikit-learn's
    ``ClassifierChain``), through ``layer_sizes`` hidden layers to ``n_outputs``.
    Gradients flow through the chain: a downstream task's loss also trains the heads
    it reads from (end-to-end, as in ESMM).

    Parameters
    ----------
    in_widths : sequence of int
        Width of each task's features, in task order.
    tasks : sequence of TaskHeadSpec
        The (validated) tasks.
    config : NetworkConfig
        Activation, dropout and batch normalisation of the hidden layers.
    layer_sizes : sequence of int
        Hidden layer widths of each head.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec
    >>> from sklearn_mtl.architectures._heads import TaskHeads
    >>> tasks = [TaskHeadSpec("click", 1), TaskHeadSpec("buy", 1, inputs_from=("click",))]
    >>> heads = TaskHeads([4, 4], tasks, NetworkConfig(), ())
    >>> heads[1]
    Sequential(
      (0): Linear(in_features=5, out_features=1, bias=True)
    )
    >>> out = heads([torch.zeros(2, 4), torch.zeros(2, 4)])
    >>> {name: tuple(value.shape) for name, value in out.items()}
    {'click': (2, 1), 'buy': (2, 1)}
    """

    def __init__(
        self,
        in_widths: Sequence[int],
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        layer_sizes: Sequence[int],
    ):
        n_outputs = {task.name: task.n_outputs for task in tasks}
        super().__init__(
            make_mlp(
                width + sum(n_outputs[source] for source in task.inputs_from),
                layer_sizes,
                config,
                n_out=task.n_outputs,
            )
            for width, task in zip(in_widths, tasks, strict=True)
        )
        self.task_names = [task.name for task in tasks]
        self.inputs_from = [tuple(task.inputs_from) for task in tasks]

    def forward(self, features: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        outputs: dict[str, torch.Tensor] = {}
        for name, sources, head, feature in zip(
            self.task_names, self.inputs_from, self, features, strict=True
        ):
            if sources:
                feature = torch.cat([feature, *(outputs[source] for source in sources)], dim=1)
            outputs[name] = head(feature)
        return outputs

    def upstream(self, name: str) -> list[str]:
        """All tasks whose heads feed task ``name``, directly or through a chain."""
        index = self.task_names.index(name)
        found: list[str] = []
        for source in self.inputs_from[index]:
            for upstream in [*self.upstream(source), source]:
                if upstream not in found:
                    found.append(upstream)
        return found

    def head_parameters(self, name: str) -> list[nn.Parameter]:
        """Parameters of task ``name``'s head and of the heads it reads from."""
        params: list[nn.Parameter] = []
        for task in [*self.upstream(name), name]:
            params.extend(self[self.task_names.index(task)].parameters())
        return params
