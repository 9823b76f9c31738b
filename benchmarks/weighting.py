"""Loss weighting on real data: per-task scores, Delta_m over single-task training, cost.

Every method of ``sklearn_mtl.weighting.WEIGHTINGS`` is fitted as
``MultiTaskNetEstimator(loss_weighting=...)`` on real datasets of ../shared/data (loaders
and their framing in ``_datasets.py``, inputs one-hot encoded and standardised as in
``defaults.py``). Each gradient-level method runs twice: with its default ``gradient_on``
and with the other one (``pcgrad`` takes the gradients at the shared parameters,
``pcgrad@repr`` at the shared representation; ``mgda`` is at the representation by
default, ``mgda@params`` at the parameters).

For each dataset, one split: the first fold of the dataset's own cross-validation
(``Dataset.splits()[0]``, 80 % train, 20 % test), the same for every seed; the seeds
change the network's initialisation and the batch order. Every fit uses the same
network and optimiser (below); the single-task reference is that network trained on one
task alone (``MultiTaskNetEstimator(tasks={task: kind})``), same hyperparameters, same
seed.

Printed per dataset, one row per method, mean ± std over seeds:

- the test score of each task (``score_tasks``: R² for regression, accuracy for
  classification);
- ``Delta_m`` (:func:`sklearn_mtl.diagnostics.delta_m`, Maninis et al. 2019): the mean over tasks of
  the relative improvement over the single-task reference in percent, computed per seed;
- ``epoch / fixed``: the fastest epoch of the method's fits (each fit's first epoch left
  out) divided by the fastest epoch of ``"fixed"``, timed in the same run; ``per seed``:
  the same ratio seed by seed (mean ± std);
- ``last weights``: ``task_weights_`` (the coefficients the method applied in the last
  epoch), mean over seeds, tasks in column order.

Then a summary: Delta_m per method and dataset, and ``epoch / fixed`` per dataset. The
fits run in parallel (joblib, loky) with one torch thread each, seed by seed.

Usage::

    python benchmarks/weighting.py [--data-dir DIR] [--datasets a b ...] [--seeds 3]
                                   [--max-epochs 50] [--n-jobs 2] [--methods m ...]
    python benchmarks/weighting.py --smoke      # 300 rows, 2 epochs, 1 seed, 3 methods

The data folder is ``--data-dir``, else ``$SKLEARN_MTL_DATA``, else ``../shared/data``;
the script exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from _common import best, epoch_times, header, print_table
from _datasets import LOADERS, Dataset, data_dir, load_one_column_tasks
from defaults import encoder
from joblib import Parallel, delayed

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.diagnostics import delta_m
from sklearn_mtl.weighting import GRADIENT_LEVEL, WEIGHTINGS, LossWeighting

DATASETS = ["wine-quality", "abalone", "student-performance", "energy-efficiency"]
SMOKE_METHODS = ["fixed", "pcgrad", "pcgrad@repr"]
HIDDEN = (64, 32)
ALPHA = 1e-3
LR = 1e-3
#: Per-dataset changes to the network above. Student performance: with alpha=1e-3 the
#: single-task networks overfit its 305 training rows (G3_mat R² below 0 in a 4-fold CV of
#: the training part). alpha=0.1, 10 epochs, dropout 0.5 or a (16,) network each fixed
#: that in the same CV, within 0.03 of each other in mean score; alpha=0.1 keeps 50 epochs,
#: so that the methods that adapt over epochs (DWA, GradNorm, ...) have time to act.
DATASET_PARAMS: dict[str, dict] = {"student-performance": {"alpha": 0.1}}


def method_names() -> list[str]:
    """Every alias, and each gradient-level alias with its other ``gradient_on``."""
    names = list(WEIGHTINGS)
    for alias in GRADIENT_LEVEL:
        default = WEIGHTINGS[alias]().get_params()["gradient_on"]
        names.append(alias + ("@params" if default == "representation" else "@repr"))
    return names


def make_weighting(method: str) -> str | LossWeighting:
    """The ``loss_weighting`` argument of a method name of :func:`method_names`."""
    alias, _, where = method.partition("@")
    if not where:
        return alias
    gradient_on = {"repr": "representation", "params": "parameters"}[where]
    return WEIGHTINGS[alias](gradient_on=gradient_on)


def batch_size(n_samples: int) -> int:
    return 32 if n_samples < 1000 else 128


def fit_one(
    dataset: str,
    method: str,
    seed: int,
    tasks: dict[str, str],
    data: tuple[np.ndarray, pd.DataFrame, np.ndarray, pd.DataFrame],
    max_epochs: int,
    overrides: dict | None = None,
) -> dict:
    """Fit one network (multi-task, or single-task when ``method`` is ``"single-task"``).

    Returns the per-task test scores, the fastest epoch in seconds and the fit time, or
    the error when the fit failed (one broken method hides no other).
    """
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    X_train, y_train, X_test, y_test = data
    params = dict(
        hidden_layer_sizes=HIDDEN,
        alpha=ALPHA,
        lr=LR,
        max_epochs=max_epochs,
        batch_size=batch_size(len(X_train)),
        random_state=seed,
    )
    params.update(overrides or {})
    row = {"dataset": dataset, "method": method, "seed": seed}
    start = time.perf_counter()
    try:
        if method == "single-task":
            scores, epoch = {}, []
            for task, kind in tasks.items():
                single = MultiTaskNetEstimator(tasks={task: kind}, **params)
                single.fit(X_train, y_train[[task]])
                scores.update(single.score_tasks(X_test, y_test[[task]]))
                epoch.append(best(epoch_times(single)))
            row.update(scores=scores, epoch=float(np.sum(epoch)))
        else:
            est = MultiTaskNetEstimator(
                tasks=tasks, loss_weighting=make_weighting(method), **params
            )
            est.fit(X_train, y_train)
            row.update(
                scores=est.score_tasks(X_test, y_test),
                epoch=best(epoch_times(est)),
                weights=est.task_weights_,
            )
    except Exception as error:  # reported in the table
        row["error"] = f"{type(error).__name__}: {error}"
    row["seconds"] = time.perf_counter() - start
    return row


def prepare(dataset: Dataset, fold: int):
    """Encoded train and test arrays of one split, the encoder fitted on the train part."""
    train, test = dataset.splits()[fold]
    X, y = dataset.X, dataset.y
    transform = encoder(dataset).fit(X.iloc[train])
    return (
        transform.transform(X.iloc[train]).astype(np.float32),
        y.iloc[train].reset_index(drop=True),
        transform.transform(X.iloc[test]).astype(np.float32),
        y.iloc[test].reset_index(drop=True),
    )


def _mean_std(values: Sequence[float], digits: int, sign: bool = False) -> str:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.isfinite(values).any():
        return "nan"
    form = f"{{:{'+' if sign else ''}.{digits}f}}"
    text = form.format(np.nanmean(values))
    if values.size > 1:
        text += " ± " + f"{{:.{digits}f}}".format(np.nanstd(values))
    return text


def summarise(rows: list[dict], tasks: dict[str, str], methods: list[str]) -> tuple[list, dict]:
    """Rows of the per-dataset table, and per method the Delta_m and cost ratio by seed."""
    by_key = {(row["method"], row["seed"]): row for row in rows}
    seeds = sorted({row["seed"] for row in rows})
    table, measures = [], {}
    for method in ["single-task", *methods]:
        runs = [by_key[(method, s)] for s in seeds if (method, s) in by_key]
        failed = [run for run in runs if "error" in run]
        if failed:
            table.append({"method": method, "error": failed[0]["error"][:80]})
            continue
        line = {"method": method}
        for task in tasks:
            line[task] = _mean_std([run["scores"][task] for run in runs], 4)
        deltas, ratios = [], []
        for run in runs:
            single = by_key.get(("single-task", run["seed"]))
            fixed = by_key.get(("fixed", run["seed"]))
            if single is not None and "error" not in single:
                deltas.append(delta_m(run["scores"], single["scores"]))
            if method != "single-task" and fixed is not None and "error" not in fixed:
                ratios.append(run["epoch"] / fixed["epoch"])
        line["Delta_m %"] = _mean_std(deltas, 2, sign=True) if method != "single-task" else "ref"
        fastest = min((run["epoch"] for run in runs), default=np.nan)
        fixed_fastest = min(
            (
                by_key[("fixed", s)]["epoch"]
                for s in seeds
                if ("fixed", s) in by_key and "error" not in by_key[("fixed", s)]
            ),
            default=np.nan,
        )
        ratio = fastest / fixed_fastest if method != "single-task" else np.nan
        line["epoch / fixed"] = "-" if method == "single-task" else f"{ratio:.2f}"
        line["per seed"] = _mean_std(ratios, 2) if ratios else "-"
        if method != "single-task":
            line["last weights"] = "/".join(
                f"{np.mean([run['weights'][task] for run in runs]):.2f}" for task in tasks
            )
        measures[method] = {
            "delta_m": deltas,
            "ratio": ratio,
            "epoch": [run["epoch"] for run in runs],
        }
        table.append(line)
    return table, measures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=sorted(LOADERS))
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=method_names(),
        metavar="METHOD",
        help=f"default: all of {', '.join(method_names())}",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--fold", type=int, default=0, help="which fold of the dataset's CV")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="300 rows, 2 epochs, 1 seed, methods " + ", ".join(SMOKE_METHODS),
    )
    args = parser.parse_args(argv)
    root = data_dir(args.data_dir)
    torch.set_num_threads(1)
    methods = args.methods or (SMOKE_METHODS if args.smoke else method_names())
    if "fixed" not in methods:
        methods = ["fixed", *methods]  # the reference of the cost ratio
    seeds = range(1 if args.smoke else args.seeds)
    max_epochs = 2 if args.smoke else args.max_epochs
    header("Loss weighting on real data: test scores, Delta_m vs single-task, epoch cost")
    print(
        f"# network: hidden {HIDDEN}, alpha {ALPHA}, lr {LR}, Adam, batch 32 (< 1000 rows) or "
        f"128, {max_epochs} epochs; seeds {list(seeds)}; fold {args.fold} of each dataset's "
        f"CV; n_jobs {args.n_jobs}, 1 torch thread per fit\n"
    )
    datasets = {}
    for name in args.datasets:
        dataset = load_one_column_tasks(name, root)
        if args.smoke:
            dataset = dataset.subsample(min(300, len(dataset.X)))
        datasets[name] = (dataset, prepare(dataset, args.fold))
        if name in DATASET_PARAMS:
            print(f"# {name}: {DATASET_PARAMS[name]}")
    # seed by seed, every dataset and method in turn: a burst of load from other jobs on
    # the machine then falls on all methods rather than on one dataset's
    jobs = [
        delayed(fit_one)(
            name, method, seed, dataset.tasks, data, max_epochs, DATASET_PARAMS.get(name)
        )
        for seed in seeds
        for name, (dataset, data) in datasets.items()
        for method in ["single-task", *methods]
    ]
    start = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs)(jobs)
    print(f"# {len(jobs)} fits in {time.perf_counter() - start:.0f} s\n")
    summary: dict[str, dict] = {}
    for name, (dataset, data) in datasets.items():
        rows = [row for row in results if row["dataset"] == name]
        table, summary[name] = summarise(rows, dataset.tasks, methods)
        kinds = ", ".join(f"{task} ({kind})" for task, kind in dataset.tasks.items())
        fixed = summary[name].get("fixed")
        print(
            f"## {name}: {len(data[0])} train / {len(data[2])} test rows; tasks {kinds}"
            f"{'; ' + dataset.description if dataset.description else ''}; fixed: "
            f"{_mean_std(fixed['epoch'], 3) if fixed else 'failed'} s/epoch"
        )
        columns = ["method", *dataset.tasks, "Delta_m %", "epoch / fixed", "per seed"]
        columns.append("last weights")
        if any("error" in line for line in table):
            columns.append("error")
        print_table(table, columns)
    lines = []
    for method in methods:
        line = {"method": method}
        ratios = []
        for name in datasets:
            measure = summary[name].get(method)
            line[name] = _mean_std(measure["delta_m"], 2, sign=True) if measure else "failed"
            ratios += [measure["ratio"]] if measure else []
        line["epoch / fixed"] = " ".join(f"{r:.2f}" for r in ratios)
        lines.append(line)
    print("## Delta_m (%) per dataset; epoch / fixed per dataset in the same order")
    print_table(lines, ["method", *datasets, "epoch / fixed"])


if __name__ == "__main__":
    main()
