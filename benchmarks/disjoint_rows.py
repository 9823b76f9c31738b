"""Tasks on disjoint rows beyond school: one task per group of a shared table.

school (benchmarks/school.py) is the only shared table whose tasks share no rows, so a
choice for such tables made there alone would be tuned to it. This benchmark makes
more of them from the shared datasets: one task per value of a grouping column, each
row labelled for its own group's task only (NaN elsewhere), the grouping column taken
out of X, as school's students are labelled in their own school's column:

- wine-quality: ``quality`` per ``colour`` (2 tasks), and ``colour`` per quality
  level (clipped to 4..8: 5 binary tasks);
- abalone: ``rings`` per ``sex`` (3 tasks);
- parkinsons-telemonitoring: ``total_UPDRS`` per patient (42 tasks, about 140 rows each);
- bike-sharing: ``casual`` per ``season`` (4 tasks);
- diamonds (6,000 random rows): ``log_price`` per ``cut`` (5 tasks), and ``cut`` per
  ``color`` (7 multiclass tasks).

On each of ``--splits`` random splits (a quarter of each group's rows to test), it fits
``MultiTaskNetEstimator`` (``architecture="auto"`` picks ``TaskOffsets`` on such rows,
with task slopes and ``lr="auto"``'s 3e-4 for regression tasks) with its defaults and
with each ``CANDIDATES`` change (the architecture and learning rate set explicitly),
and, as references, a pooled linear model and HistGradientBoosting with the group
one-hot encoded as a feature. The same preprocessing for all (one-hot categories,
standardised numbers). The score of a split is pooled over its test rows, each
predicted by its own group's task: explained variance in % (regression) or accuracy in
% (classification); mean ± standard deviation over splits.

    python benchmarks/disjoint_rows.py                      # every table, 3 splits
    python benchmarks/disjoint_rows.py --tables abalone-rings --splits 5
    python benchmarks/disjoint_rows.py --smoke              # seconds
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from _common import header
from _datasets import LOADERS, data_dir
from defaults import encoder
from school import explained_variance
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import TaskOffsets

# The defaults pick TaskOffsets(task_slopes=True) and lr=3e-4 for regression tasks on
# disjoint rows, TaskOffsets() and lr=1e-3 for the others; the candidates set both.
CANDIDATES = {
    "defaults": {},
    "offsets, lr=1e-3": {"architecture": TaskOffsets(), "lr": 1e-3},
    "slopes, lr=1e-3": {"architecture": TaskOffsets(task_slopes=True), "lr": 1e-3},
    "offsets, lr=3e-4": {"architecture": TaskOffsets(), "lr": 3e-4},
    "slopes, lr=3e-4": {"architecture": TaskOffsets(task_slopes=True), "lr": 3e-4},
}


@dataclass
class Table:
    """One disjoint-rows table: its inputs, the target, each row's group, the kind."""

    X: pd.DataFrame
    target: pd.Series
    group: pd.Series
    categorical: list[str]
    kind: str


# name: (dataset, target, grouping column, where the grouping column is, kind)
TABLES = {
    "wine-quality": ("wine-quality", "quality", "colour", "y", "regression"),
    "wine-colour": ("wine-quality", "colour", "quality", "y", "binary"),
    "abalone-rings": ("abalone", "rings", "sex", "y", "regression"),
    "parkinsons-patients": (
        "parkinsons-telemonitoring",
        "total_UPDRS",
        None,
        "groups",
        "regression",
    ),
    "bike-seasons": ("bike-sharing", "casual", "season", "X", "regression"),
    "diamonds-price": ("diamonds", "log_price", "cut", "y", "regression"),
    "diamonds-cut": ("diamonds", "cut", "color", "X", "multiclass"),
}


