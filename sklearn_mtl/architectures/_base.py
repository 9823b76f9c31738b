"""The architecture protocol: how a network maps X to one output per task.

An *architecture* is a small parameter object (``HardSharing()``, ``MMoE(n_experts=4)``)
that the estimator clones and asks to :meth:`Architecture.build` a
``MultiTaskModule`` once the data is known. The module splits its forward pass in
two, so that gradient-level loss weighting can work either on the shared parameters or
on the shared representation:

``forward(X) == heads(shared(X), X)``
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from .._doc_link import DocLinkMixin
from .._validation import OwnErrors

__all__ = [
    "Architecture",
    "MultiTaskModule",
    "NetworkConfig",
    "WrapperModule",
    "TaskHeadSpec",
    "check_task_specs",
    "decayed_parameters",
    "make_mlp",
    "zero_linear",
]

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
        Name of the activation function (see ``make_mlp``).
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


def activation_class(name: str) -> type[nn.Module]:
    """The torch activation module class for an ``activation`` name, or a clear error."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation={name!r} is not supported; expected one of {sorted(_ACTIVATIONS)}."
        ) from None


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
        The stack; empty (the identity) when there are no layers at all: with
        ``layer_sizes=[8]`` and ``n_out=2``, ``Linear(4, 8), ReLU(), Linear(8, 2)``.
    """
    activation = activation_class(config.activation)
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


def zero_linear(n_in: int, n_out: int) -> nn.Linear:
    """A linear layer whose weights and bias start at zero: a path added to a network's
    output (the wide path, a task's slopes) that changes nothing until it is trained.

    Examples
    --------
    >>> zero_linear(3, 2).weight.abs().sum().item()
    0.0
    """
    layer = nn.Linear(n_in, n_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MultiTaskModule(nn.Module):
    """Base class of the networks that architectures build.

    Subclasses implement :meth:`shared`, :meth:`heads` and :meth:`shared_parameters`,
    and may override :meth:`penalty`; :meth:`task_parameters` is found by autograd.
    """

    task_names: list[str]

    #: Whether :meth:`heads` reads its ``X`` (the gates of MMoE and PLE do); a wrapper
    #: around the module computes that input only then.
    heads_read_input: bool = True

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        """Return the shared representation of a batch."""
        raise NotImplementedError

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map the shared representation (and the input, for gates) to ``{task: output}``."""
        raise NotImplementedError

    def forward(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.shared(X), X)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that every task's loss depends on (gradient-level weighting acts on them)."""
        raise NotImplementedError

    def task_parameters(self, name: str, X: torch.Tensor) -> list[nn.Parameter]:
        """Parameters besides :meth:`shared_parameters` that task ``name``'s output depends on.

        Found by autograd, for every architecture alike: the parameters that get a
        nonzero gradient from task ``name``'s output on the batch ``X`` (a few rows of
        the training data; the module runs in eval mode for it, and is left in the mode
        it was in). Its own head, gates and
        experts; with task chains also the heads of the tasks it takes its inputs from;
        with hierarchical heads the trunk layers between the lowest head and its own.
        ``shared_parameters() + task_parameters(name, X)`` is then the set of
        parameters the gradient of that task's loss reaches.
        """
        shared = {id(p) for p in self.shared_parameters()}
        candidates = [p for p in self.parameters() if p.requires_grad and id(p) not in shared]
        if not candidates:
            return []
        training = self.training
        self.eval()
        try:
            with torch.enable_grad():
                output = self(X)[name]
                grads = torch.autograd.grad(output.sum(), candidates, allow_unused=True)
        finally:
            self.train(training)
        return [
            p
            for p, grad in zip(candidates, grads, strict=True)
            if grad is not None and bool(grad.any())
        ]

    def penalty(self) -> torch.Tensor | None:
        """An extra term added to the training loss (e.g. soft sharing), or None."""
        return None

    def unwrap(self) -> tuple[MultiTaskModule, Callable[[torch.Tensor], torch.Tensor]]:
        """The architecture's own module, and the map from a batch to its input.

        The estimator may wrap the module an architecture builds (the input encoding
        layer, the numeric embedding: a ``WrapperModule``); methods of the
        architecture's module that take a batch, such as ``MMoEModule.gate_weights``,
        then take the batch as the wrappers pass it on. A module that wraps nothing
        returns itself and the identity.

        Examples
        --------
        >>> import torch
        >>> from sklearn_mtl.architectures import MMoE, NetworkConfig, TaskHeadSpec
        >>> module = MMoE(n_experts=3).build(
        ...     4, [TaskHeadSpec("a", 1)], NetworkConfig(hidden_layer_sizes=(8,)))
        >>> inner, encode = module.unwrap()
        >>> inner is module
        True
        >>> inner.gate_weights(encode(torch.zeros(2, 4)))["a"].shape
        torch.Size([2, 3])
        """
        return self, _identity

    def inner_input(self, X: torch.Tensor) -> torch.Tensor:
        """The batch as :meth:`unwrap`'s module takes it (``X`` itself here)."""
        return X


def _identity(X: torch.Tensor) -> torch.Tensor:
    return X


class WrapperModule(MultiTaskModule):
    """A module around another one, ``inner``, to which it passes a transformed batch.

    Subclasses set ``inner`` and ``task_names`` and implement :meth:`inner_input` (the
    batch as ``inner`` takes it); the forward pass, the penalty and :meth:`unwrap`
    follow. :meth:`inner_input` is a function of the batch alone (no state is kept
    between :meth:`shared` and :meth:`heads`, so that each half compiles on its own).
    Attributes of the inner module (``trunk``, ``task_heads``, ``gate_weights``, ...)
    are reachable on the wrapper; the inner module's methods that take a batch take it
    as :meth:`unwrap` says.
    """

    inner: MultiTaskModule

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

    @property
    def heads_read_input(self) -> bool:  # type: ignore[override]
        return self.inner.heads_read_input

    def inner_input(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.inner.shared(self.inner_input(X))

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        # the inner heads' input is computed only when they read it (MMoE's gates)
        inner_X = self.inner_input(X) if self.inner.heads_read_input else X
        return self.inner.heads(representation, inner_X)

    def penalty(self) -> torch.Tensor | None:
        return self.inner.penalty()

    def unwrap(self) -> tuple[MultiTaskModule, Callable[[torch.Tensor], torch.Tensor]]:
        inner, encode = self.inner.unwrap()
        return inner, lambda X: encode(self.inner_input(X))


def decayed_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters weight decay applies to: weight matrices, less what modules exempt.

    A trainable parameter with more than one dimension is decayed unless a module of
    the tree declares it in a ``no_weight_decay()`` method (returning parameters), as
    the expert groups do for their stacked biases and the cross-stitch units for their
    mixing matrices. Biases, normalisation parameters and other vectors never are.

    Examples
    --------
    >>> from torch import nn
    >>> [tuple(p.shape) for p in decayed_parameters(nn.Linear(3, 2))]
    [(2, 3)]
    """
    exempt: set[int] = set()
    for sub in module.modules():
        declare = getattr(sub, "no_weight_decay", None)
        if callable(declare):
            exempt.update(id(p) for p in declare())
    return [
        p for p in module.parameters() if p.requires_grad and p.ndim > 1 and id(p) not in exempt
    ]


class Architecture(OwnErrors, DocLinkMixin, BaseEstimator):
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


def check_task_specs(
    tasks: Sequence[TaskHeadSpec],
    architecture: str,
    n_layers: int | None = None,
) -> list[TaskHeadSpec]:
    """Validate the task specifications an architecture is built for.

    Parameters
    ----------
    tasks : sequence of TaskHeadSpec
        The tasks, in the estimator's order.
    architecture : str
        Name of the architecture, for the error messages.
    n_layers : int or None, default=None
        Number of trunk layers a head may attach to (``depth`` between 1 and
        ``n_layers``); None when the architecture does not support ``depth``.

    Returns
    -------
    list of TaskHeadSpec
        The tasks with ``inputs_from`` as a tuple.

    Raises
    ------
    ValueError
        On duplicate names, an empty output, a ``depth`` out of range or not supported,
        or an ``inputs_from`` naming an unknown, later or the same task.
    """
    if len(tasks) == 0:
        raise ValueError(f"{architecture} needs at least one task.")
    checked: list[TaskHeadSpec] = []
    seen: set[str] = set()
    for task in tasks:
        name = task.name
        if name in seen:
            raise ValueError(f"Task names must be unique; {name!r} appears twice.")
        if int(task.n_outputs) < 1:
            raise ValueError(f"Task {name!r} has n_outputs={task.n_outputs}; it must be >= 1.")
        depth = task.depth
        if depth is not None:
            if n_layers is None:
                raise ValueError(
                    f"Task {name!r} has depth={depth}, but {architecture} does not attach "
                    "heads at a chosen depth; use architecture='hard' (HardSharing) for "
                    "hierarchical supervision, or leave depth=None."
                )
            if isinstance(depth, bool) or not isinstance(depth, int | np.integer):
                raise ValueError(f"Task {name!r} has depth={depth!r}; it must be an int or None.")
            if not 1 <= depth <= n_layers:
                raise ValueError(
                    f"Task {name!r} has depth={depth}, but {architecture}'s trunk has "
                    f"{n_layers} hidden layers (hidden_layer_sizes): depth must be between "
                    f"1 and {n_layers}, or None for the top."
                )
        inputs_from = task.inputs_from
        if inputs_from is None:
            inputs_from = ()
        elif isinstance(inputs_from, str):
            inputs_from = (inputs_from,)
        inputs_from = tuple(inputs_from)
        for source in inputs_from:
            if source == name:
                raise ValueError(f"Task {name!r} cannot take its own output as input.")
            if source not in seen:
                known = [t.name for t in tasks]
                if source in known:
                    raise ValueError(
                        f"Task {name!r} takes inputs_from {source!r}, which comes after it; "
                        "a task may only use the outputs of tasks listed before it."
                    )
                raise ValueError(
                    f"Task {name!r} takes inputs_from {source!r}, which is not a task; "
                    f"the tasks are {known}."
                )
        if len(set(inputs_from)) != len(inputs_from):
            raise ValueError(f"Task {name!r} lists a task twice in inputs_from={inputs_from}.")
        seen.add(name)
        checked.append(
            TaskHeadSpec(
                name, int(task.n_outputs), None if depth is None else int(depth), inputs_from
            )
        )
    return checked


def nonempty_sizes(
    sizes: Sequence[int], owner: str, param: str = "hidden_layer_sizes"
) -> tuple[int, ...]:
    """Return ``sizes`` as a tuple of positive ints; raise when it is empty."""
    sizes = tuple(int(size) for size in sizes)
    if len(sizes) == 0:
        raise ValueError(f"{owner} needs at least one hidden layer; got {param}=().")
    if any(size < 1 for size in sizes):
        raise ValueError(f"{owner}: every size in {param}={sizes} must be >= 1.")
    return sizes
