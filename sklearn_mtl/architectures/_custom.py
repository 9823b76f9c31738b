"""A user network as the shared trunk, with the heads added by the estimator."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ._base import Architecture, MultiTaskModule, NetworkConfig, TaskHeadSpec, check_task_specs
from ._heads import TaskHeads

_KWARGS_PREFIX = "module_kwargs__"


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


class CustomTrunkModule(MultiTaskModule):
    """A user trunk ``X -> representation`` (flattened to 2-D) and one head per task."""

    heads_read_input = False

    def __init__(
        self,
        trunk: nn.Module,
        width: int,
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
    ):
        super().__init__()
        self.task_names = [task.name for task in tasks]
        self.trunk = trunk
        self.width = width
        self.task_heads = TaskHeads(
            [width] * len(tasks),
            tasks,
            config,
            config.head_layer_sizes,
            feature_slots=[0] * len(tasks),
        )

    def shared(self, X: torch.Tensor) -> torch.Tensor:
        return self.trunk(X).flatten(1)

    def heads(self, representation: torch.Tensor, X: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.task_heads([representation] * len(self.task_names))

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.trunk.parameters() if p.requires_grad]


class CustomTrunk(Architecture):
    """Use your own ``torch.nn.Module`` as the shared trunk; the task heads are added.

    ``module`` maps a float32 batch ``X`` of shape ``(batch, n_features)`` to a shared
    representation (embeddings of categorical codes, a small CNN over reshaped pixels,
    ...). Its output is flattened to ``(batch, width)``; the width is found with a
    dummy forward pass on a batch of zeros at build time (so lazy modules such as
    ``torch.nn.LazyLinear`` work too). Each task then gets a head of the estimator's
    ``head_layer_sizes`` hidden layers and an output layer, and ``inputs_from`` task
    chains work as in :class:`HardSharing`. All parameters of the trunk are shared
    parameters.

    ``MultiTaskNetEstimator(architecture=MyModule)`` with a module class or factory
    is the same as ``architecture=CustomTrunk(MyModule)``.

    Parameters
    ----------
    module : torch.nn.Module subclass, callable or torch.nn.Module instance
        A class or factory called as ``module(**module_kwargs)`` at every fit, with
        ``n_features=`` added when it takes a parameter of that name (and
        ``module_kwargs`` does not set it). An instance is deep-copied at every fit,
        so every fit starts from the instance's weights.
    module_kwargs : dict or None, default=None
        Keyword arguments of ``module``. Each is also a parameter of this object,
        ``module_kwargs__<name>``, so that ``GridSearchCV`` can search
        ``architecture__module_kwargs__<name>``.

    Notes
    -----
    Define the module class in an importable module (not in ``__main__`` or as a
    lambda) when the fitted estimator must be pickled and loaded elsewhere, or sent
    to joblib/dask workers. Categorical codes arrive as float32: convert them with
    ``X[:, i].long()`` inside the module; the zeros of the dummy batch must be valid
    input.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_mtl.architectures import CustomTrunk, NetworkConfig, TaskHeadSpec
    >>> class Trunk(nn.Module):
    ...     def __init__(self, n_features, width=6):
    ...         super().__init__()
    ...         self.linear = nn.Linear(n_features, width)
    ...     def forward(self, X):
    ...         return torch.relu(self.linear(X))
    >>> arch = CustomTrunk(Trunk, module_kwargs={"width": 7})
    >>> arch.set_params(module_kwargs__width=5).get_params()["module_kwargs"]
    {'width': 5}
    >>> module = arch.build(3, [TaskHeadSpec("a", 1), TaskHeadSpec("b", 4)], NetworkConfig())
    >>> module.width
    5
    >>> {name: tuple(out.shape) for name, out in module(torch.zeros(2, 3)).items()}
    {'a': (2, 1), 'b': (2, 4)}
    """

    def __init__(
        self,
        module: type[nn.Module] | Callable[..., nn.Module] | nn.Module,
        module_kwargs: dict[str, Any] | None = None,
    ):
        self.module = module
        self.module_kwargs = module_kwargs

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        if deep and self.module_kwargs:
            for key, value in self.module_kwargs.items():
                params[_KWARGS_PREFIX + key] = value
        return params

    def set_params(self, **params: Any) -> CustomTrunk:
        kwargs = {
            key[len(_KWARGS_PREFIX) :]: params.pop(key)
            for key in list(params)
            if key.startswith(_KWARGS_PREFIX)
        }
        super().set_params(**params)
        if kwargs:
            self.module_kwargs = {**(self.module_kwargs or {}), **kwargs}
        return self

    def make_trunk(self, n_features: int) -> nn.Module:
        """Instantiate (or copy) the user module for ``n_features`` input features."""
        module = self.module
        kwargs = dict(self.module_kwargs or {})
        if isinstance(module, nn.Module):
            if kwargs:
                raise ValueError(
                    "module_kwargs cannot be used with a module instance; pass its class "
                    "or a factory instead."
                )
            return copy.deepcopy(module)
        if not callable(module):
            raise TypeError(
                f"module must be a torch.nn.Module class, factory or instance; got {module!r}."
            )
        if "n_features" not in kwargs and _accepts(module, "n_features"):
            kwargs["n_features"] = n_features
        trunk = module(**kwargs)
        if not isinstance(trunk, nn.Module):
            raise TypeError(
                f"module {module!r} returned {type(trunk).__name__}, not a torch.nn.Module."
            )
        return trunk

    def build(
        self, n_features: int, tasks: Sequence[TaskHeadSpec], config: NetworkConfig
    ) -> CustomTrunkModule:
        tasks = check_task_specs(tasks, "CustomTrunk")
        trunk = self.make_trunk(n_features)
        return CustomTrunkModule(trunk, infer_width(trunk, n_features), tasks, config)


def infer_width(trunk: nn.Module, n_features: int) -> int:
    """Width of the flattened output of ``trunk`` on a dummy batch of zeros.

    The dummy pass runs in eval mode, without gradients, on the device of the
    trunk's first parameter or buffer (CPU when it has none).
    """
    tensors = [*trunk.parameters(), *trunk.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            out = trunk(torch.zeros(2, n_features, device=device))
    except Exception as exc:
        raise ValueError(
            f"The custom trunk {type(trunk).__name__} failed on a dummy batch of shape "
            f"(2, {n_features}) of zeros: {exc}"
        ) from exc
    finally:
        trunk.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The custom trunk {type(trunk).__name__} must return a tensor of shape "
            f"(batch, ...) for a batch of shape (2, {n_features}); it returned {shape}."
        )
    return int(out[0].numel())
