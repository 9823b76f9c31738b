"""Cross-stitch networks: per-task towers mixed after each layer (Misra et al. 2016)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, cast

import torch
from torch import nn

from .._registry import register_architecture
from .._validation import Interval, Real
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


class CrossStitchUnit(nn.Module):
    """A learned ``n_tasks x n_tasks`` linear mix of the towers' activations.

    ``out[k] = sum_j alpha[k, j] * in[j]``, initialised with ``self_weight`` on the
    diagonal and ``(1 - self_weight) / (n_tasks - 1)`` elsewhere (rows sum to 1).

    Parameters
    ----------
    n_tasks : int
        Number of towers.
    self_weight : float
        Initial weight of a tower's own activations.
    """

    def __init__(self, n_tasks: int, self_weight: float):
        super().__init__()
        self.n_tasks = n_tasks
        other = (1.0 - self_weight) / (n_tasks - 1) if n_tasks > 1 else 0.0
        alpha = torch.full((n_tasks, n_tasks), other)
        alpha.fill_diagonal_(self_weight if n_tasks > 1 else 1.0)
        self.alpha = nn.Parameter(alpha)

    def no_weight_decay(self) -> list[nn.Parameter]:
        """The mixing matrix: weight decay must not shrink it towards zero."""
        return [self.alpha]

    @property
    def matrix(self) -> torch.Tensor:
        """The ``(n_tasks, n_tasks)`` mixing weights; row ``k`` builds tower ``k``'s input."""
        return self.alpha

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before the matrix was stored as such hold it flat
        key = prefix + "alpha"
        value = state_dict.get(key)
        if value is not None and value.ndim == 1:
            state_dict[key] = value.view(self.n_tasks, self.n_tasks)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        """Mix activations of shape ``(n_tasks, batch, width)``."""
        return torch.einsum("kj,jbd->kbd", self.matrix, stacked)


class CrossStitchModule(MultiTaskModule):
    """Per-task MLP towers with a cross-stitch unit after every hidden layer.

    Every tower's parameters reach every task through the units, so all of them are
    shared; the representation is the concatenation of the towers' last stitched
    activations (task ``k``'s head reads block ``k``).
    """

    heads_read_input = False

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        self_weight: float,
    ):
        super().__init__()
        sizes = nonempty_sizes(config.hidden_layer_sizes, "CrossStitch")
        tasks = check_task_specs(tasks, "CrossStitch")
        self.task_names = [task.name for task in tasks]
        widths = (n_features, *sizes)
        # layers[l][k]: block l of task k's tower.
        self.layers = nn.ModuleList(
            nn.ModuleList(make_mlp(widths[i], [sizes[i]], config) for _ in tasks)
            for i in range(len(sizes))
        )
        self.stitches = nn.ModuleList(CrossStitchUnit(len(tasks), self_weight) for _ in sizes)
        self.width = sizes[-1]
        self.task_heads = TaskHeads(
            [self.width] * len(tasks), tasks, config, config.head_layer_sizes
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        inputs: list[torch.Tensor] = [X] * len(self.task_names)
        for blocks, stitch in zip(self.layers, self.stitches, strict=True):
            blocks = cast(nn.ModuleList, blocks)
            stacked = torch.stack([block(h) for block, h in zip(blocks, inputs, strict=True)])
            inputs = list(stitch(stacked).unbind(0))
        return torch.cat(inputs, dim=1)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.task_heads(representation.split(self.width, dim=1))

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.layers.parameters(), *self.stitches.parameters()]


@register_architecture("cross_stitch")
class CrossStitch(Architecture):
    """Cross-stitch networks: per-task towers linearly mixed after each layer.

    Each task has its own ``hidden_layer_sizes`` MLP tower. After every hidden layer
    a cross-stitch unit replaces each tower's activations by a learned linear
    combination of all towers' activations, so the network learns how much to share
    at each depth: an identity unit gives independent towers, uniform weights give a
    shared layer. The units start near the identity (``self_weight`` on the diagonal),
    as in the paper's best initialisation (0.9 / 0.1).

    Parameters
    ----------
    self_weight : float, default=0.9
        Initial weight of a tower's own activations; the remaining ``1 - self_weight``
        is spread evenly over the other towers.

    Notes
    -----
    Misra et al. also scale up the learning rate of the units; here they train with
    the estimator's optimizer and learning rate. All tower and unit parameters are
    shared parameters (every task's output depends on them).

    References
    ----------
    Misra, I., Shrivastava, A., Gupta, A. and Hebert, M. (2016). Cross-stitch networks
    for multi-task learning. *CVPR 2016*, 3994-4003.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import CrossStitch, NetworkConfig, TaskHeadSpec
    >>> module = CrossStitch().build(
    ...     3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)], NetworkConfig(hidden_layer_sizes=(8,)))
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 4)}
    >>> module.stitches[0].matrix.detach()
    tensor([[0.9000, 0.1000],
            [0.1000, 0.9000]])
    """

    _parameter_constraints: ClassVar[dict] = {
        "self_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, self_weight: float = 0.9):
        self.self_weight = self_weight

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> CrossStitchModule:
        self._validate_params()
        return CrossStitchModule(n_features, tasks, config, self.self_weight)
