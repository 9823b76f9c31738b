"""GPU training: the estimator against the hand-written loop on the same GPU.

For batch sizes 1,024 to 65,536 on 1,000,000 x 100 float32 rows (three tasks, hidden
layers (256, 256)), samples per second of the fastest epoch (each fit's first, which
holds the compilation, left out) and the mean GPU utilisation during the fit, for

- ``hand``: the hand-written loop with the whole training set on the GPU;
- ``hand pageable`` / ``hand pinned``: the same loop gathering batches on the host and
  copying them with ``non_blocking=True``, from pageable or pinned memory;
- ``hand bf16`` / ``hand compile``: autocast to bfloat16 / ``torch.compile``;
- ``estimator``: ``MultiTaskNetEstimator(device="cuda")`` (it keeps the training set on
  the GPU when it takes under half the free memory, as here);
- ``estimator bf16`` / ``estimator fp16`` / ``estimator compile``: its ``precision`` and
  ``compile`` options.

Without a CUDA device the full run exits with a message; ``--smoke`` then runs the same
code on the CPU with tiny sizes (leaving out what needs CUDA) so that it does not rot.

Usage::

    python benchmarks/gpu.py
    python benchmarks/gpu.py --batch-sizes 4096 --n-samples 200000
    python benchmarks/gpu.py --smoke
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import torch
from _common import best, epoch_times, estimator, hand_loop, header, make_data, parser, print_table


class Utilisation:
    """Mean GPU utilisation (percent, from NVML) sampled every 50 ms while active."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.samples: list[float] = []
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.samples.append(float(torch.cuda.utilization()))
            except Exception:  # no NVML: report n/a
                return

    def __enter__(self) -> Utilisation:
        if self.enabled:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()

    @property
    def mean(self) -> float | str:
        return sum(self.samples) / len(self.samples) if self.samples else "n/a"


def contenders(X, y, args, device: str) -> dict[str, Callable[[int], list[float]]]:
    """Name -> function of the batch size returning the seconds of each epoch."""
    hidden, epochs, cuda = tuple(args.hidden), args.epochs, device.startswith("cuda")

    def hand(**options):
        return lambda batch: hand_loop(
            X, y, hidden=hidden, batch_size=batch, epochs=epochs, device=device, **options
        )

    def fit(**options):
        def run(batch: int) -> list[float]:
            model = estimator(hidden, batch, epochs, device=device, **options).fit(X, y)
            return epoch_times(model)

        return run

    table = {
        "hand": hand(),
        "hand bf16": hand(precision="bf16"),
        "estimator": fit(),
        "estimator bf16": fit(precision="bf16"),
    }
    if cuda:
        table.update(
            {
                "hand pageable": hand(data_on_device=False),
                "hand pinned": hand(data_on_device=False, pin_memory=True),
                "hand compile": hand(compile=True),
                "estimator fp16": fit(precision="fp16"),
                "estimator compile": fit(compile=True),
            }
        )
    return table


def main() -> None:
    args = _parse()
    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        sys.exit("gpu.py: no CUDA device here; the GPU benchmark was not run (try --smoke).")
    device = "cuda" if cuda else "cpu"
    header(f"GPU training: samples per second on {device}")
    X, y = make_data(args.n_samples)
    print(
        f"# {X.shape[0]:,} x {X.shape[1]} float32 rows, hidden {tuple(args.hidden)}, "
        f"{args.epochs} epochs per fit, fastest epoch after the first\n"
    )
    table = contenders(X, y, args, device)
    rows = []
    for batch in args.batch_sizes:
        reference = None
        for name, run in table.items():
            with Utilisation(cuda) as utilisation:
                start = time.perf_counter()
                seconds = best(run(batch))
                wall = time.perf_counter() - start
            reference = reference or seconds
            rows.append(
                {
                    "batch": batch,
                    "contender": name,
                    "samples/s": X.shape[0] / seconds,
                    "s/epoch /hand": seconds / reference,
                    "GPU util %": utilisation.mean,
                    "fit wall s": wall,
                }
            )
            print(f"# done: batch {batch}, {name}", flush=True)
    print()
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=1_000_000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    p.add_argument("--epochs", type=int, default=3, help="epochs per fit (the first is left out)")
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.hidden, args.batch_sizes, args.epochs = 2_000, [16], [512], 2
    return args


if __name__ == "__main__":
    main()
