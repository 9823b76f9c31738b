"""Task offsets: one shared network and output layer, a scale, a shift and slopes per task."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import ClassVar

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
    zero_linear,
)


class TaskOffsetsModule(MultiTaskModule):
    """A shared trunk and output layer (one per output width); each task rescales and
    shifts the shared output and, with ``task_slopes``, adds a linear map of the input
    of its own: ``out_t = head(trunk(X)) * scale_t + shift_t (+ X @ W_t + b_t)``."""

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        task_slopes: bool = False,
    ):
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
        # Every task's slopes in one zero-initialised layer (one matrix product for all
        # tasks); task t reads its own columns.
        self.slopes = zero_linear(n_features, sum(self.widths)) if task_slopes else None
        ends = list(accumulate(self.widths))
        self.columns = [(end - n, end) for n, end in zip(self.widths, ends, strict=True)]

    @property
    def heads_read_input(self) -> bool:  # type: ignore[override]
        return self.slopes is not None

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.trunk(X)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        base = {key: layer(representation) for key, layer in self.output_layers.items()}
        out = {
            name: torch.addcmul(shift, base[str(width)], scale)
            for name, width, scale, shift in zip(
                self.task_names, self.widths, self.scales, self.shifts, strict=True
            )
        }
        if self.slopes is None:
            return out
        linear = self.slopes(X)
        return {
            name: out[name] + linear[:, start:end]
            for name, (start, end) in zip(self.task_names, self.columns, strict=True)
        }

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.trunk.parameters(), *self.output_layers.parameters()]


@register_architecture("task_offsets")
class TaskOffsets(Architecture):
    """One network for all tasks, with a learned scale, shift and slopes per task.

    The trunk (``hidden_layer_sizes``) and an output layer (``head_layer_sizes`` hidden
    layers and a linear layer; one per output width) are shared by every task; task
    ``t``'s output is ``shared_output * scale_t + shift_t``, two numbers per output
    (initialised at 1 and 0), plus, with ``task_slopes``, a linear map of the input of
    its own. This is the multi-task model for tasks on disjoint rows
    (each row labelled for one task, such as one task per school or per shop) where
    each task has few rows: the tasks share their slopes and keep their own level and
    spread, as a pooled linear model with a one-hot task column does, but with a
    non-linear network. Per-task heads (:class:`HardSharing`) over-fit such tasks.

    Parameters
    ----------
    task_slopes : bool, default=False
        Give each task a linear map of the input (the network's input, after the
        numeric embedding) added to its output: its own slopes, on top of the shared
        network's. They start at zero, so every task starts from the shared model and
        moves away from it only as far as its own rows pull it before early stopping
        ends the training (and weight decay, ``alpha``, holds it back): in effect a
        shrunken random slope per task, as the task's scale and shift are a shrunken
        random spread and intercept. Off here; the estimator's ``architecture="auto"``
        turns it on for regression tasks on disjoint rows (and ``lr="auto"`` trains
        them at 3e-4): on the school benchmark (``docs/user_guide/school.rst``) that
        raised the explained variance from 37.46 to 38.11 % over 10 splits, and on the
        regression tables of ``benchmarks/disjoint_rows.py`` it gained or held; on its
        classification tables (7 five-class tasks) the slopes lost up to 1.9 points of
        accuracy, so classification tasks keep the plain offsets.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec, TaskOffsets
    >>> module = TaskOffsets().build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 1)}
    >>> TaskOffsets(task_slopes=True).build(
    ...     3, [TaskHeadSpec("a", 1)], NetworkConfig(hidden_layer_sizes=(8,))).slopes
    Linear(in_features=3, out_features=1, bias=True)
    """

    _parameter_constraints: ClassVar[dict] = {"task_slopes": ["boolean"]}

    def __init__(self, task_slopes: bool = False):
        self.task_slopes = task_slopes

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> TaskOffsetsModule:
        self._validate_params()
        return TaskOffsetsModule(n_features, tasks, config, task_slopes=self.task_slopes)
