"""Thread count and a busy core: one fit with torch's default threads against n_threads=1.

A small table (regression, binary and 5-class tasks; default network of 100 units,
batch 256) is fitted with ``n_threads`` = each value of ``--threads`` (``0`` stands for
None, torch's default: one thread per core), in interleaved rounds, while ``--busy``
other processes each keep a core busy with a Python loop (as another user's job on a
shared machine does). The table gives the median fit time of each setting and its
ratio to ``n_threads=1``.

Usage::

    python benchmarks/threads.py
    python benchmarks/threads.py --busy 0
    python benchmarks/threads.py --smoke
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
import warnings

import torch
from _common import TASKS, header, make_data, parser, print_table
from sklearn.exceptions import ConvergenceWarning

from sklearn_mtl import MultiTaskNetEstimator


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def fit_seconds(X, y, n_threads: int | None, epochs: int) -> float:
    est = MultiTaskNetEstimator(
        tasks=dict(TASKS), max_epochs=epochs, random_state=0, n_threads=n_threads
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a timing run of few epochs
        est.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    args = _parse()
    header("A busy core: fit time by n_threads")
    X, y = make_data(args.n_samples, n_features=20)
    settings = [None if t == 0 else t for t in args.threads]
    print(
        f"# {args.n_samples:,} x 20 float32 rows, 3 tasks, hidden (100,), batch 256, "
        f"{args.epochs} epochs; {args.busy} busy process(es); {os.cpu_count()} CPU(s); "
        f"torch's default {torch.get_num_threads()} thread(s); median of {args.rounds} "
        "interleaved rounds\n"
    )
    fit_seconds(X[:300], y[:300], 1, 1)  # first-use costs out of the timings
    stop = multiprocessing.Event()
    busy = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(args.busy)]
    for process in busy:
        process.start()
    times: dict[int | None, list[float]] = {s: [] for s in settings}
    try:
        for round_ in range(args.rounds):
            order = settings if round_ % 2 == 0 else settings[::-1]
            for setting in order:
                times[setting].append(fit_seconds(X, y, setting, args.epochs))
    finally:
        stop.set()
        for process in busy:
            process.join()
    one = statistics.median(times[1]) if 1 in times else float("nan")
    rows = [
        {
            "n_threads": "None (default)" if s is None else s,
            "fit s (median)": statistics.median(times[s]),
            "min-max": f"{min(times[s]):.2f}-{max(times[s]):.2f}",
            "/ n_threads=1": statistics.median(times[s]) / one,
        }
        for s in settings
    ]
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=5_000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--busy", type=int, default=1, help="processes that keep a core busy")
    p.add_argument("--threads", type=int, nargs="+", default=[0, 1], help="0 means None")
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.epochs, args.rounds, args.busy = 400, 1, 1, 0
    return args


if __name__ == "__main__":
    main()
