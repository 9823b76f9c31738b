"""Do the defaults hold? Per-task cross-validated scores of the untuned estimator.

For each real dataset, on the same folds: ``MultiTaskNetEstimator`` with its defaults
(only the task kinds declared), scikit-learn's ``MLPRegressor``/``MLPClassifier`` with
theirs, and a linear model (``Ridge``/``LogisticRegression``, one-vs-rest for a
multilabel task), one per task. Inputs are one-hot encoded (categories) and standardised
(numbers) in a Pipeline for every model. Scores: R² for regression, accuracy for
classification, 1 - Hamming loss for multilabel (``score_tasks``'s defaults), mean over
folds.

    python benchmarks/defaults.py                 # every dataset (tens of minutes on 2 cores)
    python benchmarks/defaults.py --datasets student-performance --param alpha=0.01
    python benchmarks/defaults.py --smoke         # seconds
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from _datasets import LOADERS, Dataset, data_dir
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import hamming_loss
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator


def encoder(dataset: Dataset):
    numeric = [c for c in dataset.X.columns if c not in dataset.categorical]
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), dataset.categorical),
        (StandardScaler(), numeric),
    )


def single_task_models(kind: str, max_iter: int) -> dict[str, object]:
    if kind == "regression":
        return {"sklearn MLP": MLPRegressor(max_iter=max_iter, random_state=0), "linear": Ridge()}
    linear = LogisticRegression(max_iter=2000)
    return {  # MLPClassifier takes multilabel y as it is
        "sklearn MLP": MLPClassifier(max_iter=max_iter, random_state=0),
        "linear": OneVsRestClassifier(linear) if kind == "multilabel" else linear,
    }


def reference_score(kind: str, pipe, X, y) -> float:
    """``score_tasks``'s default for the kind: 1 - Hamming loss for multilabel, else ``score``."""
    if kind == "multilabel":
        return 1.0 - hamming_loss(y, pipe.predict(X))
    return pipe.score(X, y)


def run_fold(dataset: Dataset, train, test, params: dict, max_epochs: int) -> list[dict]:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X_train, X_test = dataset.X.iloc[train], dataset.X.iloc[test]
    y_train, y_test = dataset.y.iloc[train], dataset.y.iloc[test]
    rows = []
    net = MultiTaskNetEstimator(
        **{"tasks": dataset.tasks, "random_state": 0, "max_epochs": max_epochs, **params}
    )
    pipe = make_pipeline(encoder(dataset), net)
    start = time.perf_counter()
    pipe.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    scores = pipe[-1].score_tasks(pipe[:-1].transform(X_test), y_test)
    for task, score in scores.items():
        rows.append({"model": "multi-task net", "task": task, "score": score, "seconds": seconds})
    for task in dataset.task_list:
        columns = list(task.columns) if task.kind == "multilabel" else task.columns[0]
        for name, model in single_task_models(task.kind, max_epochs).items():
            pipe = make_pipeline(encoder(dataset), clone(model))
            start = time.perf_counter()
            pipe.fit(X_train, y_train[columns])
            rows.append(
                {
                    "model": name,
                    "task": task.name,
                    "score": reference_score(task.kind, pipe, X_test, y_test[columns]),
                    "seconds": time.perf_counter() - start,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    # school's tasks have disjoint rows (one label per row): benchmarks/school.py
    # compares it with per-school and pooled models instead.
    names = [name for name in LOADERS if name != "school"]
    parser.add_argument("--datasets", nargs="*", default=names, choices=names)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="estimator parameter NAME=VALUE (Python literal), repeatable",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny subsample, 2 epochs, 1 fold")
    args = parser.parse_args()
    params = {}
    for item in args.param:
        name, value = item.split("=", 1)
        params[name] = eval(value, {})  # a literal from the command line
    root = data_dir(args.data_dir)
    max_epochs = 2 if args.smoke else 200
    print(
        f"MultiTaskNetEstimator defaults{' with ' + str(params) if params else ''}; "
        f"max_epochs={max_epochs}"
    )
    for name in args.datasets:
        dataset = LOADERS[name](root)
        if args.smoke:
            dataset = dataset.subsample(300)
        splits = dataset.splits()[:1] if args.smoke else dataset.splits()
        start = time.perf_counter()
        results = Parallel(n_jobs=args.n_jobs)(
            delayed(run_fold)(dataset, train, test, params, max_epochs) for train, test in splits
        )
        table = pd.DataFrame([row for rows in results for row in rows])
        summary = table.pivot_table(index="model", columns="task", values="score", aggfunc="mean")
        about = f", {dataset.description}" if dataset.description else ""
        seconds = time.perf_counter() - start
        rows = f"{len(dataset.X)} rows, {len(splits)} folds{about}"
        print(f"\n{dataset.name} ({rows}; {seconds:.0f}s)")
        print(summary.loc[["multi-task net", "sklearn MLP", "linear"]].round(4).to_string())


if __name__ == "__main__":
    main()
