"""Does sharing pay with the defaults? compare_single_task on the estimator's defaults.

Issue 18, step 4: the untuned estimator (only the task kinds declared) against the same
network trained on each task alone (:func:`sklearn_mtl.diagnostics.compare_single_task`), on

- ``student-performance`` (382 students, 3 tasks; its loader's 5-fold ``KFold``),
  one-hot encoded and standardised in a Pipeline;
- ``quickstart``: the scarce-label table of ``python -m sklearn_mtl`` (3,000 rows, raw:
  numbers of any scale, a string column, NaN; ``bought`` labelled on 15% of the rows),
  fitted as it is, 5-fold shuffled ``KFold``.

For each task: the multi-task and single-task means over folds, their difference with
its standard error over folds and the paired t-test's p-value; per dataset, Delta_m
(the mean relative change over tasks, in %) with its standard error over folds (Delta_m
computed fold by fold). Fit times are printed, never checked.

    python benchmarks/sharing_pays.py                 # both datasets
    python benchmarks/sharing_pays.py --datasets quickstart
    python benchmarks/sharing_pays.py --smoke         # seconds
"""

from __future__ import annotations

import argparse
import datetime
import time
import warnings

import numpy as np
from _datasets import LOADERS, data_dir
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._quickstart import KINDS, make_data
from sklearn_mtl.diagnostics import compare_single_task, delta_m

DATASETS = ["student-performance", "quickstart"]


def student(root, smoke: bool):
    dataset = LOADERS["student-performance"](root)
    numeric = [c for c in dataset.X.columns if c not in dataset.categorical]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), dataset.categorical),
        (StandardScaler(), numeric),
    )
    net = MultiTaskNetEstimator(tasks=dataset.tasks, random_state=0, max_epochs=3 if smoke else 200)
    cv = KFold(2, shuffle=True, random_state=0) if smoke else dataset.cv
    return make_pipeline(encode, net), dataset.X, dataset.y, cv


def quickstart(smoke: bool):
    X, y = make_data(400 if smoke else 3000)
    net = MultiTaskNetEstimator(tasks=KINDS, random_state=0, max_epochs=3 if smoke else 200)
    return net, X, y, KFold(2 if smoke else 5, shuffle=True, random_state=0)


def report(name: str, result, seconds: float) -> None:
    print(f"\n{name} ({result.attrs['n_splits']} folds, {seconds:.0f} s)")
    for task, row in result.iterrows():
        print(
            f"  {task:<10} {row['metric']:<9} multi {row['multi_task']:7.3f}  single "
            f"{row['single_task']:7.3f}  difference {row['difference']:+.3f} "
            f"(se {row['difference_se']:.3f}, p {row['p_value']:.2f})"
        )
    multi, single = result.attrs["fold_scores"]["multi"], result.attrs["fold_scores"]["single"]
    per_fold = np.array([delta_m(m, s) for m, s in zip(multi, single, strict=True)])
    se = per_fold.std(ddof=1) / np.sqrt(len(per_fold)) if len(per_fold) > 1 else np.nan
    print(
        f"  Delta_m {result.attrs['delta_m']:+.1f}% (fold by fold: mean {per_fold.mean():+.1f}%,"
        f" se {se:.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--datasets", nargs="*", default=DATASETS, choices=DATASETS)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="2 folds, 3 epochs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"compare_single_task with the estimator's defaults; {datetime.date.today()}")
    for name in args.datasets:
        if name == "quickstart":
            model, X, y, cv = quickstart(args.smoke)
        else:
            model, X, y, cv = student(data_dir(args.data_dir), args.smoke)
        start = time.perf_counter()
        result = compare_single_task(model, X, y, cv=cv, n_jobs=args.n_jobs)
        report(name, result, time.perf_counter() - start)


if __name__ == "__main__":
    main()
