"""Progressive layered extraction: stacked CGC levels (Tang et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, cast

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
from ._mmoe import SoftmaxGate, mix


class CGCLevel(nn.Module):
    """One customized gate control level: shared and task-specific experts and gates.

    Task ``k``'s gate weighs only task ``k``'s experts and the shared experts; the
    shared gate (absent in the last level) weighs all experts and feeds the next
    level's shared experts.

    Parameters
    ----------
    n_in : int
        Width of the level's inputs.
    n_tasks : int
        Number of tasks.
    n_shared_experts, n_task_experts : int
        Number of shared experts, and of experts per task.
    layer_sizes : sequence of int
        Hidden layer widths of each expert.
    config : NetworkConfig
        Activation, dropout and batch normalisation of the experts.
    last : bool
        Whether this is the last level (no shared gate).
    """

    def __init__(
        self,
        n_in: int,
        n_tasks: int,
        n_shared_experts: int,
        n_task_experts: int,
        layer_sizes: Sequence[int],
        config: NetworkConfig,
        last: bool,
    ):
        super().__init__()
        self.shared_experts = ExpertGroup(n_in, layer_sizes, config, n_shared_experts)
        self.task_experts = nn.ModuleList(
            ExpertGroup(n_in, layer_sizes, config, n_task_experts) for _ in range(n_tasks)
        )
        self.task_gates = nn.ModuleList(
            SoftmaxGate(n_in, n_task_experts + n_shared_experts) for _ in range(n_tasks)
        )
        self.shared_gate = (
            None if last else SoftmaxGate(n_in, n_tasks * n_task_experts + n_shared_experts)
        )

    def task_output(
        self, k: int, task_input: torch.Tensor, task_experts: torch.Tensor, shared: torch.Tensor
    ) -> torch.Tensor:
        """Task ``k``'s gated mix of its own experts and the shared experts."""
        weights = self.task_gates[k](task_input)
        return mix(weights, torch.cat([task_experts, shared], dim=1))

    def shared_output(
        self, shared_input: torch.Tensor, task_experts: Sequence[torch.Tensor], shared: torch.Tensor
    ) -> torch.Tensor:
        """The shared gate's mix of every expert of the level."""
        assert self.shared_gate is not None
        weights = self.shared_gate(shared_input)
        return mix(weights, torch.cat([*task_experts, shared], dim=1))


class PLEModule(MultiTaskModule):
    """Stacked CGC levels followed by one tower per task.

    The split between :meth:`shared` and :meth:`heads` follows what every task depends
    on. With one level, the shared representation is the shared experts' outputs and
    the heads run the task experts and gates. With ``L >= 2`` levels, everything below
    level ``L - 1`` feeds every task (through the shared gates); the representation
    holds the last level's shared experts, level ``L - 1``'s experts and (for
    ``L >= 3``) each task's input to level ``L - 1``; the heads run level ``L - 1``'s
    task gates and level ``L``'s task experts and gates.
    """

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        n_levels: int,
        n_shared_experts: int,
        n_task_experts: int,
        expert_layer_sizes: Sequence[int],
        tower_layer_sizes: Sequence[int],
    ):
        super().__init__()
        sizes = nonempty_sizes(expert_layer_sizes, "PLE", "expert_layer_sizes")
        tasks = check_task_specs(tasks, "PLE")
        self.task_names = [task.name for task in tasks]
        n_tasks = len(tasks)
        self.n_levels = n_levels
        self.n_shared_experts = n_shared_experts
        self.n_task_experts = n_task_experts
        self.width = sizes[-1]
        self.levels = nn.ModuleList(
            CGCLevel(
                n_features if level == 0 else self.width,
                n_tasks,
                n_shared_experts,
                n_task_experts,
                sizes,
                config,
                last=level == n_levels - 1,
            )
            for level in range(n_levels)
        )
        self.task_heads = TaskHeads([self.width] * n_tasks, tasks, config, tower_layer_sizes)
        width = self.width
        if n_levels == 1:
            self._splits = [n_shared_experts * width]
        else:
            self._splits = [
                n_shared_experts * width,
                n_shared_experts * width,
                *([n_task_experts * width] * n_tasks),
                *([width] * n_tasks if n_levels >= 3 else []),
            ]

    def level(self, index: int) -> CGCLevel:
        """The CGC level at ``index`` (negative indices count from the last)."""
        return cast(CGCLevel, self.levels[index])

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        n_levels = self.n_levels
        if n_levels == 1:
            return self.level(0).shared_experts(X).flatten(1)
        shared_in = X
        task_in = [X] * len(self.task_names)
        for level in map(self.level, range(n_levels - 2)):
            shared = level.shared_experts(shared_in)
            experts = [group(h) for group, h in zip(level.task_experts, task_in, strict=True)]
            task_in = [level.task_output(k, h, experts[k], shared) for k, h in enumerate(task_in)]
            shared_in = level.shared_output(shared_in, experts, shared)
        penultimate, last = self.level(-2), self.level(-1)
        shared = penultimate.shared_experts(shared_in)
        experts = [group(h) for group, h in zip(penultimate.task_experts, task_in, strict=True)]
        last_shared = last.shared_experts(penultimate.shared_output(shared_in, experts, shared))
        parts = [last_shared.flatten(1), shared.flatten(1), *(e.flatten(1) for e in experts)]
        if n_levels >= 3:
            parts.extend(task_in)
        return torch.cat(parts, dim=1)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        n_tasks, width = len(self.task_names), self.width
        parts = representation.split(self._splits, dim=1)
        last = self.level(-1)
        last_shared = parts[0].view(-1, self.n_shared_experts, width)
        if self.n_levels == 1:
            task_in = [X] * n_tasks
        else:
            penultimate = self.level(-2)
            shared = parts[1].view(-1, self.n_shared_experts, width)
            experts = [part.view(-1, self.n_task_experts, width) for part in parts[2 : 2 + n_tasks]]
            before = list(parts[2 + n_tasks :]) if self.n_levels >= 3 else [X] * n_tasks
            task_in = [
                penultimate.task_output(k, before[k], experts[k], shared) for k in range(n_tasks)
            ]
        features = [
            last.task_output(k, h, last.task_experts[k](h), last_shared)
            for k, h in enumerate(task_in)
        ]
        return self.task_heads(features)

    def _own(self, k: int) -> list[nn.Parameter]:
        last = self.level(-1)
        params = [*last.task_experts[k].parameters(), *last.task_gates[k].parameters()]
        if self.n_levels >= 2:
            params.extend(self.level(-2).task_gates[k].parameters())
        return params

    def shared_parameters(self) -> list[nn.Parameter]:
        own = {id(p) for k in range(len(self.task_names)) for p in self._own(k)}
        return [p for p in self.levels.parameters() if id(p) not in own]


