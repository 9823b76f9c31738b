"""Memory and scale: peak memory of ``fit`` and how an epoch's time grows with the rows.

Each size runs in a fresh Python process, which draws float32 X (n x 100, in blocks, so
that no float64 copy exists) and the three task columns, records its resident memory,
fits the estimator for ``--epochs`` epochs (after a tiny fit that brings in every lazy
import, so that those are not counted as the data's) and reports the peak resident memory
during ``fit``: Linux's ``VmHWM``, reset once the data is drawn, because drawing it has a
transient peak of its own (an earlier version of this script counted it as fit's).
``fit overhead`` is the peak minus the memory before ``fit`` (X and y already there):
what ``fit`` itself adds. ``peak / X`` is the peak minus the memory of the process before
the data was drawn (Python, torch, the package), divided by the size of X: the whole cost
of the data and of training on it, goal at most 2. ``us/row`` is the fastest epoch's
seconds per row: constant when time grows linearly.

Usage::

    python benchmarks/memory_scale.py                         # 10k ... 2M rows
    python benchmarks/memory_scale.py --sizes 2000000         # the 0.8 GB fit only
    python benchmarks/memory_scale.py --smoke
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import torch
from _common import (
    best,
    epoch_times,
    estimator,
    header,
    make_data,
    parser,
    peak_rss_bytes,
    print_table,
    reset_peak_rss,
    rss_bytes,
)

MB = 1024**2


def child(n_samples: int, args) -> None:
    """Measure one size in this process; print one JSON line."""
    torch.set_num_threads(args.threads)
    # A tiny fit first, so that lazy imports and allocator set-up are in the baseline.
    estimator(tuple(args.hidden), 64, 1).fit(*make_data(200))
    base = rss_bytes()
    X, y = make_data(n_samples)
    # Drawing the data has its own transient peak: measure fit's peak from here on.
    reset_peak_rss()
    before_fit = rss_bytes()
    start = time.perf_counter()
    fitted = estimator(tuple(args.hidden), args.batch_size, args.epochs).fit(X, y)
    total = time.perf_counter() - start
    peak = peak_rss_bytes()
    print(
        json.dumps(
            {
                "rows": n_samples,
                "X MB": X.nbytes / MB,
                "fit overhead MB": (peak - before_fit) / MB,
                "peak / X": (peak - base) / X.nbytes,
                "fit s": total,
                "s/epoch": best(epoch_times(fitted)),
            }
        )
    )


def main() -> None:
    args = _parse()
    if args.child is not None:
        child(args.child, args)
        return
    header("Memory and scale: peak resident memory of fit, time per row")
    print(
        f"# float32 X of n x 100, hidden {tuple(args.hidden)}, batch {args.batch_size}, "
        f"{args.threads} thread(s), {args.epochs} epoch(s), one process per size\n"
    )
    rows = []
    for n_samples in args.sizes:
        command = [sys.executable, __file__, "--child", str(n_samples)]
        command += ["--hidden", *map(str, args.hidden), "--batch-size", str(args.batch_size)]
        command += ["--threads", str(args.threads), "--epochs", str(args.epochs)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"memory_scale.py: the run with {n_samples} rows failed:\n{result.stderr}")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["us/row"] = row["s/epoch"] / n_samples * 1e6
        rows.append(row)
        print(f"# done: {n_samples:,} rows", flush=True)
    print()
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 500_000, 2_000_000])
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--child", type=int, default=None, help=argparse_suppress())
    args = p.parse_args()
    if args.smoke:
        args.sizes, args.hidden, args.epochs = [1_000, 4_000], [16], 2
    return args


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
