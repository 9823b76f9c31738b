"""Per-fit random generators, so that seeded fits are reproducible in threads.

torch has one process-wide random state. Seeding it (``torch.manual_seed`` inside
``fork_rng``) makes a fit reproducible only when nothing else draws from it meanwhile:
two estimators fitted in two threads (joblib's threading backend, dask workers with
several threads, GridSearchCV with ``n_jobs`` and threads) would interleave their draws.
Each fit therefore owns :class:`FitGenerators`, seeded from ``random_state``, and every
draw of the fit names its generator:

- weight initialisation: the network is built under :func:`drawing_from`, a
  thread-local ``TorchFunctionMode`` that passes the fit's generator to every random
  function called without one (``nn.init.*``, ``Tensor.uniform_``, ``torch.randn``...),
  so architectures and user modules need no change;
- shuffling: :class:`~sklearn_mtl._data.BatchIterator` takes the net's ``generator_``;
- dropout and the draws of random weightings (RLW, PCGrad): :func:`generator_for`
  returns the generator of the fit running in the current thread (set by
  :func:`active`), which :class:`GeneratorDropout` and the weightings pass to torch.

Outside a fit (or in a module the package did not build), ``generator_for`` returns
None and torch's global generator is used, as before.

Random operations that take no generator (``F.dropout`` in a user's module,
``nn.Dropout2d``, ``nn.AlphaDropout``, ``nn.RReLU``, ``torch.rand_like``) draw from
torch's global generator: for a module that may hold such operations (a layer of torch
that draws, or any class defined outside torch and this package),
:func:`global_rng_of_the_fit` runs each training forward pass with the global generator
forked, seeded from the fit's generator and restored after, under a process-wide lock.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

__all__ = [
    "FitGenerators",
    "GeneratorDropout",
    "active",
    "draws_from_global_rng",
    "drawing_from",
    "generator_for",
    "global_rng_of_the_fit",
    "use_generator_dropout",
]

_local = threading.local()
# In-place samplers and factories of torch's C++ API, whose signatures inspect cannot
# read; Python functions (nn.init.*) are recognised by their ``generator`` parameter.
_SAMPLERS = frozenset(
    {
        "uniform_",
        "normal_",
        "bernoulli_",
        "random_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "rand",
        "randn",
        "randint",
        "randperm",
        "normal",
        "bernoulli",
        "multinomial",
        "poisson",
    }
)
_TAKES_GENERATOR: dict[Callable, bool] = {}


class FitGenerators:
    """The generators of one fit: initialisation, shuffling, and draws during training.

    Parameters
    ----------
    seed : int
        Drawn from the estimator's ``random_state``.
    device : torch.device
        The training device (dropout masks are drawn there).

    Examples
    --------
    >>> import torch
    >>> a, b = FitGenerators(0, torch.device("cpu")), FitGenerators(0, torch.device("cpu"))
    >>> bool(torch.equal(torch.rand(3, generator=a.init), torch.rand(3, generator=b.init)))
    True
    """

    def __init__(self, seed: int, device: torch.device):
        init, training = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint64)
        self.init = torch.Generator().manual_seed(int(init))
        self.shuffle = torch.Generator().manual_seed(int(seed))
        self.cpu = torch.Generator().manual_seed(int(training))
        self.device = self.cpu
        if device.type != "cpu":
            self.device = torch.Generator(device=device).manual_seed(int(training))

    def state(self) -> dict[str, torch.Tensor]:
        """The training-time states (for checkpoints), by name."""
        states = {"shuffle": self.shuffle.get_state(), "cpu": self.cpu.get_state()}
        if self.device is not self.cpu:
            states["device"] = self.device.get_state()
        return states

    def set_state(self, states: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state` returned."""
        for name, state in states.items():
            getattr(self, name).set_state(state)


@contextlib.contextmanager
def active(generators: FitGenerators | None) -> Iterator[None]:
    """Make ``generators`` those of the current thread's fit (for dropout, weightings)."""
    previous = getattr(_local, "generators", None)
    _local.generators = generators
    try:
        yield
    finally:
        _local.generators = previous


def generator_for(device: torch.device | str) -> torch.Generator | None:
    """The current thread's fit generator for ``device``, or None outside a fit.

    Examples
    --------
    >>> import torch
    >>> generator_for("cpu") is None
    True
    >>> with active(FitGenerators(0, torch.device("cpu"))):
    ...     generator_for("cpu") is not None
    True
    """
    generators = getattr(_local, "generators", None)
    if generators is None:
        return None
    kind = torch.device(device).type
    return generators.cpu if kind == "cpu" else generators.device


