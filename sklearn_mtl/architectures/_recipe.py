"""The default recipe around any architecture: numeric embeddings, a wide path, an ensemble.

:class:`RecipeModule` wraps the :class:`MultiTaskModule` an architecture builds, and
adds up to three things around it, each chosen by an estimator parameter:

- ``numeric_embedding="periodic"``: each input feature goes through its own periodic
  embedding (Gorishniy et al. 2022, the "PBLD" variant of RealMLP, Holzmüller et al.
  2024) before the network: ``[x_j, relu(Linear(cos(2 pi f_j x_j + b_j)))]``;
- ``wide=True``: a linear map of the raw input added to each task's output (a
  "wide and deep" model, Cheng et al. 2016), so that a target close to linear in the
  inputs has that linear part from the first epoch on;
- ``ensemble_size=k``: ``k`` members that share every weight of the network but an
  input scaling and an output scale and shift of their own (after TabM-mini,
  Gorishniy et al. 2025). In training each row of a batch goes through one member
  (row ``i`` of the shuffled batch through member ``i mod k``), so a step costs what
  one network costs and each member learns from different rows; in prediction every
  row goes through all ``k`` and their outputs are averaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._base import TaskHeadSpec, WrapperModule, zero_linear

__all__ = ["PeriodicEmbedding", "RecipeModule"]


class PeriodicEmbedding(nn.Module):
    """Per-feature periodic embedding with a linear layer, kept beside the raw value.

    Each feature ``x_j`` becomes ``[x_j, relu(W_j cos(2 pi f_j x_j + b_j) + c_j)]``: its
    own ``n_frequencies`` frequencies ``f_j`` (drawn from ``N(0, sigma^2)``) and phases,
    and its own small linear layer to ``n_outputs`` values. The output has
    ``n_features * (1 + n_outputs)`` columns.

    Parameters
    ----------
    n_features : int
        Number of input columns.
    n_frequencies : int, default=16
        Frequencies per feature.
    n_outputs : int, default=4
        Learned values per feature (besides the raw one).
    sigma : float, default=0.1
        Standard deviation of the initial frequencies (inputs are standardised).

    Examples
    --------
    >>> import torch
    >>> PeriodicEmbedding(3)(torch.zeros(5, 3)).shape
    torch.Size([5, 15])
    """

    def __init__(
        self, n_features: int, n_frequencies: int = 16, n_outputs: int = 4, sigma: float = 0.1
    ):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * sigma)
        self.phases = nn.Parameter(torch.rand(n_features, n_frequencies) * 2 * math.pi)
        bound = 1 / math.sqrt(n_frequencies)
        self.weight = nn.Parameter(
            torch.empty(n_features, n_frequencies, n_outputs).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.zeros(n_features, n_outputs))
        self.n_out = n_features * (1 + n_outputs)

    def no_weight_decay(self) -> list[nn.Parameter]:
        """The phases and the biases (stacked per feature) are not decayed."""
        return [self.phases, self.bias]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        # feature-major with the rows innermost, (n_features, n_frequencies, n_rows):
        # one fused multiply-add for the angles, and one batched product whose output
        # has the rows innermost as well. Batched products of small matrices with a
        # row-innermost output run about 4x faster on the CPU than the row-major
        # (n_features, n_rows, n_outputs) layout (a whole training step about 8%).
        angles = torch.addcmul(
            self.phases.unsqueeze(-1),
            ((2 * math.pi) * self.frequencies).unsqueeze(-1),
            X.t().unsqueeze(1),
        )
        learned = torch.baddbmm(
            self.bias.unsqueeze(-1), self.weight.transpose(1, 2), torch.cos(angles)
        )
        learned = torch.relu(learned).permute(2, 0, 1).reshape(X.shape[0], -1)
        return torch.cat([X, learned], dim=1)


class RecipeModule(WrapperModule):
    """An architecture's module with numeric embeddings, a wide path and an ensemble.

    Parameters
    ----------
    build : callable
        ``build(n_inputs) -> MultiTaskModule``: the wrapped architecture, built for the
        width of the (embedded) input.
    n_features : int
        Number of input columns.
    tasks : sequence of TaskHeadSpec
        The tasks (for the widths of the wide path and of the member adapters).
    numeric_embedding : None or "periodic"
        See :class:`PeriodicEmbedding`.
    wide : bool
        Add a linear map of the input to each task's output (initialised at zero).
    ensemble_size : int
        Number of members (1: no ensemble).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import HardSharing, NetworkConfig, TaskHeadSpec
    >>> tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 3)]
    >>> config = NetworkConfig(hidden_layer_sizes=(8,))
    >>> module = RecipeModule(lambda n: HardSharing().build(n, tasks, config), 4, tasks,
    ...                       numeric_embedding="periodic", wide=True, ensemble_size=4)
    >>> {name: tuple(out.shape) for name, out in module.eval()(torch.zeros(5, 4)).items()}
    {'a': (5, 1), 'b': (5, 3)}
    """

    def __init__(
        self,
        build,
        n_features: int,
        tasks: Sequence[TaskHeadSpec],
        numeric_embedding: str | None = None,
        wide: bool = False,
        ensemble_size: int = 1,
    ):
        super().__init__()
        self.embedding = PeriodicEmbedding(n_features) if numeric_embedding else None
        width = self.embedding.n_out if self.embedding is not None else n_features
        self.inner = build(width)
        self.task_names = list(self.inner.task_names)
        widths = {task.name: int(task.n_outputs) for task in tasks}
        self.wide = (
            nn.ModuleDict({name: zero_linear(n_features, widths[name]) for name in widths})
            if wide
            else None
        )
        self.ensemble_size = int(ensemble_size)
        if self.ensemble_size > 1:
            k = self.ensemble_size
            # Stored flat (1-D), so that weight decay (matrices only) leaves them alone.
            # Near one (not TabM's random signs: with a shared scale-and-shift per
            # member in place of its own head, a member could not undo the signs).
            self.member_scale = nn.Parameter(1 + 0.1 * torch.randn(k * width))
            self.member_out = nn.ParameterDict(
                {name: nn.Parameter(torch.ones(k * widths[name])) for name in widths}
            )
            self.member_shift = nn.ParameterDict(
                {name: nn.Parameter(torch.zeros(k * widths[name])) for name in widths}
            )

    @property
    def heads_read_input(self) -> bool:  # type: ignore[override]
        return self.wide is not None or self.inner.heads_read_input

    def _members(self, n_rows: int, device: torch.device) -> torch.Tensor:
        """The member of each row of a batch of the inner module (``n_rows`` rows).

        In training row ``i`` of the batch goes through member ``i mod k``: the rows
        are shuffled every epoch, so each member learns from a new random ``1/k`` of
        them at each step, and the members get the same number of rows. In prediction
        every row goes through every member: the batch is repeated ``k`` times,
        member-major. A function of the batch's size and the mode alone, so that
        :meth:`shared` and :meth:`heads` agree without keeping state between them.
        """
        k = self.ensemble_size
        if self.training:
            return torch.arange(n_rows, device=device) % k
        return torch.arange(k, device=device).repeat_interleave(n_rows // k)

    def inner_input(self, X: torch.Tensor) -> torch.Tensor:
        """The (embedded) batch, each row scaled by its member's input scaling."""
        inputs = X if self.embedding is None else self.embedding(X)
        k = self.ensemble_size
        if k == 1:
            return inputs
        if not self.training:
            inputs = inputs.repeat(k, 1)
        return inputs * self.member_scale.view(k, -1)[self._members(len(inputs), X.device)]

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        inner_X = self.inner_input(X) if self.inner.heads_read_input else X
        outputs = self.inner.heads(representation, inner_X)
        k = self.ensemble_size
        if k == 1 and self.wide is None:
            return outputs  # as they are: fused heads' outputs stay one block
        members = self._members(len(representation), X.device) if k > 1 else None
        result = {}
        for name in self.task_names:
            output = outputs[name]
            if members is not None:
                width = output.shape[1]
                scale = self.member_out[name].view(k, width)[members]
                shift = self.member_shift[name].view(k, width)[members]
                output = output * scale + shift
                if not self.training:
                    output = output.view(k, -1, width).mean(dim=0)
            if self.wide is not None:
                output = output + self.wide[name](X)
            result[name] = output
        return result

    def shared_parameters(self) -> list[nn.Parameter]:
        params = list(self.inner.shared_parameters())
        if self.embedding is not None:
            params = [*self.embedding.parameters(), *params]
        if self.ensemble_size > 1:
            params = [self.member_scale, *params]
        return params
