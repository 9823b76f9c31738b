"""Shared pieces of the speed and memory benchmarks (not a benchmark itself).

- :func:`make_data`: synthetic float32 features and three tasks (regression, binary,
  multiclass) driven by shared latent factors;
- :class:`PlainNet`, :func:`hand_epochs` and :func:`hand_loop`: the minimal
  hand-written PyTorch loop that the estimator is measured against (same network, data,
  batch size, Adam, shuffling, no validation);
- :func:`estimator`: the estimator configured like the hand-written loop;
- :func:`print_table` and :func:`header`: the printed output.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_CLASSES = 5
TASKS = {"amount": "regression", "bought": "binary", "segment": "multiclass"}


def make_data(
    n_samples: int, n_features: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Float32 X of shape (n_samples, n_features) and a (n_samples, 3) target array.

    Columns of y: a regression target, a 0/1 label and a label in ``range(N_CLASSES)``,
    all functions of the same few latent directions of X. X is drawn in float32 and in
    blocks, so that no float64 copy of it ever exists.
    """
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, n_features), dtype=np.float32)
    block = 262_144
    for start in range(0, n_samples, block):
        stop = min(start + block, n_samples)
        X[start:stop] = rng.standard_normal((stop - start, n_features), dtype=np.float32)
    directions = rng.standard_normal((n_features, 3), dtype=np.float32) / np.sqrt(n_features)
    latent = X @ directions
    y = np.empty((n_samples, 3), dtype=np.float64)
    y[:, 0] = latent[:, 0] + 0.1 * rng.standard_normal(n_samples, dtype=np.float32)
    y[:, 1] = latent[:, 1] > 0
    y[:, 2] = np.digitize(latent[:, 2], np.linspace(-1.0, 1.0, N_CLASSES - 1))
    return X, y


class PlainNet(nn.Module):
    """The estimator's default network written by hand: a ReLU MLP and three linear heads."""

    def __init__(self, n_features: int, hidden: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.trunk = nn.Sequential(*layers)
        self.amount = nn.Linear(width, 1)
        self.bought = nn.Linear(width, 1)
        self.segment = nn.Linear(width, N_CLASSES)

    def heads(self) -> list[nn.Linear]:
        """The three task heads, in task order."""
        return [self.amount, self.bought, self.segment]

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.trunk(X)
        return self.amount(hidden), self.bought(hidden), self.segment(hidden)


def plain_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], y: torch.Tensor
) -> torch.Tensor:
    """Sum of the three tasks' mean losses (MSE, BCE with logits, cross-entropy)."""
    amount, bought, segment = outputs
    return (
        F.mse_loss(amount[:, 0], y[:, 0])
        + F.binary_cross_entropy_with_logits(bought[:, 0], y[:, 1])
        + F.cross_entropy(segment, y[:, 2].long())
    )


def hand_epochs(
    X: np.ndarray,
    y: np.ndarray,
    *,
    hidden: Sequence[int],
    batch_size: int,
    device: str = "cpu",
    seed: int = 0,
    data_on_device: bool = True,
    pin_memory: bool = False,
    precision: str | None = None,
    compile: bool = False,
    fused: bool = False,
) -> Iterator[float]:
    """Train :class:`PlainNet` with Adam, one epoch per ``next``; yield its seconds.

    The minimal loop a PyTorch user writes: tensors built once, a new permutation each
    epoch, index the rows of each batch, forward, loss, backward, step, and no
    ``.item()`` in the loop. On a GPU, ``data_on_device`` keeps the whole training set
    there; otherwise batches are gathered on the host, pinned when ``pin_memory`` (as
    ``DataLoader(pin_memory=True)`` does) and copied with ``non_blocking=True``.
    ``precision`` ("bf16" or "fp16", CUDA only for fp16) runs the forward pass under
    autocast, and ``compile`` applies ``torch.compile`` to the network. ``fused`` uses
    Adam's fused kernel (as the estimator does).
    """
    torch.manual_seed(seed)
    dev = torch.device(device)
    net: nn.Module = PlainNet(X.shape[1], hidden).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused or None)
    model = torch.compile(net) if compile else net
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y.astype(np.float32))
    if dev.type == "cuda" and data_on_device:
        X_t, y_t = X_t.to(dev), y_t.to(dev)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision or "")
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    n = X_t.shape[0]
    while True:
        _sync(dev)
        start = time.perf_counter()
        order = torch.randperm(n, device=X_t.device)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            xb = X_t[index]
            yb = y_t[index]
            if xb.device != dev:
                if pin_memory:
                    xb, yb = xb.pin_memory(), yb.pin_memory()
                xb = xb.to(dev, non_blocking=True)
                yb = yb.to(dev, non_blocking=True)
            optimizer.zero_grad()
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                outputs = model(xb)
            loss = plain_loss(tuple(o.float() for o in outputs), yb)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
        _sync(dev)
        yield time.perf_counter() - start


