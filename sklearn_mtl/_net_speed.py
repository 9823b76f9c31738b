"""Speed options of the net: fused optimizers, autocast precisions, ``torch.compile``."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import torch

from .weighting import LossLevelWeighting

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad)


def check_precision(precision: str | None, device: torch.device, weighting: Any) -> None:
    """Raise a clear error for a precision that the device or the weighting cannot use.

    Parameters
    ----------
    precision : None, "bf16" or "fp16"
        The estimator's ``precision``.
    device : torch.device
        The training device.
    weighting : WeightingModule or None
        The fit's loss weighting (fp16 needs a loss-level one); None skips that check.
    """
    if precision is None or precision == "bf16":
        return
    if precision != "fp16":
        raise ValueError(
            f"precision={precision!r} is not supported; expected None, 'bf16' or 'fp16'."
        )
    if device.type != "cuda":
        raise ValueError(
            "precision='fp16' needs a CUDA device (its gradient scaler works there only); "
            f"got device={str(device)!r}. Use precision='bf16' on a CPU."
        )
    if weighting is not None and not isinstance(weighting, LossLevelWeighting):
        raise ValueError(
            "precision='fp16' works with loss-level weightings only, not with "
            f"{type(weighting).__name__}: the gradient scaler would distort the per-task "
            "gradients that a gradient-level method compares. Use precision='bf16'."
        )


def _can_fuse(optimizer: Any, params: dict, device: torch.device) -> bool:
    """Whether to pass ``fused=True``: a torch optimizer with a fused kernel, not overridden."""
    if not (isinstance(optimizer, type) and issubclass(optimizer, _FUSED_OPTIMIZERS)):
        return False
    if {"fused", "foreach", "differentiable"} & set(params):
        return False
    if "fused" not in inspect.signature(optimizer.__init__).parameters:
        return False
    return device.type in ("cpu", "cuda")


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