def load_table(name: str, root, max_rows: int = 6000) -> Table:
    dataset_name, target_name, group_name, where, kind = TABLES[name]
    dataset = LOADERS[dataset_name](root)
    X, y = dataset.X, dataset.y
    if where == "groups":
        group = pd.Series(dataset.groups, index=X.index)
    elif where == "X":
        group, X = X[group_name], X.drop(columns=group_name)
    else:
        group = y[group_name]
    if group_name == "quality":  # the rare extreme levels with their neighbours
        group = group.clip(4, 8)
    if len(X) > max_rows:
        keep = np.sort(np.random.default_rng(0).choice(len(X), max_rows, replace=False))
        X, y, group = X.iloc[keep], y.iloc[keep], group.iloc[keep]
    categorical = [c for c in dataset.categorical if c in X.columns]
    target = y[target_name]
    return Table(
        X.reset_index(drop=True),
        target.reset_index(drop=True),
        group.astype(str).reset_index(drop=True),
        categorical,
        kind,
    )


def splits(group: pd.Series, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A quarter of each group's rows (at least one) to test, ``n_splits`` times."""
    rng = np.random.default_rng(0)
    codes = group.to_numpy()
    result = []
    for _ in range(n_splits):
        test = np.zeros(len(group), dtype=bool)
        for value in np.unique(codes):
            rows = rng.permutation(np.flatnonzero(codes == value))
            test[rows[: max(1, len(rows) // 4)]] = True
        result.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return result


def score(kind: str, truth: np.ndarray, prediction: np.ndarray) -> float:
    if kind == "regression":
        return explained_variance(truth.astype(float), prediction.astype(float))
    return 100 * float(np.mean(truth.astype(str) == prediction.astype(str)))


def run_table(table: Table, n_splits: int, max_epochs: int) -> dict[str, list[float]]:
    levels = sorted(table.group.unique())
    position = table.group.map({value: i for i, value in enumerate(levels)}).to_numpy()
    dtype = float if table.kind == "regression" else object
    Y = pd.DataFrame(
        {f"task_{v}": table.target.where(table.group == v).astype(dtype) for v in levels}
    )
    tasks = [Task(column, table.kind) for column in Y.columns]
    scores: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    scores.update({"pooled linear": [], "HGB": []})
    for train, test in splits(table.group, n_splits):
        truth = table.target.to_numpy()[test]
        for name, params in CANDIDATES.items():
            net = MultiTaskNetEstimator(
                tasks=tasks, random_state=0, max_epochs=max_epochs, **params
            )
            pipe = make_pipeline(encoder(table), net)
            pipe.fit(table.X.iloc[train], Y.iloc[train])
            own = pipe.predict(table.X.iloc[test]).to_numpy(dtype=object)
            scores[name].append(score(table.kind, truth, own[np.arange(len(test)), position[test]]))
        X_group = table.X.assign(group=table.group)  # the group one-hot, for the references
        with_group = replace(table, X=X_group, categorical=[*table.categorical, "group"])
        if table.kind == "regression":
            references = {"pooled linear": Ridge(), "HGB": HistGradientBoostingRegressor()}
        else:
            references = {
                "pooled linear": LogisticRegression(max_iter=2000),
                "HGB": HistGradientBoostingClassifier(),
            }
        for name, model in references.items():
            pipe = make_pipeline(encoder(with_group), model)
            pipe.fit(X_group.iloc[train], table.target.iloc[train])
            scores[name].append(score(table.kind, truth, pipe.predict(X_group.iloc[test])))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--tables", nargs="*", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one small table, 2 epochs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    header("Tasks on disjoint rows: one task per group of a shared table")
    root = data_dir(args.data_dir)
    names = ["bike-seasons"] if args.smoke else args.tables
    for name in names:
        table = load_table(name, root, max_rows=300 if args.smoke else 6000)
        scores = run_table(table, 1 if args.smoke else args.splits, 2 if args.smoke else 200)
        metric = "explained variance %" if table.kind == "regression" else "accuracy %"
        print(
            f"\n{name}: {table.group.nunique()} {table.kind} tasks, {len(table.X)} rows, {metric}"
        )
        base = np.mean(scores["defaults"])
        for model, values in scores.items():
            change = "" if model == "defaults" else f"  ({np.mean(values) - base:+.2f})"
            print(f"  {model:<24} {np.mean(values):6.2f} ± {np.std(values):4.2f}{change}")


if __name__ == "__main__":
    main()
