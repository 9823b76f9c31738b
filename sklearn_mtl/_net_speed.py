"""Speed options of the net: fused optimizers, autocast precisions, ``torch.compile``."""

from __future__ import annotations

import contextlib
import inspect
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad)


def check_precision(
    precision: str | None, device: torch.device, weighting: Any = None, optimizer: Any = None
) -> None:
    """Raise a clear error for a precision that the device or the optimizer cannot use.

    fp16 works with every loss weighting (gradient-level methods take their per-task
    gradients through the gradient scaler, see
    :class:`~sklearn_mtl.weighting.BackwardContext`) on any device where torch has
    float16 autocast and a gradient scaler (CUDA, and the CPU with torch 2.13).

    Parameters
    ----------
    precision : None, "bf16" or "fp16"
        The estimator's ``precision``.
    device : torch.device
        The training device.
    weighting : WeightingModule or None
        The fit's loss weighting (any: kept for the callers' signature).
    optimizer : torch.optim.Optimizer or None
        The fit's optimizer: LBFGS cannot step through the gradient scaler.
    """
    if precision is None or precision == "bf16":
        return
    if precision != "fp16":
        raise ValueError(
            f"precision={precision!r} is not supported; expected None, 'bf16' or 'fp16'."
        )
    if not _fp16_available(device):
        raise ValueError(
            f"precision='fp16' needs float16 autocast and a gradient scaler on the device; "
            f"torch {torch.__version__} has none for device={str(device)!r}. Use "
            "precision='bf16', or train on a CUDA device."
        )
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError(
            "precision='fp16' cannot be used with optimizer=LBFGS: the gradient scaler "
            "cannot step an optimizer that evaluates the loss again through a closure. "
            "Use precision='bf16' or None, or another optimizer."
        )


def _fp16_available(device: torch.device) -> bool:
    """Whether torch has float16 autocast and an enabled ``GradScaler`` on ``device``."""
    if not torch.amp.is_autocast_available(device.type):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "GradScaler is enabled, but CUDA is not available"
        return torch.amp.GradScaler(device.type).is_enabled()


def _can_fuse(optimizer: Any, params: dict, device: torch.device) -> bool:
    """Whether to pass ``fused=True``: a torch optimizer with a fused kernel, not overridden."""
    if not (isinstance(optimizer, type) and issubclass(optimizer, _FUSED_OPTIMIZERS)):
        return False
    if {"fused", "foreach", "differentiable"} & set(params):
        return False
    if not _takes_fused(optimizer):
        return False
    return device.type in ("cpu", "cuda")


def _takes_fused(optimizer: type) -> bool:
    """Whether the optimizer class's ``__init__`` takes ``fused`` (read once per class:
    ``inspect.signature`` costs a tenth of a millisecond, every fit)."""
    known = _TAKES_FUSED.get(optimizer)
    if known is None:
        known = _TAKES_FUSED[optimizer] = "fused" in inspect.signature(optimizer).parameters
    return known


_TAKES_FUSED: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


class _Compiled:
    """A ``torch.compile``-d function whose compilation errors say how to do without it.

    Graphs are compiled without AOTAutograd's donated buffers (see
    :func:`_no_donated_buffers`); a (re)compilation happens inside a call.
    """

    def __init__(self, function: Callable):
        self.function = function

    def __call__(self, *args: Any) -> Any:
        try:
            with _no_donated_buffers():
                return self.function(*args)
        except Exception as error:
            if not _is_compile_error(error):
                raise
            first_line = (str(error).strip().splitlines() or [""])[0][:300]
            raise RuntimeError(
                "compile=True: torch.compile could not compile the network on this machine "
                f"({type(error).__name__}: {first_line}). On a CPU, torch.compile needs a "
                "working C++ compiler; fit with compile=False, or pass "
                "compile={'backend': 'aot_eager'} to compile without code generation."
            ) from error


def _no_donated_buffers() -> contextlib.AbstractContextManager:
    """``torch.compile`` without AOTAutograd's *donated buffers*, for compiling and backward.

    That optimisation lets a compiled backward reuse the memory of the intermediates
    saved for it, so the graph can be differentiated only once. Gradient-level
    weightings and affinity tracking differentiate each task's loss through the same
    graph (``retain_graph=True``), which then fails ("compiled with non-empty donated
    buffers") as soon as a compiled part saves an intermediate, e.g. a hidden head
    layer. AOTAutograd reads the flag when it compiles a graph and again in each
    backward, so both run under it.
    """
    return torch._functorch.config.patch(donated_buffer=False)


def _is_compile_error(error: BaseException) -> bool:
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor"))