def _takes_generator(func: Callable) -> bool:
    known = _TAKES_GENERATOR.get(func)
    if known is None:
        try:
            known = "generator" in inspect.signature(func).parameters
        except (TypeError, ValueError):  # a C++ function or method
            known = getattr(func, "__name__", "") in _SAMPLERS
        _TAKES_GENERATOR[func] = known
    return known


class _Drawing(TorchFunctionMode):
    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("generator") is None and _takes_generator(func):
            kwargs = {**kwargs, "generator": self.generator}
        return func(*args, **kwargs)


@contextlib.contextmanager
def drawing_from(generator: torch.Generator) -> Iterator[None]:
    """Pass ``generator`` to every random torch function called without one.

    Torch function modes are thread-local: other threads are not affected. Used while
    a network is built, so that its initial weights depend on the fit's seed only.

    Examples
    --------
    >>> import torch
    >>> with drawing_from(torch.Generator().manual_seed(0)):
    ...     a = torch.nn.Linear(3, 2).weight
    >>> with drawing_from(torch.Generator().manual_seed(0)):
    ...     b = torch.nn.Linear(3, 2).weight
    >>> bool(torch.equal(a, b))
    True
    """
    with _Drawing(generator):
        yield


class GeneratorDropout(nn.Dropout):
    """``nn.Dropout`` whose masks come from the current fit's generator.

    Outside a fit (or with ``inplace=True``) it is ``nn.Dropout``.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        generator = generator_for(input.device) if self.training and self.p > 0 else None
        if generator is None or self.inplace:
            return F.dropout(input, self.p, self.training, self.inplace)
        if self.p >= 1:
            return input * 0.0
        keep = torch.empty_like(input).bernoulli_(1.0 - self.p, generator=generator)
        return input * keep / (1.0 - self.p)


def use_generator_dropout(module: nn.Module) -> nn.Module:
    """Turn every plain ``nn.Dropout`` of ``module`` (a fit's own copy) into a
    :class:`GeneratorDropout` (same parameters and state), and return the module."""
    for layer in module.modules():
        if type(layer) is nn.Dropout:
            layer.__class__ = GeneratorDropout
    return module


# -- modules that draw from torch's global generator ------------------------------------
# Layers of torch that draw from the global generator in training and take no generator.
_GLOBAL_DRAWING = (nn.modules.dropout._DropoutNd, nn.RReLU)
_global_rng = threading.RLock()
_DRAWS: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


def draws_from_global_rng(module: nn.Module) -> bool:
    """Whether ``module`` may draw from torch's global generator while training.

    True when it holds a dropout-like layer of torch other than
    :class:`GeneratorDropout` (``Dropout2d``, ``AlphaDropout``...), an ``RReLU``, or a
    module of a class defined neither in torch nor here (a user's module, whose forward
    may call ``F.dropout`` or ``torch.rand_like``).
    """
    for layer in module.modules():
        cls = type(layer)
        if isinstance(layer, _GLOBAL_DRAWING) and cls is not GeneratorDropout:
            return True
        if not cls.__module__.startswith(("torch.", "sklearn_mtl.")):
            return True
    return False


@contextlib.contextmanager
def global_rng_of_the_fit(module: nn.Module, device: torch.device) -> Iterator[None]:
    """Run a training forward pass of ``module`` with torch's global generator seeded
    from the current fit's generator, and restored afterwards.

    Only for a module that :func:`draws_from_global_rng` (decided once per module),
    and only in a fit (:func:`active`): the global generator is forked under a
    process-wide lock, so that seeded fits of such modules in concurrent threads stay
    reproducible; they run their forward passes one at a time. Other modules pass
    through untouched.

    Examples
    --------
    >>> import torch
    >>> noisy = torch.nn.AlphaDropout(0.5)  # draws from the global generator
    >>> def draw(seed):
    ...     with active(FitGenerators(seed, torch.device("cpu"))):
    ...         with global_rng_of_the_fit(noisy, torch.device("cpu")):
    ...             return noisy(torch.ones(4))
    >>> state = torch.get_rng_state()
    >>> bool(torch.equal(draw(0), draw(0))), bool(torch.equal(state, torch.get_rng_state()))
    (True, True)
    """
    generators = getattr(_local, "generators", None)
    if generators is None or not _cached_draws(module):
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generators.cpu))
    cuda = [device] if device.type == "cuda" else []
    with _global_rng, torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        yield


def _cached_draws(module: nn.Module) -> bool:
    known = _DRAWS.get(module)
    if known is None:
        known = _DRAWS[module] = draws_from_global_rng(module)
    return known
