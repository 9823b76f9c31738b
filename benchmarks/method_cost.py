"""Cost of each loss weighting and architecture, relative to fixed weighting + hard sharing.

Every method of ``sklearn_mtl.weighting.WEIGHTINGS`` (with hard sharing) and every
architecture of ``sklearn_mtl.architectures.ARCHITECTURES`` (with fixed weighting), each
with its default parameters, is fitted on the same data (three tasks: regression,
binary, 5 classes) and network width; the table gives the fastest epoch (each fit's first
left out) and its ratio to ``fixed + hard``, timed in the same run. Gradient-level
methods pay one backward pass per task through the shared parameters, or, with
``gradient_on="representation"``, only down to the shared representation: both are
timed (``at ...`` names the non-default one). A method that fails is listed with its
error.

Usage::

    python benchmarks/method_cost.py
    python benchmarks/method_cost.py --smoke
"""

from __future__ import annotations

import torch
from _common import best, epoch_times, estimator, header, make_data, parser, print_table

from sklearn_mtl.architectures import ARCHITECTURES
from sklearn_mtl.weighting import GRADIENT_LEVEL, WEIGHTINGS


def seconds_per_epoch(X, y, args, **params) -> float:
    fitted = estimator(tuple(args.hidden), args.batch_size, args.epochs, **params).fit(X, y)
    return best(epoch_times(fitted))


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    header("Loss weightings and architectures: seconds per epoch relative to fixed + hard")
    X, y = make_data(args.n_samples)
    print(
        f"# {X.shape[0]:,} x {X.shape[1]} float32 rows, hidden {tuple(args.hidden)}, batch "
        f"{args.batch_size}, {args.threads} thread(s), {args.epochs} epochs per fit\n"
    )
    reference = seconds_per_epoch(X, y, args)
    rows = [{"what": "fixed + hard", "kind": "reference", "s/epoch": reference, "ratio": 1.0}]
    candidates = [
        (
            f"weighting {name}",
            "gradient" if name in GRADIENT_LEVEL else "loss",
            {"loss_weighting": name},
        )
        for name in WEIGHTINGS
        if name != "fixed"
    ]
    for name in GRADIENT_LEVEL:  # the other place to take the per-task gradients
        default = WEIGHTINGS[name]().get_params().get("gradient_on", "parameters")
        other = "parameters" if default == "representation" else "representation"
        candidates.append(
            (
                f"weighting {name} at {other}",
                "gradient",
                {"loss_weighting": WEIGHTINGS[name](gradient_on=other)},
            )
        )
    candidates += [
        (f"architecture {name}", "architecture", {"architecture": name})
        for name in ARCHITECTURES
        if name != "hard"
    ]
    for what, kind, params in candidates:
        try:
            seconds = seconds_per_epoch(X, y, args, **params)
        except Exception as error:  # report and go on: one broken method hides no other
            rows.append(
                {"what": what, "kind": kind, "s/epoch": "error", "ratio": type(error).__name__}
            )
            print(f"# {what}: {type(error).__name__}: {error}", flush=True)
            continue
        rows.append({"what": what, "kind": kind, "s/epoch": seconds, "ratio": seconds / reference})
        print(f"# done: {what}", flush=True)
    # The reference again at the end: the fastest of both runs, so that the load of a
    # shared machine at the start does not set every ratio.
    rows[0]["s/epoch"] = reference = min(reference, seconds_per_epoch(X, y, args))
    for row in rows[1:]:
        if isinstance(row["s/epoch"], float):
            row["ratio"] = row["s/epoch"] / reference
    print()
    print_table(rows)


def _parse():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-samples", type=int, default=20_000)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3, help="epochs per fit (the first is left out)")
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.hidden, args.epochs = 600, [16], 2
    return args


if __name__ == "__main__":
    main()
