"""Task offsets: one shared network and output layer, a scale and a shift per task."""

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


class TaskOffsetsModule(MultiTaskModule):
    """A shared trunk and output layer (one per output width); each task rescales and
    shifts the shared output: ``out_t = head(trunk(X)) * scale_t + shift_t``."""

    heads_read_input = False

    def __init__(self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig):
        super().__init__()
        tasks = check_task_specs(tasks, "TaskOffsets")
        chained = [task.name for task in tasks if task.inputs_from]
        if chained:
            raise ValueError(
                f"TaskOffsets shares one output layer between the tasks, so it takes no "
                f"task chains; tasks {chained} have inputs_from. Use architecture='hard'."
            )
        self.task_names = [task.name for task in tasks]
        sizes = tuple(config.hidden_layer_sizes)
        self.trunk = make_mlp(n_features, sizes, config)
        width = sizes[-1] if sizes else n_features
        self.widths = [int(task.n_outputs) for task in tasks]
        self.output_layers = nn.ModuleDict(
            {
                str(n_out): make_mlp(width, config.head_layer_sizes, config, n_out=n_out)
                for n_out in sorted(set(self.widths))
            }
        )
        # Flat (1-D) parameters, keyed by position (task names may hold dots).
        self.scales = nn.ParameterList(nn.Parameter(torch.ones(n)) for n in self.widths)
        self.shifts = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in self.widths)

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.trunk(X)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        base = {key: layer(representation) for key, layer in self.output_layers.items()}
        return {
            name: torch.addcmul(shift, base[str(width)], scale)
            for name, width, scale, shift in zip(
                self.task_names, self.widths, self.scales, self.shifts, strict=True
            )
        }

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.trunk.parameters(), *self.output_layers.parameters()]


@register_architecture("task_offsets")
class TaskOffsets(Architecture):
    """One network for all tasks, with a learned scale and shift of its output per task.

    The trunk (``hidden_layer_sizes``) and an output layer (``head_layer_sizes`` hidden
    layers and a linear layer; one per output width) are shared by every task; task
    ``t``'s output is ``shared_output * scale_t + shift_t``, two numbers per output
    (initialised at 1 and 0). This is the multi-task model for tasks on disjoint rows
    (each row labelled for one task, such as one task per school or per shop) where
    each task has few rows: the tasks share their slopes and keep their own level and
    spread, as a pooled linear model with a one-hot task column does, but with a
    non-linear network. Per-task heads (:class:`HardSharing`) over-fit such tasks.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec, TaskOffsets
    >>> module = TaskOffsets().build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 1)}
    """

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> TaskOffsetsModule:
        return TaskOffsetsModule(n_features, tasks, config)
