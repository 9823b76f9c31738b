"""Per-task feature attention over a shared trunk (MTAN, Liu et al. 2019, for vectors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, cast

import torch
from torch import nn

from .._registry import register_architecture
from .._validation import StrOptions
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


class AttentionMask(nn.Module):
    """``sigmoid(W2 relu(W1 x))``: an element-wise mask in (0, 1) of width ``n_out``.

    Parameters
    ----------
    n_in : int
        Width of the input (the shared features, plus the task's previous features).
    n_out : int
        Width of the shared features the mask multiplies.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU(), nn.Linear(n_out, n_out))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(X))


class TaskAttentionModule(MultiTaskModule):
    """A shared MLP trunk with per-task attention masks over its layers' outputs.

    With ``layers="all"`` the representation is the concatenation of every trunk
    layer's output; task ``k`` computes ``f_k^1 = a_k^1(h^1) * h^1`` and
    ``f_k^l = a_k^l([h^l, f_k^{l-1}]) * h^l``, and its head reads ``f_k^L``. With
    ``layers="last"`` only the top layer is attended.
    """

    heads_read_input = False

    def __init__(
        self,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        layers: str,
    ):
        super().__init__()
        sizes = nonempty_sizes(config.hidden_layer_sizes, "TaskAttention")
        tasks = check_task_specs(tasks, "TaskAttention")
        self.task_names = [task.name for task in tasks]
        widths = (n_features, *sizes)
        self.trunk = nn.Sequential(
            *(make_mlp(widths[i], [sizes[i]], config) for i in range(len(sizes)))
        )
        self.attended = list(range(len(sizes))) if layers == "all" else [len(sizes) - 1]
        self.sizes = [sizes[i] for i in self.attended]
        self.attention = nn.ModuleList(
            nn.ModuleList(
                AttentionMask(size + (self.sizes[j - 1] if j > 0 else 0), size)
                for j, size in enumerate(self.sizes)
            )
            for _ in tasks
        )
        self.task_heads = TaskHeads(
            [sizes[-1]] * len(tasks), tasks, config, config.head_layer_sizes
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        outputs = []
        hidden = X
        for block in self.trunk:
            hidden = block(hidden)
            outputs.append(hidden)
        return torch.cat([outputs[i] for i in self.attended], dim=1)

    def _attend(
        self, representation: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        hidden = representation.split(self.sizes, dim=1)
        features, all_masks = [], []
        for masks in self.attention:
            feature: torch.Tensor | None = None
            task_masks = []
            for h, mask in zip(hidden, cast(nn.ModuleList, masks), strict=True):
                weights = mask(h if feature is None else torch.cat([h, feature], dim=1))
                feature = weights * h
                task_masks.append(weights)
            assert feature is not None
            features.append(feature)
            all_masks.append(task_masks)
        return features, all_masks

    def masks(self, representation: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Each task's attention masks, one ``(batch, width)`` tensor per attended layer."""
        return dict(zip(self.task_names, self._attend(representation)[1], strict=True))

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.task_heads(self._attend(representation)[0])

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())


@register_architecture("task_attention")
class TaskAttention(Architecture):
    """Shared trunk with per-task feature attention, in the spirit of MTAN for vectors.

    The estimator's ``hidden_layer_sizes`` trunk is shared. Each task learns, at each
    trunk layer, a soft element-wise mask ``a = sigmoid(W2 relu(W1 [h, f_prev]))``
    over that layer's output ``h``, from ``h`` and its own attended features of the
    layer below ``f_prev``; its head reads the attended top layer ``a * h``. Tasks
    thus select the shared features they use, layer by layer, with few
    task-specific parameters.

    Parameters
    ----------
    layers : {"all", "last"}, default="all"
        Attend every trunk layer (MTAN-style) or only the top one.

    References
    ----------
    Liu, S., Johns, E. and Davison, A. J. (2019). End-to-end multi-task learning with
    attention. *CVPR 2019*, 1871-1880.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, TaskAttention, TaskHeadSpec
    >>> tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)]
    >>> module = TaskAttention().build(3, tasks, NetworkConfig(hidden_layer_sizes=(8, 6)))
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(5, 3)).items()}
    {'a': (5, 1), 'b': (5, 4)}
    >>> [tuple(mask.shape) for mask in module.masks(module.shared(torch.zeros(5, 3)))["a"]]
    [(5, 8), (5, 6)]
    """

    _parameter_constraints: ClassVar[dict] = {
        "layers": [StrOptions({"all", "last"})],
    }

    def __init__(self, layers: str = "all"):
        self.layers = layers

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> TaskAttentionModule:
        self._validate_params()
        return TaskAttentionModule(n_features, tasks, config, self.layers)
