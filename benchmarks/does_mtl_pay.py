"""Does multi-task learning pay on real data? Multi-task vs single-task vs gradient boosting.

For each dataset of ../shared/data (see :mod:`sklearn_mtl.datasets` for the framing of each), runs
:func:`sklearn_mtl.diagnostics.compare_single_task` with the dataset's own cross-validation (grouped
by patient for Parkinson's telemonitoring) and prints one row per task: the multi-task
network's score, the same network trained on the task alone, a
HistGradientBoosting model per task, the difference multi - single with its standard
error over folds, the paired t-test p-value, and Delta_m per dataset.

Usage::

    python benchmarks/does_mtl_pay.py [--data-dir DIR] [--datasets a b ...] [--n-jobs 2]
                                      [--max-epochs 100] [--smoke]

The data folder is ``--data-dir``, else ``$SKLEARN_MTL_DATA``, else ``../shared/data``;
the script exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time

import numpy as np
import pandas as pd
import torch
from _datasets import LOADERS, data_dir, load_one_column_tasks
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.diagnostics import compare_single_task

DEFAULT = ["student-performance", "parkinsons-telemonitoring", "wine-quality", "energy-efficiency"]


def preprocessor(dataset):
    categorical = dataset.categorical
    numeric = [c for c in dataset.X.columns if c not in categorical]
    return make_column_transformer(
        (StandardScaler(), numeric),
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    )


def boosting(dataset):
    """HistGradientBoosting per task on ordinal-encoded categories (its usual setup)."""
    categorical = dataset.categorical

    def make(model):
        encode = make_column_transformer(
            (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
            remainder="passthrough",
        )
        return make_pipeline(encode, model)

    return {
        "regression": make(HistGradientBoostingRegressor(random_state=0)),
        "binary": make(HistGradientBoostingClassifier(random_state=0)),
        "multiclass": make(HistGradientBoostingClassifier(random_state=0)),
    }


def network(dataset, max_epochs: int):
    from sklearn_mtl import Task

    tasks = [Task(name, kind) for name, kind in dataset.tasks.items()]
    batch_size = 32 if len(dataset.X) < 1000 else 128
    return make_pipeline(
        preprocessor(dataset),
        MultiTaskNetEstimator(
            tasks=tasks,
            hidden_layer_sizes=(64, 32),
            alpha=1e-3,
            lr=1e-3,
            batch_size=batch_size,
            max_epochs=max_epochs,
            random_state=0,
        ),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--datasets", nargs="+", default=DEFAULT, choices=sorted(LOADERS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="2 folds, 3 epochs, 400 rows")
    args = parser.parse_args(argv)
    root = data_dir(args.data_dir)
    torch.set_num_threads(1)
    print(f"# {' '.join(shlex.quote(a) for a in ['python', *sys.argv])}")
    print(
        f"# {datetime.date.today()}  python {platform.python_version()}  torch "
        f"{torch.__version__}  cores {os.cpu_count()}  n_jobs {args.n_jobs}"
    )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    rows = []
    for name in args.datasets:
        dataset = load_one_column_tasks(name, root)
        X, y, groups = dataset.X, dataset.y, dataset.groups
        splits = dataset.splits()
        epochs = args.max_epochs
        if args.smoke:
            keep = np.sort(np.random.default_rng(0).permutation(len(X))[:400])
            X, y = X.iloc[keep].reset_index(drop=True), y.iloc[keep].reset_index(drop=True)
            groups = None if groups is None else groups[keep]
            splits, epochs = KFold(2, shuffle=True, random_state=0), 3
        start = time.perf_counter()
        report = compare_single_task(
            network(dataset, epochs),
            X,
            y,
            cv=splits,
            groups=groups,
            baseline=boosting(dataset),
            n_jobs=args.n_jobs,
        )
        seconds = time.perf_counter() - start
        print(
            f"\n## {name}: {len(X)} rows, {report.attrs['n_splits']} folds "
            f"({dataset.description or type(dataset.cv).__name__}), {seconds:.0f} s; "
            f"Delta_m = {report.attrs['delta_m']:+.2f}% (se {report.attrs['delta_m_se']:.2f})"
        )
        columns = [
            "metric",
            "multi_task",
            "single_task",
            "baseline",
            "difference",
            "difference_se",
            "p_value",
            "negative_transfer",
        ]
        print(report[columns].round(4).to_string())
        for task, row in report.iterrows():
            rows.append(
                {
                    "dataset": name,
                    "task": task,
                    **row[columns].to_dict(),
                    "delta_m": report.attrs["delta_m"],
                }
            )
    print("\n## all tasks")
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