def hand_loop(X: np.ndarray, y: np.ndarray, *, epochs: int, **options) -> list[float]:
    """The seconds of each of ``epochs`` epochs of :func:`hand_epochs` (same options)."""
    return list(itertools.islice(hand_epochs(X, y, **options), epochs))


class ConcatNet(PlainNet):
    """:class:`PlainNet` with its outputs side by side, for plain skorch."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.cat(super().forward(X), dim=1)


class ConcatLoss(nn.Module):
    """:func:`plain_loss` on :class:`ConcatNet`'s output, as a skorch criterion."""

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return plain_loss((y_pred[:, :1], y_pred[:, 1:2], y_pred[:, 2:]), y_true)


def plain_skorch(hidden: Sequence[int], batch_size: int, epochs: int, n_features: int):
    """A plain ``skorch.NeuralNet`` with its default DataLoader over the same network."""
    from skorch import NeuralNet

    torch.manual_seed(0)
    return NeuralNet(
        ConcatNet,
        module__n_features=n_features,
        module__hidden=tuple(hidden),
        criterion=ConcatLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=batch_size,
        max_epochs=epochs,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
    )


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since the last :func:`reset_peak_rss`.

    Linux's ``VmHWM`` (which ``reset_peak_rss`` can reset); elsewhere the lifetime peak
    from ``getrusage``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset the peak resident memory to the current one (Linux); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: The estimator's parameters that make it the plain network of :func:`hand_loop` (the
#: defaults before the recipe of issue 18 became the default).
PLAIN = {
    "early_stopping": False,
    "numeric_embedding": None,
    "numeric_scaling": None,
    "architecture": "hard",
}


def estimator(hidden: Sequence[int], batch_size: int, epochs: int, **params):
    """A MultiTaskNetEstimator set up like :func:`hand_loop` (Adam, no weight decay, one
    run of a plain network: no early stopping, no input scaling or embedding, hard
    sharing). Of :data:`PLAIN`, only the parameters that the imported version of the
    package has are passed, so that an older checkout (``method_cost.py --against``)
    builds the same network."""
    import inspect

    from sklearn_mtl import MultiTaskNetEstimator

    accepted = inspect.signature(MultiTaskNetEstimator).parameters
    params.setdefault("tasks", dict(TASKS))
    for name, value in PLAIN.items():
        if name in accepted:
            params.setdefault(name, value)
    return MultiTaskNetEstimator(
        hidden_layer_sizes=tuple(hidden),
        batch_size=batch_size,
        max_epochs=epochs,
        lr=1e-3,
        alpha=0.0,
        random_state=0,
        **params,
    )


def epoch_times(fitted) -> list[float]:
    """Seconds of each epoch of a fitted estimator (skorch's ``dur``)."""
    history = fitted.history_ if hasattr(fitted, "history_") else fitted.history
    return [float(d) for d in history[:, "dur"]]


def best(times: Sequence[float], skip_first: bool = True) -> float:
    """The fastest epoch, leaving out the first (warm-up) when there are several.

    The machines these benchmarks run on are shared, so the minimum is the least noisy
    estimate of what an epoch costs.
    """
    values = list(times[1:] if skip_first and len(times) > 1 else times)
    return min(values)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--smoke`` flag every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds (for CI)")
    return parser


def header(title: str) -> None:
    """Print what ran, where and when."""
    print(f"# {title}")
    print(f"# command: python {shlex.join(sys.argv)}")
    print(f"# date: {datetime.date.today().isoformat()}")
    cpu = platform.processor() or platform.machine()
    print(
        f"# machine: {platform.system()} {cpu}, {os.cpu_count()} CPU(s); python "
        f"{platform.python_version()}, torch {torch.__version__}"
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    )
    print()


def print_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> None:
    """Print dict rows as a reStructuredText simple table (pasted into the docs as is)."""
    if not rows:
        print("(no rows)")
        return
    columns = list(columns or rows[0])
    cells = [[_format(row.get(column, "")) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    rule = "  ".join("=" * w for w in widths)
    print(rule)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print(rule)
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print(rule)
    print()


def _format(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.3f}"
        return f"{value:.4f}"
    return str(value)
