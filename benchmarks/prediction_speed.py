"""Prediction speed: ``predict`` against the raw forward pass of the same network.

``predict`` on 100,000 rows (validation of X, forward pass in chunks, decoding of each
task: the regression value, the binary label, the arg-max class) is compared with one
raw ``module(X)`` call on a tensor of the same rows under ``torch.inference_mode``; the
latency of a one-row ``predict`` is printed next to the raw forward of one row (the gap
is input validation and decoding). Both are timed in turn, the fastest of ``--repeats``
runs reported.

Usage::

    python benchmarks/prediction_speed.py
    python benchmarks/prediction_speed.py --smoke
"""

from __future__ import annotations

import time

import torch
from _common import estimator, header, make_data, parser, print_table


def fastest(function, repeats: int) -> float:
    """Fastest of ``repeats`` calls, in seconds."""
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = _parse()
    header("Prediction: predict against the raw forward pass")
    X, y = make_data(args.n_samples)
    hidden = tuple(args.hidden)
    # The weights do not change the cost: one epoch on a few rows is enough.
    fitted = estimator(hidden, 256, 1).fit(X[:2000], y[:2000])
    module = fitted.net_.module_.eval()
    X_tensor = torch.from_numpy(X)
    one_row, one_tensor = X[:1], X_tensor[:1]

    def raw(rows: torch.Tensor):
        with torch.inference_mode():
            return module(rows)

    print(f"# {X.shape[0]:,} x {X.shape[1]} float32 rows, hidden {hidden}\n")
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        raw_all = fastest(lambda: raw(X_tensor), args.repeats)
        predict_all = fastest(lambda: fitted.predict(X), args.repeats)
        proba_all = fastest(lambda: fitted.predict_proba(X), args.repeats)
        raw_one = fastest(lambda: raw(one_tensor), args.repeats_one)
        predict_one = fastest(lambda: fitted.predict(one_row), args.repeats_one)
        rows.append(
            {
                "threads": threads,
                "raw forward s": raw_all,
                "predict s": predict_all,
                "predict /raw": predict_all / raw_all,
                "predict_proba /raw": proba_all / raw_all,
                "raw 1 row us": raw_one * 1e6,
                "predict 1 row us": predict_one * 1e6,
            }
        )
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=100_000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--repeats-one", type=int, default=300)
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.hidden, args.threads = 3_000, [16], [1]
        args.repeats, args.repeats_one = 2, 20
    return args


if __name__ == "__main__":
    main()
