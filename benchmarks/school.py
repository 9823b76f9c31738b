"""The ILEA school benchmark: 139 regression tasks (one per school) on disjoint rows.

Every student belongs to one school, so ``y`` has one column per school with the
student's exam score in their own school's column and NaN elsewhere
(:func:`sklearn_mtl.datasets.load_school`); the estimator's masked loss trains each
school's head on that school's rows only. On the same 75%/25% per-school splits (the
first ``--splits`` of the usual 10 random ones), this compares:

- ``MultiTaskNetEstimator`` with its defaults (only the 139 regression tasks declared;
  ``architecture="auto"`` picks ``TaskOffsets(task_slopes=True)`` on these disjoint
  regression tasks, one network with a scale, a shift and slopes per school, which
  ``lr="auto"`` trains at 3e-4; ``early_stopping="refit"``,
  ``numeric_embedding="periodic"``), with the previous defaults (``PREVIOUS``: a shared
  trunk with one linear head per school, no early stopping, no embedding), and with
  the previous defaults and ``early_stopping=True``;
- one ``Ridge`` and one ``MLPRegressor`` (scikit-learn defaults) per school, each trained
  on its school's training rows only;
- a pooled ``Ridge`` and ``MLPRegressor`` on all training rows, with the school one-hot
  encoded as 139 extra features.

Features are standardised in a Pipeline for every model. The score is the explained
variance in % pooled over all test rows, 1 - sum of squared errors / sum of squares
around the test mean, the same test rows for every model; mean ± std over splits, and
the seconds of fit and predict (timings are printed, never checked).

    python benchmarks/school.py               # 3 splits: about 4 minutes on 2 cores
    python benchmarks/school.py --splits 10   # the usual protocol: about 11 minutes
    python benchmarks/school.py --smoke       # 8 schools, 2 epochs, 1 split: seconds
    python benchmarks/school.py --splits 10 --models 0 1 5   # some of MODELS only
    python benchmarks/school.py --splits 10 --models 0 --task-slopes  # slopes at lr=1e-3
    python benchmarks/school.py --epoch-time --rounds 3      # issue 15's epoch time

``--epoch-time`` times the network of issue 15's goal instead (the previous defaults:
``PREVIOUS`` with ``numeric_scaling=None``, a shared trunk and one linear head per
school, X standardised by the Pipeline's scaler only), 8 epochs on the first split, one
thread: the median epoch over epochs 2 to 8 (skorch's ``dur``), the process's CPU time
per epoch of the whole fit, and the explained variance of the test rows.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import header, print_table
from _datasets import LOADERS, Dataset, data_dir
from joblib import Parallel, delayed
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.architectures import TaskOffsets

# the estimator's defaults before issue 18 switched them to the recipe
PREVIOUS = {
    "architecture": "hard",
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "numeric_embedding": None,
}
MODELS = [
    "multi-task net (defaults)",
    "multi-task net (previous defaults)",
    "multi-task net (previous, early_stopping=True)",
    "per-school Ridge",
    "per-school MLPRegressor",
    "pooled Ridge + school one-hot",
    "pooled MLPRegressor + school one-hot",
]


def few_schools(dataset: Dataset, n_schools: int) -> Dataset:
    """The rows and tasks of the first ``n_schools`` schools (for ``--smoke``)."""
    keep = np.flatnonzero(dataset.stratify < n_schools)
    columns = list(dataset.y.columns[:n_schools])
    return Dataset(
        dataset.name,
        dataset.X.iloc[keep],
        dataset.y.iloc[keep][columns],
        {name: dataset.tasks[name] for name in columns},
        dataset.cv,
        stratify=dataset.stratify[keep],
        description=f"{dataset.description} (first {n_schools} schools)",
    )


def own_scores(y: pd.DataFrame, school: np.ndarray) -> np.ndarray:
    """Each row's score, read from its own school's column."""
    return y.to_numpy()[np.arange(len(y)), school]


def explained_variance(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """1 - SSE / sum of squares around the mean of ``y_true``, in %, pooled over all rows."""
    return 100 * (1 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


def fit_predict(
    model: str, dataset: Dataset, train, test, max_epochs: int, task_slopes: bool = False
) -> np.ndarray:
    """Predictions of ``model`` for the test rows, in their order."""
    X_train, X_test = dataset.X.iloc[train], dataset.X.iloc[test]
    school = dataset.stratify
    if model.startswith("multi-task net"):
        extra = {} if model == MODELS[0] else dict(PREVIOUS)
        if task_slopes and model == MODELS[0]:
            extra["architecture"] = TaskOffsets(task_slopes=True)
        if "early_stopping" in model:
            extra["early_stopping"] = True
        net = MultiTaskNetEstimator(
            tasks=dataset.tasks, max_epochs=max_epochs, random_state=0, **extra
        )
        pipe = make_pipeline(StandardScaler(), net).fit(X_train, dataset.y.iloc[train])
        return pipe.predict(X_test).to_numpy(dtype=float)[np.arange(len(test)), school[test]]
    y_train = own_scores(dataset.y.iloc[train], school[train])
    if model.startswith("per-school"):
        prediction = np.empty(len(test))
        for t in np.unique(school[test]):
            rows_in, rows_out = school[train] == t, school[test] == t
            estimator = (
                Ridge() if "Ridge" in model else MLPRegressor(max_iter=max_epochs, random_state=0)
            )
            pipe = make_pipeline(StandardScaler(), estimator)
            pipe.fit(X_train[rows_in], y_train[rows_in])
            prediction[rows_out] = pipe.predict(X_test[rows_out])
        return prediction
    features = list(dataset.X.columns)
    encode = make_column_transformer(
        (StandardScaler(), features),
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["school"]),
    )
    estimator = Ridge() if "Ridge" in model else MLPRegressor(max_iter=max_epochs, random_state=0)
    pipe = make_pipeline(encode, estimator)
    pipe.fit(X_train.assign(school=school[train]), y_train)
    return pipe.predict(X_test.assign(school=school[test]))


def run(
    model: str, split: int, dataset: Dataset, train, test, max_epochs: int, task_slopes: bool
) -> dict:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    start = time.perf_counter()
    prediction = fit_predict(model, dataset, train, test, max_epochs, task_slopes)
    seconds = time.perf_counter() - start
    y_test = own_scores(dataset.y.iloc[test], dataset.stratify[test])
    score = explained_variance(y_test, prediction)
    print(f"  split {split}: {model:<38} {score:6.2f} %  {seconds:7.1f} s", flush=True)
    return {"model": model, "split": split, "score": score, "seconds": seconds}


def epoch_time(dataset: Dataset, rounds: int) -> None:
    """Issue 15's school epoch time (see the module docstring), ``rounds`` fits."""
    import torch

    torch.set_num_threads(1)
    train, test = dataset.splits()[0]
    school = dataset.stratify
    rows = []
    for round_ in range(rounds):
        net = MultiTaskNetEstimator(
            tasks=dataset.tasks, max_epochs=8, random_state=0, numeric_scaling=None, **PREVIOUS
        )
        pipe = make_pipeline(StandardScaler(), net)
        cpu = time.process_time()
        pipe.fit(dataset.X.iloc[train], dataset.y.iloc[train])
        cpu = time.process_time() - cpu
        epochs = [row["dur"] for row in net.history_]
        prediction = pipe.predict(dataset.X.iloc[test]).to_numpy(dtype=float)
        prediction = prediction[np.arange(len(test)), school[test]]
        y_test = own_scores(dataset.y.iloc[test], school[test])
        rows.append(
            {
                "round": round_ + 1,
                "median epoch s": float(np.median(epochs[1:])),
                "CPU s / epoch": cpu / len(epochs),
                "explained variance %": repr(float(explained_variance(y_test, prediction))),
            }
        )
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--splits", type=int, default=3, help="how many of the 10 splits")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="8 schools, 2 epochs, 1 split")
    parser.add_argument("--models", nargs="*", type=int, help="indices into MODELS (default: all)")
    parser.add_argument(
        "--epoch-time", action="store_true", help="issue 15's epoch time (see the docstring)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="fits of --epoch-time")
    parser.add_argument(
        "--task-slopes",
        action="store_true",
        help="the default net with architecture=TaskOffsets(task_slopes=True) given "
        "explicitly, so that lr='auto' is 1e-3",
    )
    args = parser.parse_args()
    models = [MODELS[i] for i in args.models] if args.models else MODELS
    header("The school benchmark: 139 tasks with disjoint rows")
    dataset = LOADERS["school"](data_dir(args.data_dir))
    if args.epoch_time:
        epoch_time(dataset, args.rounds)
        return
    if args.smoke:
        dataset = few_schools(dataset, 8)
    n_splits = 1 if args.smoke else args.splits
    max_epochs = 2 if args.smoke else 200
    splits = dataset.splits()[:n_splits]
    print(
        f"{len(dataset.X)} students, {len(dataset.tasks)} schools, {n_splits} split(s) "
        f"75%/25% per school, max_epochs/max_iter={max_epochs}"
    )
    jobs = [  # the slowest (the default nets) first
        delayed(run)(model, i, dataset, train, test, max_epochs, args.task_slopes)
        for model in models
        for i, (train, test) in enumerate(splits)
    ]
    results = Parallel(n_jobs=args.n_jobs)(jobs)
    table = pd.DataFrame(results)
    rows = []
    for model in models:
        part = table[table["model"] == model]
        mean, std = part["score"].mean(), part["score"].std(ddof=0)
        rows.append(
            {
                "model": model,
                "explained variance %": f"{mean:.2f} ± {std:.2f}",
                "seconds per split": float(part["seconds"].mean()),
            }
        )
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