@register_architecture("ple")
class PLE(Architecture):
    """Progressive layered extraction: stacked levels of shared and task experts.

    Each of the ``n_levels`` customized gate control (CGC) levels has
    ``n_shared_experts`` shared experts and ``n_task_experts`` experts per task. Task
    ``k``'s gate weighs only its own experts and the shared ones, so a task's experts
    never enter another task's gate; a shared gate weighs all experts of the level and
    feeds the next level's shared experts, so the levels progressively separate what
    is shared from what is task-specific. ``n_levels=1`` is CGC.

    Parameters
    ----------
    n_levels : int, default=2
        Number of CGC levels.
    n_shared_experts : int, default=2
        Shared experts per level.
    n_task_experts : int, default=1
        Experts per task and level.
    expert_layer_sizes : tuple of int or None, default=None
        Hidden layer widths of each expert (at every level); None uses the
        estimator's ``hidden_layer_sizes``.
    tower_layer_sizes : tuple of int or None, default=None
        Hidden layer widths of each task tower; None uses the estimator's
        ``head_layer_sizes``.

    References
    ----------
    Tang, H., Liu, J., Zhao, M. and Gong, X. (2020). Progressive layered extraction
    (PLE): a novel multi-task learning (MTL) model for personalized recommendations.
    *RecSys 2020*, 269-278.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import PLE, NetworkConfig, TaskHeadSpec
    >>> module = PLE(n_levels=2, expert_layer_sizes=(8,)).build(
    ...     5, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 3)], NetworkConfig())
    >>> {name: tuple(out.shape) for name, out in module(torch.randn(4, 5)).items()}
    {'a': (4, 1), 'b': (4, 3)}
    >>> module.levels[0].task_gates[0].linear.out_features  # 1 own + 2 shared experts
    3
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_levels": [positive_int],
        "n_shared_experts": [positive_int],
        "n_task_experts": [positive_int],
        "expert_layer_sizes": [None, *LAYER_SIZES],
        "tower_layer_sizes": [None, *LAYER_SIZES],
    }

    def __init__(
        self,
        n_levels: int = 2,
        n_shared_experts: int = 2,
        n_task_experts: int = 1,
        expert_layer_sizes: tuple[int, ...] | None = None,
        tower_layer_sizes: tuple[int, ...] | None = None,
    ):
        self.n_levels = n_levels
        self.n_shared_experts = n_shared_experts
        self.n_task_experts = n_task_experts
        self.expert_layer_sizes = expert_layer_sizes
        self.tower_layer_sizes = tower_layer_sizes

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> PLEModule:
        self._validate_params()
        return PLEModule(
            n_features,
            tasks,
            config,
            int(self.n_levels),
            int(self.n_shared_experts),
            int(self.n_task_experts),
            config.hidden_layer_sizes
            if self.expert_layer_sizes is None
            else check_layer_sizes(self.expert_layer_sizes, "expert_layer_sizes", "PLE"),
            config.head_layer_sizes
            if self.tower_layer_sizes is None
            else check_layer_sizes(self.tower_layer_sizes, "tower_layer_sizes", "PLE"),
        )
