"""The torch side of a fit that the estimator delegates: devices, optimizers, the run.

The estimator turns its parameters and the data into a
:class:`~sklearn_mtl._net.MultiTaskNet` and a :class:`~sklearn_mtl._data.SplitData`;
what happens then on torch's side is here: which device (:func:`resolve_device`),
whether the data moves there whole (:func:`place_on_device`), which optimizer class
(:func:`resolve_optimizer`, over the optimizer registry), and the run itself with an
optional checkpoint (:func:`train`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._checkpoint import FitCheckpoint
from ._data import SplitData
from ._net import MultiTaskNet
from ._registry import OPTIMIZERS, register_optimizer

__all__ = [
    "check_device_available",
    "place_on_device",
    "resolve_device",
    "resolve_optimizer",
    "train",
]

for _alias, _optimizer in (
    ("adam", torch.optim.Adam),
    ("adamw", torch.optim.AdamW),
    ("sgd", torch.optim.SGD),
    ("rmsprop", torch.optim.RMSprop),
    ("adagrad", torch.optim.Adagrad),
):
    register_optimizer(_alias)(_optimizer)


def resolve_optimizer(optimizer: Any) -> Any:
    """The optimizer class of the estimator's ``optimizer`` parameter."""
    if isinstance(optimizer, str):
        try:
            return OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"optimizer={optimizer!r} is not supported; expected one of "
                f"{sorted(OPTIMIZERS)} or a torch optimizer class."
            ) from None
    if callable(optimizer):
        return optimizer
    raise TypeError(f"optimizer must be a name or a torch optimizer class; got {optimizer!r}.")


def resolve_device(device: Any) -> torch.device:
    """The torch device of the estimator's ``device`` parameter ("auto": a GPU if any)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a device; expected 'cpu', 'cuda', 'cuda:N' or 'auto'."
        ) from None
    check_device_available(resolved, device)
    return resolved


def check_device_available(resolved: torch.device, asked: object) -> None:
    """Raise a ValueError naming ``asked`` when its device type is absent on this machine."""
    kind = resolved.type
    if kind == "cpu":
        return
    names = {"cuda": "CUDA", "mps": "MPS (Apple GPU)", "xpu": "XPU"}
    checks: dict[str, Callable[[], bool]] = {
        "cuda": torch.cuda.is_available,
        "mps": torch.backends.mps.is_available,
    }
    module = getattr(torch, kind, None)
    is_available: Callable[[], bool] | None = checks.get(
        kind, getattr(module, "is_available", None)
    )
    expected = "expected 'cpu', 'cuda', 'cuda:N' or 'auto'"
    if is_available is None:
        raise ValueError(f"device={asked!r} is not a device sklearn-mtl can train on; {expected}.")
    if not is_available():
        raise ValueError(
            f"device={asked!r} was asked for, but {names.get(kind, kind)} is not available "
            f"here; {expected} (a GPU when one is available)."
        )
    if kind == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        if resolved.index >= count:
            raise ValueError(
                f"device={asked!r} was asked for, but this machine has {count} CUDA "
                f"device(s), numbered from 0."
            )


def place_on_device(split: SplitData, device: torch.device) -> SplitData:
    """On a GPU, keep the whole training set there when it takes under half its free memory.

    Elsewhere, or for sparse or streamed X, the split is returned as it is (batches
    are then moved one by one).
    """
    if device.type != "cuda" or not isinstance(split.train.X, torch.Tensor):
        return split
    free, _ = torch.cuda.mem_get_info(device)
    size = split.train.nbytes + (split.valid.nbytes if split.valid is not None else 0)
    if size > free // 2:
        return split
    valid = None if split.valid is None else split.valid.to(device)
    return SplitData(split.train.to(device), valid)


def train(
    net: MultiTaskNet, split: SplitData, epochs: int, checkpoint: FitCheckpoint | None = None
) -> None:
    """Run ``epochs`` epochs of ``net`` on ``split`` through skorch's ``partial_fit``.

    The checkpoint, when given, is attached for this run only (it is no part of the
    fitted model). A :class:`~sklearn_mtl._net_guard.NonFiniteLossError` propagates, after
    the net has restored its last good weights and ended training.
    """
    if checkpoint is not None:
        checkpoint.attach(net)
    try:
        net.partial_fit(split, epochs=epochs)
    finally:
        if checkpoint is not None:
            checkpoint.detach(net)
