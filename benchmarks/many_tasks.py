"""Many tasks: the estimator against a hand-written loop with one fused head, K = 1 to 1,000.

``n_samples x 50`` float32 rows, one hidden layer of 256 ReLU units, K regression tasks
(standardised targets, half the labels missing at random), Adam (lr 1e-3, no weight
decay), batch 256, 1 epoch, no validation, one thread. The estimator's parameters are
set explicitly (``PLAIN_NETWORK``: hard sharing, X unscaled, no numeric embedding, no
early stopping), so that it builds the hand loop's network whatever its defaults. The
reference is what a PyTorch user writes for many tasks: tensors built once, one
``Linear(256, K)`` for all heads and a masked mean squared error per task, summed. Each
round times, for every K, the hand loop and ``MultiTaskNetEstimator.fit`` (everything:
validation, target encoding, network construction and the epoch) back to back,
alternating which goes first; the table gives the median over rounds, the median of
the per-round ratios of CPU times (the process's user and system time: on a shared
machine, wall times mostly measure the wait for a core) and the peak resident memory a
fit added. A second table gives the cost of gradient-level weightings relative to a
fixed-weighting fit in the same round, at K = 10 and 100 on ``--gradient-samples``
rows: the epoch's wall time (from the history) and its CPU time; a method is an alias
(its default ``gradient_on``) or ``alias@parameters`` / ``alias@representation``.

Usage::

    python benchmarks/many_tasks.py
    python benchmarks/many_tasks.py --tasks 1 10 100 --rounds 3
    python benchmarks/many_tasks.py --smoke
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from _common import epoch_times, header, parser, peak_rss_bytes, print_table, reset_peak_rss
from skorch.callbacks import Callback
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._registry import WEIGHTINGS


def make_data(n_samples: int, n_tasks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float32 X (n_samples, 50) and K standardised regression targets, half NaN."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 50), dtype=np.float32)
    latent = X @ rng.standard_normal((50, 8), dtype=np.float32) / np.sqrt(50)
    y = latent @ rng.standard_normal((8, n_tasks)) + 0.3 * rng.standard_normal((n_samples, n_tasks))
    y = (y - y.mean(axis=0)) / y.std(axis=0)
    y[rng.random(y.shape) < 0.5] = np.nan
    return X, y


def hand_fit(X: np.ndarray, y: np.ndarray, hidden: int, batch_size: int, seed: int = 0) -> float:
    """Seconds of one epoch of the fused hand-written loop, set-up included."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    n_tasks = y.shape[1]
    net = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_tasks))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y.astype(np.float32))
    order = torch.randperm(len(X_t))
    for begin in range(0, len(X_t), batch_size):
        index = order[begin : begin + batch_size]
        xb, yb = X_t[index], y_t[index]
        mask = ~torch.isnan(yb)
        errors = torch.where(mask, net(xb) - torch.nan_to_num(yb), 0.0) ** 2
        loss = (errors.sum(dim=0) / mask.sum(dim=0).clamp(min=1)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


PLAIN_NETWORK = {
    "architecture": "hard",
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": False,
    "head_layer_sizes": (),
    "numeric_embedding": None,
    "wide": False,
    "ensemble_size": 1,
    "numeric_scaling": None,
    "optimizer": "adam",
    "lr": 1e-3,
    "lr_schedule": "constant",
    "alpha": 0.0,
    "early_stopping": False,
    "loss_weighting": "fixed",
}
"""The estimator's parameters measured, whatever its defaults: the network of the
hand-written loop (one ReLU hidden layer, one linear head per task, X as given, Adam
without weight decay, every row trained on, no validation split)."""


def weighting(method: str):
    """A loss weighting from ``alias`` or ``alias@gradient_on``."""
    alias, _, gradient_on = method.partition("@")
    return WEIGHTINGS[alias](gradient_on=gradient_on) if gradient_on else alias


def estimator(hidden: int, batch_size: int, **params) -> MultiTaskNetEstimator:
    return MultiTaskNetEstimator(
        **{
            **PLAIN_NETWORK,
            "hidden_layer_sizes": (hidden,),
            "batch_size": batch_size,
            "max_epochs": 1,
            "random_state": 0,
            **params,
        }
    )


class EpochCPU(Callback):
    """Records ``cpu`` in the history: the CPU seconds of the process during the epoch."""

    def on_epoch_begin(self, net, **kwargs):
        self.start_ = time.process_time()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("cpu", time.process_time() - self.start_)


def timed(function) -> tuple[float, float, float, object]:
    """(seconds, CPU seconds, peak resident MiB added, result) of ``function()``.

    The CPU time of the process (user and system, one thread) leaves out the time spent
    waiting for a core, which dominates wall times on a shared machine."""
    reset_peak_rss()
    before = peak_rss_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, (peak_rss_bytes() - before) / 2**20, result


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    header("Many tasks: the estimator against a hand-written loop with one fused head")
    print(f"# estimator parameters: {PLAIN_NETWORK}")
    print(
        f"# {args.n_samples:,} x 50 float32 rows, hidden ({args.hidden},), batch "
        f"{args.batch_size}, 1 epoch, {args.threads} thread(s), half the labels missing; "
        f"median of {args.rounds} interleaved rounds\n"
    )
    data = {k: make_data(args.n_samples, k) for k in args.tasks}
    warm_X, warm_y = make_data(300, 2)  # first-use costs (lazy imports) out of the timings
    hand_fit(warm_X, warm_y, args.hidden, args.batch_size)
    estimator(args.hidden, args.batch_size).fit(warm_X, warm_y)
    keys = ["hand", "fit", "hand cpu", "fit cpu", "epoch", "hand MiB", "fit MiB"]
    times: dict[int, dict[str, list[float]]] = {k: {key: [] for key in keys} for k in args.tasks}
    for round_ in range(args.rounds):
        for k in args.tasks:
            X, y = data[k]
            runs = [
                ("hand", lambda X=X, y=y: hand_fit(X, y, args.hidden, args.batch_size)),
                ("fit", lambda X=X, y=y: estimator(args.hidden, args.batch_size).fit(X, y)),
            ]
            for name, function in runs if round_ % 2 == 0 else runs[::-1]:
                seconds, cpu, mib, result = timed(function)
                times[k][name].append(seconds)
                times[k][f"{name} cpu"].append(cpu)
                times[k][f"{name} MiB"].append(mib)
                if name == "fit":
                    times[k]["epoch"].append(epoch_times(result)[0])
    rows = []
    for k in args.tasks:
        hand, fit = statistics.median(times[k]["hand"]), statistics.median(times[k]["fit"])
        rows.append(
            {
                "K": k,
                "fused loop s": hand,
                "estimator fit s": fit,
                "ratio": fit / hand,
                "epoch s": statistics.median(times[k]["epoch"]),
                "spread fit/loop": _spread(times[k]["fit"], times[k]["hand"]),
                "CPU ratio": statistics.median(
                    f / h for f, h in zip(times[k]["fit cpu"], times[k]["hand cpu"], strict=True)
                ),
                "CPU spread": _spread(times[k]["fit cpu"], times[k]["hand cpu"]),
                "loop MiB": max(times[k]["hand MiB"]),
                "fit MiB": max(times[k]["fit MiB"]),
            }
        )
    print_table(rows)
    gradient_rows = []
    for k in args.gradient_tasks:
        X, y = make_data(args.gradient_samples, k)
        epochs: dict[str, list[tuple[float, float]]] = {}
        for _ in range(max(1, args.rounds // 2)):
            for method in ["fixed", *args.methods]:
                fitted = estimator(
                    args.hidden, args.batch_size, loss_weighting=weighting(method),
                    callbacks=[("cpu", EpochCPU())],
                ).fit(X, y)  # fmt: skip
                row = fitted.history_[0]
                epochs.setdefault(method, []).append((row["dur"], row["cpu"]))
        fixed = [statistics.median(times) for times in zip(*epochs["fixed"], strict=True)]
        for method in args.methods:
            wall, cpu = (statistics.median(times) for times in zip(*epochs[method], strict=True))
            gradient_rows.append(
                {"K": k, "method": method, "epoch s": wall, "fixed epoch s": fixed[0],
                 "ratio": wall / fixed[0], "epoch CPU s": cpu, "fixed CPU s": fixed[1],
                 "CPU ratio": cpu / fixed[1]}
            )  # fmt: skip
    if gradient_rows:
        print(
            f"# gradient-level weightings, {args.gradient_samples:,} "
            "rows, epoch relative to fixed\n"
        )
        print_table(gradient_rows)


def _spread(fits: list[float], hands: list[float]) -> str:
    ratios = [f / h for f, h in zip(fits, hands, strict=True)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=20_000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 10, 100, 300, 1000])
    p.add_argument("--gradient-tasks", type=int, nargs="*", default=[10, 100])
    p.add_argument("--gradient-samples", type=int, default=5_000)
    p.add_argument("--methods", nargs="*", default=["pcgrad", "mgda", "pcgrad@representation"])
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.rounds, args.tasks = 600, 1, [1, 30]
        args.gradient_tasks, args.methods, args.gradient_samples = [5], ["pcgrad"], 600
    return args


if __name__ == "__main__":
    main()
