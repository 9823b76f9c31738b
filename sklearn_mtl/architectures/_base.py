"""The architecture protocol: how a network maps X to one output per task.

An *architecture* is a small parameter object (``HardSharing()``, ``MMoE(n_experts=4)``)
that the estimator clones and asks to :meth:`Architecture.build` a
:class:`MultiTaskModule` once the data is known. The module splits its forward pass in
two, so that gradient-level loss weighting can work either on the shared parameters or
on the shared representation:

``forward(X) == heads(shared(X), X)``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from sklearn.base import BaseEstimator
from torch import nn

__all__ = ["Architecture", "MultiTaskModule", "NetworkConfig", "TaskHeadSpec", "make_mlp"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
}


@dataclass(frozen=True)
class TaskHeadSpec:
    """What an architecture needs to know about one task.

    Attributes
    ----------
    name : str
        The task's name, the key of its output.
    n_outputs : int
        Width of the task's output: 1 for regression and binary, the number of
        classes for multiclass, the number of labels for multilabel.
    depth : int or None
        Trunk depth the task's head attaches to (None: the top of the trunk).
    inputs_from : tuple of str
        Names of earlier tasks whose outputs the head also receives (task chains).
    """

    name: str
    n_outputs: int
    depth: int | None = None
    inputs_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkConfig:
    """The estimator's network parameters, handed to every architecture.

    Attributes
    ----------
    hidden_layer_sizes : tuple of int
        Widths of the shared layers.
    activation : str
        Name of the activation function (see :func:`make_mlp`).
    dropout : float
        Dropout probability after each hidden layer.
    batch_norm : bool
        Whether a batch normalisation follows each hidden linear layer.
    head_layer_sizes : tuple of int
        Widths of each task head's hidden layers (empty: a linear head).
    """

    hidden_layer_sizes: tuple[int, ...] = (100,)
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False
    head_layer_sizes: tuple[int, ...] = ()


def make_mlp(
    n_in: int,
    layer_sizes: Sequence[int],
    config: NetworkConfig,
    n_out: int | None = None,
) -> nn.Sequential:
    """Build ``Linear -> [BatchNorm] -> activation -> [Dropout]`` blocks.

    Parameters
    ----------
    n_in : int
        Number of input features.
    layer_sizes : sequence of int
        Width of each hidden block.
    config : NetworkConfig
        Activation, dropout and batch normalisation settings.
    n_out : int, optional
        When given, a final plain ``Linear`` layer of this width ends the stack.

    Returns
    -------
    torch.nn.Sequential
        The stack; empty (the identity) when there are no layers at all.

    Examples
    --------
    >>> from sklearn_mtl.architectures import NetworkConfig, make_mlp
    >>> make_mlp(4, [8], NetworkConfig(), n_out=2)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    """
    try:
        activation = _ACTIVATIONS[config.activation]
    except KeyError:
        raise ValueError(
            f"activation={config.activation!r} is not supported; "
            f"expected one of {sorted(_ACTIVATIONS)}."
        ) from None
    layers: list[nn.Module] = []
    width = n_in
    for size in layer_sizes:
        layers.append(nn.Linear(width, size))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(activation())
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        width = size
    if n_out is not None:
        layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class MultiTaskModule(nn.Module):
    """Base class of the networks that architectures build.

    Subclasses implement :meth:`shared` and :meth:`heads`, and may override
    :meth:`shared_parameters` and :meth:`penalty`.
    """

    task_names: list[str]

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        """Return the shared representation of a batch."""
        raise NotImplementedError

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map the shared representation (and the input, for gates) to ``{task: output}``."""
        raise NotImplementedError

    def forward(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.shared(X), X)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that every task's loss depends on (gradient-level weighting acts on them).

        Every parameter used by :meth:`shared` by default.
        """
        raise NotImplementedError

    def penalty(self) -> torch.Tensor | None:
        """An extra term added to the training loss (e.g. soft sharing), or None."""
        return None


class Architecture(BaseEstimator):
    """Base class of architecture parameter objects.

    Subclasses take their hyperparameters in ``__init__`` (stored unchanged, as in
    scikit-learn, so that ``get_params``/``set_params`` and GridSearchCV work) and
    implement :meth:`build`.
    """

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> MultiTaskModule:
        """Return a freshly initialised module for these features and tasks."""
        raise NotImplementedError
