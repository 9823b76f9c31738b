"""Memory of ``fit`` on a float32 memmap, against the same array loaded in memory.

Writes an (n_rows x n_features) float32 file to a temporary folder, then, in a fresh
process per mode, fits one epoch of ``MultiTaskNetEstimator`` on it: ``memmap`` passes
the ``np.memmap`` (read batch by batch), ``inmemory`` loads it first with ``np.array``.
Reports the process's anonymous resident memory (its own allocations, ``RssAnon``)
before ``fit`` and its peak during ``fit`` (sampled every 20 ms), the peak resident set
(``VmHWM``, which also counts the file's pages in the page cache) and the fit time.

    python benchmarks/memmap_memory.py                 # 1,000,000 x 200 (763 MiB)
    python benchmarks/memmap_memory.py --smoke
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, mode: str, n_rows: int, n_features: int) -> None:
    """Fit on the file in this process and print one JSON line."""
    import torch

    from sklearn_mtl import MultiTaskNetEstimator

    torch.set_num_threads(1)
    peak = {"anon": 0.0}

    def sample() -> None:
        while True:
            peak["anon"] = max(peak["anon"], _status_mib("RssAnon:"))
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, n_features))
    if mode == "inmemory":
        X = np.array(X)
    y = np.asarray(X[:, 0] + X[:, 1] > 0, dtype=float)
    time.sleep(0.1)
    before = _status_mib("RssAnon:")
    start = time.perf_counter()
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(64,), max_epochs=1, batch_size=4096, random_state=0
    )
    est.fit(X, y)
    seconds = time.perf_counter() - start
    time.sleep(0.1)
    row = {
        "X": "memmap (read batch by batch)" if mode == "memmap" else "loaded in memory",
        "anon MiB before fit": round(before),
        "anon MiB peak in fit": round(peak["anon"]),
        "VmHWM MiB": round(_status_mib("VmHWM:")),
        "fit s": round(seconds, 1),
    }
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="20,000 x 20 rows")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.features = 20_000, 20
    if args.child:
        child(args.child[0], args.child[1], args.rows, args.features)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "X.f32"
        X = np.memmap(path, dtype=np.float32, mode="w+", shape=(args.rows, args.features))
        rng = np.random.default_rng(0)
        for start in range(0, args.rows, 100_000):
            stop = min(start + 100_000, args.rows)
            X[start:stop] = rng.standard_normal((stop - start, args.features), dtype=np.float32)
        X.flush()
        del X
        size = args.rows * args.features * 4 / 2**20
        print(
            f"# {args.rows:,} x {args.features} float32 memmap ({size:.0f} MiB), "
            "hidden (64,), one epoch, batch 4096, 1 thread"
        )
        for mode in ("memmap", "inmemory"):
            command = [
                sys.executable,
                __file__,
                "--rows",
                str(args.rows),
                "--features",
                str(args.features),
                "--child",
                str(path),
                mode,
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            print(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
