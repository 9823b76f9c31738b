"""Training speed: the estimator against a hand-written PyTorch loop, side by side.

On the same synthetic data (100,000 x 100 float32 rows, a regression, a binary and a
5-class task), the same network (hidden layers (256, 256), one linear head per task),
the same batch size, Adam (lr 1e-3, no weight decay), shuffling and no validation, this
measures the seconds per epoch of

- ``hand``: the minimal hand-written loop (``_common.hand_loop``), Adam's default kernel;
- ``hand fused``: the same loop with ``Adam(fused=True)``, as the estimator uses;
- ``estimator``: ``MultiTaskNetEstimator`` (``alpha=0``);
- ``skorch``: a plain ``skorch.NeuralNet`` with its default ``DataLoader``;
- ``3 single``: three single-task estimators, one per task (their epochs summed),

for each batch size and number of torch threads, and prints each one's ratio to
``hand``. Each contender is timed in turn, ``--rounds`` times; the table reports the
fastest epoch (leaving out each fit's first), the least noisy estimate on a shared
machine.

A second table compares ``estimator`` with ``hand`` and ``hand fused`` in *paired
epochs*: the three train side by side, one epoch each in turn (the estimator through
``partial_fit``), ``--pairs`` times, in a rotating order; it reports the median and the
quartiles of the per-round ratios. Where the machine's speed drifts (on a small shared
VM an epoch can take 0.6 s for a minute and 0.9 s the next), the fastest-epoch figures
of fits run seconds apart can disagree by far more than the gap being measured; a
ratio of epochs run back to back cancels most of that drift.

Usage::

    python benchmarks/training_speed.py                      # the full measurement
    python benchmarks/training_speed.py --smoke              # tiny sizes, seconds
    python benchmarks/training_speed.py --batch-sizes 256 --threads 1 --epochs 4
"""

from __future__ import annotations

import numpy as np
import torch
from _common import (
    TASKS,
    best,
    epoch_times,
    estimator,
    hand_epochs,
    hand_loop,
    header,
    make_data,
    parser,
    plain_skorch,
    print_table,
)

CONTENDERS = ("hand", "hand fused", "estimator", "skorch", "3 single")


def measure(X, y, hidden, batch_size: int, epochs: int, rounds: int) -> dict[str, float]:
    """Fastest epoch (seconds) of each contender over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    y32 = y.astype("float32")
    for _ in range(rounds):
        times["hand"].append(
            best(hand_loop(X, y, hidden=hidden, batch_size=batch_size, epochs=epochs))
        )
        times["hand fused"].append(
            best(hand_loop(X, y, hidden=hidden, batch_size=batch_size, epochs=epochs, fused=True))
        )
        fitted = estimator(hidden, batch_size, epochs).fit(X, y)
        times["estimator"].append(best(epoch_times(fitted)))
        net = plain_skorch(hidden, batch_size, epochs, X.shape[1]).fit(X, y32)
        times["skorch"].append(best(epoch_times(net)))
        single = 0.0
        for column, kind in enumerate(TASKS.values()):
            one = estimator(hidden, batch_size, epochs, tasks=[kind]).fit(X, y[:, column])
            single += best(epoch_times(one))
        times["3 single"].append(single)
    return {name: min(values) for name, values in times.items()}


def paired(X, y, hidden, batch_size: int, pairs: int) -> dict[str, float]:
    """Per-round epoch ratios of the estimator to both hand loops, epochs run in turn."""
    loops = {
        "hand": hand_epochs(X, y, hidden=hidden, batch_size=batch_size),
        "hand fused": hand_epochs(X, y, hidden=hidden, batch_size=batch_size, fused=True),
    }
    model = estimator(hidden, batch_size, 1)

    def epoch(name: str) -> float:
        if name == "estimator":
            return float(model.partial_fit(X, y).history_[-1, "dur"])
        return next(loops[name])

    names = ("hand", "hand fused", "estimator")
    for name in names:  # warm-up epochs, left out
        epoch(name)
    ratios: dict[str, list[float]] = {"hand": [], "hand fused": []}
    for round_ in range(pairs):
        order = names[round_ % 3 :] + names[: round_ % 3]
        seconds = {name: epoch(name) for name in order}
        for name in ratios:
            ratios[name].append(seconds["estimator"] / seconds[name])
    row: dict = {}
    for name, values in ratios.items():
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        row[f"estimator /{name} median"] = float(median)
        row[f"/{name} q1-q3"] = f"{q1:.3f}-{q3:.3f}"
    return row


def main() -> None:
    args = _parse()
    header("Training: seconds per epoch, and ratio to the hand-written loop")
    X, y = make_data(args.n_samples)
    hidden = tuple(args.hidden)
    print(
        f"# {X.shape[0]:,} x {X.shape[1]} float32 rows, tasks {list(TASKS.values())}, hidden "
        f"{hidden}, {args.epochs} epochs per fit, best of {args.rounds} round(s)\n"
    )
    print_rows(args, lambda size: ratios(measure(X, y, hidden, size, args.epochs, args.rounds)))

    print(f"# Paired epochs: {args.pairs} rounds of one epoch each, in rotating order\n")
    print_rows(args, lambda size: paired(X, y, hidden, size, args.pairs))


def ratios(seconds: dict[str, float]) -> dict:
    """The fastest-epoch table's row: ``hand``'s seconds and every contender's ratio."""
    row: dict = {"hand s/epoch": seconds["hand"]}
    for name in CONTENDERS[1:]:
        row[f"{name} /hand"] = seconds[name] / seconds["hand"]
    row["estimator /hand fused"] = seconds["estimator"] / seconds["hand fused"]
    return row


def print_rows(args, measure_row) -> None:
    """One row per thread count and batch size, from ``measure_row(batch_size)``."""
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch_size in args.batch_sizes:
            row = {"threads": threads, "batch": batch_size, **measure_row(batch_size)}
            rows.append(row)
            print(f"# done: {row}", flush=True)
    print()
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=100_000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--epochs", type=int, default=3, help="epochs per fit (the first is left out)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pairs", type=int, default=24, help="rounds of the paired-epoch table")
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.hidden, args.batch_sizes = 2_000, [16], [256]
        args.threads, args.epochs, args.rounds, args.pairs = [1], 2, 1, 3
    return args


if __name__ == "__main__":
    main()
