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

``--against DIR`` compares the loss weightings with another checkout of the package
instead (e.g. ``git worktree add /tmp/old e337d0e``): one worker process per checkout,
each fitting the same data with the same parameters, the fits interleaved (the order of
the two alternating from one method and round to the next); the table gives each side's
fastest epoch over ``--rounds`` rounds, their ratio, and the median and range of the
per-round ratios (each round's fastest epoch of this checkout over the other's: the
paired figure, robust to the load of a shared machine), and the same for the process's
CPU seconds of an epoch (which leave out the wait for a core). ``--only`` limits it to
some weightings.

Usage::

    python benchmarks/method_cost.py
    python benchmarks/method_cost.py --smoke
    nice -n 10 python benchmarks/method_cost.py --against /tmp/old --rounds 3
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from _common import best, epoch_times, estimator, header, make_data, parser, print_table

from sklearn_mtl.architectures import ARCHITECTURES
from sklearn_mtl.weighting import GRADIENT_LEVEL, WEIGHTINGS

ROOT = Path(__file__).resolve().parent.parent

# A worker fitting one weighting per line of its input, with the package of the checkout
# given as its first argument (the benchmark helpers are this checkout's).
_WORKER = r"""
import json, sys, time
root, benchmarks, threads, n_samples, hidden, batch_size, epochs = sys.argv[1:8]
sys.path[:0] = [root, benchmarks]
import torch
from skorch.callbacks import Callback
torch.set_num_threads(int(threads))
from _common import best, epoch_times, estimator, make_data
from sklearn_mtl.weighting import WEIGHTINGS

CPU_SECONDS = []  # of each epoch of the last fit (the estimator clones its callbacks)

class CPUTime(Callback):
    def on_epoch_begin(self, net, **kwargs):
        self.start = time.process_time()
    def on_epoch_end(self, net, **kwargs):
        CPU_SECONDS.append(time.process_time() - self.start)
X, y = make_data(int(n_samples))
for line in sys.stdin:
    spec = json.loads(line)
    try:
        extra = {"gradient_on": spec["gradient_on"]} if spec.get("gradient_on") else {}
        weighting = WEIGHTINGS[spec["weighting"]](**extra)
        CPU_SECONDS.clear()
        fitted = estimator(json.loads(hidden), int(batch_size), int(epochs),
                           loss_weighting=weighting, early_stopping=False,
                           callbacks=[CPUTime()]).fit(X, y)
        print(json.dumps({"seconds": best(epoch_times(fitted)), "cpu": best(CPU_SECONDS)}),
              flush=True)
    except Exception as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
"""


def seconds_per_epoch(X, y, args, **params) -> float:
    fitted = estimator(tuple(args.hidden), args.batch_size, args.epochs, **params).fit(X, y)
    return best(epoch_times(fitted))


def _specs() -> list[tuple[str, dict]]:
    specs = [(f"weighting {name}", {"weighting": name}) for name in WEIGHTINGS]
    for name in GRADIENT_LEVEL:
        default = WEIGHTINGS[name]().get_params().get("gradient_on", "parameters")
        other = "parameters" if default == "representation" else "representation"
        specs.append((f"weighting {name} at {other}", {"weighting": name, "gradient_on": other}))
    return specs


def compare(args) -> None:
    """This checkout against ``args.against``, interleaved (see the module docstring)."""
    header(f"Loss weightings: seconds per epoch, this checkout against {args.against}")
    print(
        f"# {args.n_samples:,} rows x 100 float32 features, hidden {tuple(args.hidden)}, "
        f"batch {args.batch_size}, {args.threads} thread(s), {args.epochs} epochs per fit, "
        f"{args.rounds} rounds\n"
    )
    sides = {"this": ROOT, "against": Path(args.against).resolve()}
    workers = {
        side: subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), str(ROOT / "benchmarks")]
            + [str(v) for v in (args.threads, args.n_samples)]
            + [json.dumps(list(args.hidden)), str(args.batch_size), str(args.epochs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        for side, root in sides.items()
    }
    specs = [(w, spec) for w, spec in _specs() if not args.only or spec["weighting"] in args.only]
    times: dict[str, dict[str, list[float]]] = {what: {s: [] for s in sides} for what, _ in specs}
    cpu: dict[str, dict[str, list[float]]] = {what: {s: [] for s in sides} for what, _ in specs}
    errors: dict[str, str] = {}
    try:
        for round_ in range(args.rounds):
            for index, (what, spec) in enumerate(specs):
                order = list(sides) if (round_ + index) % 2 == 0 else list(sides)[::-1]
                for side in order:
                    worker = workers[side]
                    assert worker.stdin is not None and worker.stdout is not None
                    worker.stdin.write(json.dumps(spec) + "\n")
                    worker.stdin.flush()
                    answer = json.loads(worker.stdout.readline())
                    if "error" in answer:
                        errors[what] = f"{side}: {answer['error']}"
                    else:
                        times[what][side].append(answer["seconds"])
                        cpu[what][side].append(answer["cpu"])
            print(f"# after round {round_ + 1} of {args.rounds}:", flush=True)
            _comparison_table(specs, times, cpu, errors)
    finally:
        for worker in workers.values():
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait()


def _comparison_table(specs, times, cpu, errors) -> None:
    rows = []
    for what, _ in specs:
        this, against = times[what]["this"], times[what]["against"]
        if what in errors or not this or len(this) != len(against):
            rows.append({"what": what, "this s/epoch": "error", "ratio": errors.get(what, "")})
            continue
        per_round = sorted(a / b for a, b in zip(this, against, strict=True))
        cpu_rounds = sorted(
            a / b for a, b in zip(cpu[what]["this"], cpu[what]["against"], strict=True)
        )
        rows.append(
            {
                "what": what,
                "this s/epoch": min(this),
                "against s/epoch": min(against),
                "ratio": min(this) / min(against),
                "median round ratio": statistics.median(per_round),
                "round ratios": f"{per_round[0]:.2f}-{per_round[-1]:.2f}",
                "median CPU ratio": statistics.median(cpu_rounds),
                "CPU ratios": f"{cpu_rounds[0]:.2f}-{cpu_rounds[-1]:.2f}",
            }
        )
    columns = ["what", "this s/epoch", "against s/epoch", "ratio", "median round ratio"]
    print_table(rows, [*columns, "round ratios", "median CPU ratio", "CPU ratios"])
    sys.stdout.flush()


def main() -> None:
    args = _parse()
    if args.against is not None:
        compare(args)
        return
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
    p.add_argument("--against", help="another checkout of the package to compare with")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds with --against")
    p.add_argument("--only", nargs="+", help="with --against: these weighting aliases only")
    args = p.parse_args()
    if args.smoke:
        args.n_samples, args.hidden, args.epochs = 600, [16], 2
    return args


if __name__ == "__main__":
    main()
