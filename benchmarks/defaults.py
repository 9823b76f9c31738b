"""Do the defaults hold? Per-task cross-validated scores of the untuned estimator.

For each real dataset, on the same folds and the same training rows:
``MultiTaskNetEstimator`` with its defaults (only the task kinds declared), and one
model per task of each reference, each with its own defaults:

- ``previous defaults``: the estimator with its defaults from before issue 18
  (``early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
  numeric_embedding=None, architecture="hard"``), so that the quality gain and the cost
  ratio of the defaults are measured in the same run on the same folds (printed per
  dataset: "new against previous defaults");
- ``sklearn MLP``: ``MLPRegressor``/``MLPClassifier``;
- ``linear``: ``Ridge``/``LogisticRegression`` (one-vs-rest for a multilabel task);
- ``HGB``: ``HistGradientBoostingRegressor``/``Classifier`` (one per label of a
  multilabel task, through ``MultiOutputClassifier``);
- ``RealMLP-TD`` and ``TabM-D``, the tuned-default tabular networks of ``pytabkit``
  (Holzmüller et al. 2024; Gorishniy et al. 2025), when it is installed: a
  benchmark-only dependency (``pip install pytabkit``), skipped with a message otherwise.

Inputs are one-hot encoded (categories) and standardised (numbers) in a Pipeline for
every model. Where the dataset's split is grouped (parkinsons-telemonitoring, by
patient), the estimator's ``fit`` gets the training rows' groups (``groups=``), so that
its early stopping holds out whole patients too. Scores: R² for regression, accuracy for
classification, 1 - Hamming loss for multilabel (``score_tasks``'s defaults), mean over
folds. The printed table gives each task's scores, the fit seconds per fold of each
model (a reference: summed over the tasks' models), and the goal counts of issue 18:
tasks where the multi-task net is at or above the best of the MLP and the linear model
(tolerance 0.01), HGB, RealMLP-TD (tolerance 0.01) and TabM-D. With ``previous`` among
the models it also prints the ratio of the two estimators' fit times, in wall seconds
and in CPU seconds of the process (``time.process_time``: on a shared machine the wall
time mostly measures the other jobs).

TabM-D takes minutes per table on a small CPU: ``--quick`` runs every model on the
first 2 folds only, and TabM-D on at most ``--anchor-max-rows`` training rows of each
fold (a random subset; the table says so). ``--models`` runs only some models, and
``--save``/``--reference`` keep the references of one run for later runs that only
change the estimator (the folds are the loaders' fixed ones).

    python benchmarks/defaults.py                 # every dataset (an hour or more on 2 cores)
    python benchmarks/defaults.py --quick --datasets energy-efficiency
    python benchmarks/defaults.py --datasets student-performance --param alpha=0.01
    python benchmarks/defaults.py --quick --save /tmp/ref.csv
    python benchmarks/defaults.py --quick --models net --reference /tmp/ref.csv --param ...
    python benchmarks/defaults.py --smoke         # seconds
"""

from __future__ import annotations

import argparse
import datetime
import time
import warnings

import numpy as np
import pandas as pd
from _common import print_table
from _datasets import LOADERS, Dataset, data_dir
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import hamming_loss
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator

NET = "multi-task net"
PREVIOUS = "previous defaults"
# the estimator's defaults before issue 18 switched them to the recipe
PREVIOUS_PARAMS = {
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "numeric_embedding": None,
    "architecture": "hard",
}
NETS = [NET, PREVIOUS]
REFERENCES = ["sklearn MLP", "linear", "HGB"]
ANCHORS = ["RealMLP-TD", "TabM-D"]
SHORT = {"net": NET, "previous": PREVIOUS, "mlp": "sklearn MLP", "linear": "linear"}
SHORT["hgb"] = "HGB"
SHORT.update({"realmlp": "RealMLP-TD", "tabm": "TabM-D"})


def encoder(dataset: Dataset):
    numeric = [c for c in dataset.X.columns if c not in dataset.categorical]
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), dataset.categorical),
        (StandardScaler(), numeric),
    )


def have_pytabkit() -> bool:
    try:
        import pytabkit  # noqa: F401
    except ImportError:
        return False
    return True


def anchor_model(name: str, kind: str, smoke: bool):
    """A pytabkit model with its tuned defaults (on the CPU, one thread)."""
    import pytabkit

    options = {"device": "cpu", "n_threads": 1, "random_state": 0, "verbosity": 0}
    if smoke:
        options["n_epochs"] = 2
    family = "RealMLP_TD" if name == "RealMLP-TD" else "TabM_D"
    suffix = "Regressor" if kind == "regression" else "Classifier"
    model = getattr(pytabkit, f"{family}_{suffix}")(**options)
    return MultiOutputClassifier(model) if kind == "multilabel" else model


def reference_model(name: str, kind: str, max_iter: int, smoke: bool):
    if name in ANCHORS:
        return anchor_model(name, kind, smoke)
    regression = kind == "regression"
    if name == "sklearn MLP":  # MLPClassifier takes multilabel y as it is
        model = MLPRegressor if regression else MLPClassifier
        return model(max_iter=max_iter, random_state=0)
    if name == "HGB":
        if regression:
            return HistGradientBoostingRegressor(random_state=0)
        hgb = HistGradientBoostingClassifier(random_state=0)
        return MultiOutputClassifier(hgb) if kind == "multilabel" else hgb
    if regression:
        return Ridge()
    linear = LogisticRegression(max_iter=2000)
    return OneVsRestClassifier(linear) if kind == "multilabel" else linear


def reference_score(kind: str, pipe, X, y) -> float:
    """``score_tasks``'s default for the kind: 1 - Hamming loss for multilabel, else ``score``."""
    if kind == "multilabel":
        return 1.0 - hamming_loss(y, pipe.predict(X))
    return pipe.score(X, y)


def fewer_rows(train: np.ndarray, max_rows: int | None, fold: int) -> np.ndarray:
    if max_rows is None or len(train) <= max_rows:
        return train
    rng = np.random.default_rng(fold)
    return np.sort(rng.choice(train, max_rows, replace=False))


def run_fold(
    dataset: Dataset,
    fold: int,
    train,
    test,
    models: list[str],
    params: dict,
    max_epochs: int,
    anchor_max_rows: int | None,
    smoke: bool,
) -> list[dict]:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="pytabkit")
    warnings.filterwarnings("ignore", message=".*treespec")  # pytorch_lightning's import
    X_test, y_test = dataset.X.iloc[test], dataset.y.iloc[test]
    rows = []
    for name in [m for m in NETS if m in models]:  # the estimator: new, then previous defaults
        X_train, y_train = dataset.X.iloc[train], dataset.y.iloc[train]
        own = params if name == NET else PREVIOUS_PARAMS
        net = MultiTaskNetEstimator(
            **{"tasks": dataset.tasks, "random_state": 0, "max_epochs": max_epochs, **own}
        )
        pipe = make_pipeline(encoder(dataset), net)
        # a grouped split (patients): the user has the groups, and passes them so that
        # early stopping holds out whole groups too
        fit_params = {}
        if dataset.groups is not None:
            fit_params[f"{pipe.steps[-1][0]}__groups"] = dataset.groups[train]
        start, cpu = time.perf_counter(), time.process_time()
        pipe.fit(X_train, y_train, **fit_params)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        scores = pipe[-1].score_tasks(pipe[:-1].transform(X_test), y_test)
        for task, score in scores.items():
            row = {"model": name, "task": task, "fold": fold, "score": score, "s": seconds}
            rows.append({**row, "cpu_s": cpu})
    for name in models:
        if name in NETS:
            continue
        rows_in = fewer_rows(train, anchor_max_rows, fold) if name == "TabM-D" else train
        X_train, y_train = dataset.X.iloc[rows_in], dataset.y.iloc[rows_in]
        for task in dataset.task_list:
            columns = list(task.columns) if task.kind == "multilabel" else task.columns[0]
            model = reference_model(name, task.kind, max_epochs, smoke)
            pipe = make_pipeline(encoder(dataset), clone(model))
            start = time.perf_counter()
            pipe.fit(X_train, y_train[columns])
            seconds = time.perf_counter() - start
            score = reference_score(task.kind, pipe, X_test, y_test[columns])
            rows.append(
                {"model": name, "task": task.name, "fold": fold, "score": score, "s": seconds}
            )
    return rows


def goal_counts(summary: pd.DataFrame) -> dict[str, str]:
    """How many tasks meet each goal of issue 18 (among the models that ran)."""
    net = summary.loc[NET]
    goals = {}
    if {"sklearn MLP", "linear"} <= set(summary.index):
        best = summary.loc[["sklearn MLP", "linear"]].max()
        goals["best of MLP+linear (tol 0.01)"] = net >= best - 0.01
    for name, tol in ((PREVIOUS, 0.0), ("HGB", 0.0), ("RealMLP-TD", 0.01), ("TabM-D", 0.0)):
        if name in summary.index:
            goals[f"{name} (tol {tol})" if tol else name] = net >= summary.loc[name] - tol
    return {label: f"{int(ok.sum())}/{len(ok)}" for label, ok in goals.items()}


def report(dataset: Dataset, table: pd.DataFrame, n_folds: int, notes: list[str]) -> dict:
    models = [m for m in [*NETS, *REFERENCES, *ANCHORS] if m in set(table["model"])]
    summary = table.pivot_table(index="model", columns="task", values="score", aggfunc="mean")
    summary = summary.loc[models]
    per_fold = table.groupby(["model", "fold", "task"])["s"].first()
    seconds = per_fold.groupby(["model", "fold"]).sum().groupby("model").mean()
    for name in NETS:  # one fit for all tasks
        if name in models:
            seconds[name] = table[table["model"] == name].groupby("fold")["s"].first().mean()
    about = f", {dataset.description}" if dataset.description else ""
    print(f"\n{dataset.name} ({len(dataset.X)} rows, {n_folds} folds{about})")
    for note in notes:
        print(f"  {note}")
    rows = [{"task": task, **summary[task].to_dict()} for task in summary.columns]
    rows.append({"task": "fit seconds per fold", **seconds.loc[models].to_dict()})
    print_table(rows, ["task", *models])
    if {NET, PREVIOUS} <= set(models):
        gain = summary.loc[NET] - summary.loc[PREVIOUS]
        ratios = table[table["model"].isin(NETS)].groupby(["model", "fold"])["s"].first().unstack(0)
        ratio = ratios[NET] / ratios[PREVIOUS]
        cpu = ""
        if "cpu_s" in table and table.loc[table["model"].isin(NETS), "cpu_s"].notna().all():
            own = table[table["model"].isin(NETS)].groupby(["model", "fold"])["cpu_s"].first()
            own = own.unstack(0).mean()
            cpu = f", CPU time {own[NET] / own[PREVIOUS]:.2f}x"
        print(
            f"  new against previous defaults: fit time {seconds[NET] / seconds[PREVIOUS]:.2f}x"
            f" (per fold {', '.join(f'{r:.2f}x' for r in ratio)}){cpu}; score change "
            + ", ".join(f"{task} {value:+.3f}" for task, value in gain.items())
        )
    counts = goal_counts(summary) if NET in summary.index else {}
    if counts:
        print(
            "  goals (tasks where the multi-task net is at or above): "
            + "; ".join(f"{label}: {count}" for label, count in counts.items())
        )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    # school's tasks have disjoint rows (one label per row): benchmarks/school.py
    # compares it with per-school and pooled models instead.
    names = [name for name in LOADERS if name != "school"]
    parser.add_argument("--datasets", nargs="*", default=names, choices=names)
    parser.add_argument(
        "--models", nargs="*", default=list(SHORT), choices=list(SHORT), help="models to run"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="estimator parameter NAME=VALUE (Python literal), repeatable",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 folds; TabM-D on fewer rows")
    parser.add_argument("--folds", type=int, help="run the first FOLDS folds only")
    parser.add_argument("--anchor-max-rows", type=int, default=None)
    parser.add_argument("--save", help="write every fold's scores to this CSV")
    parser.add_argument("--reference", help="read the models not run from this CSV (--save)")
    parser.add_argument("--smoke", action="store_true", help="tiny subsample, 2 epochs, 1 fold")
    args = parser.parse_args()
    params = {}
    for item in args.param:
        name, value = item.split("=", 1)
        params[name] = eval(value, {})  # a literal from the command line
    models = [SHORT[m] for m in args.models]
    if not have_pytabkit() and any(m in ANCHORS for m in models):
        print("pytabkit is not installed: RealMLP-TD and TabM-D are skipped (pip install pytabkit)")
        models = [m for m in models if m not in ANCHORS]
    n_folds = 1 if args.smoke else args.folds or (2 if args.quick else None)
    anchor_max_rows = args.anchor_max_rows or (3000 if args.quick else None)
    reference = pd.read_csv(args.reference) if args.reference else None
    root = data_dir(args.data_dir)
    max_epochs = 2 if args.smoke else 200
    print(
        f"MultiTaskNetEstimator defaults{' with ' + str(params) if params else ''}; "
        f"max_epochs={max_epochs}; {datetime.date.today().isoformat()}"
    )
    saved, all_counts = [], {}
    for name in args.datasets:
        dataset = LOADERS[name](root)
        if args.smoke:
            dataset = dataset.subsample(300)
        splits = dataset.splits()[:n_folds]
        start = time.perf_counter()
        results = Parallel(n_jobs=args.n_jobs)(
            delayed(run_fold)(
                dataset, i, train, test, models, params, max_epochs, anchor_max_rows, args.smoke
            )
            for i, (train, test) in enumerate(splits)
        )
        table = pd.DataFrame([row for rows in results for row in rows]).assign(dataset=name)
        saved.append(table)
        if reference is not None:
            old = reference[(reference["dataset"] == name) & ~reference["model"].isin(models)]
            table = pd.concat([table, old[old["fold"] < len(splits)]], ignore_index=True)
        notes = [f"{time.perf_counter() - start:.0f} s for this table"]
        train_rows = max(len(train) for train, _ in splits)
        if "TabM-D" in set(table["model"]) and anchor_max_rows and train_rows > anchor_max_rows:
            notes.append(f"TabM-D trained on {anchor_max_rows} random rows of each training fold")
        all_counts[name] = report(dataset, table, len(splits), notes)
        if args.save:  # after every dataset, so that an interrupted run keeps its tables
            pd.concat(saved, ignore_index=True).to_csv(args.save, index=False)
    if len(all_counts) > 1:
        print("\nGoal counts over all datasets:")
        labels = {label for counts in all_counts.values() for label in counts}
        for label in sorted(labels):
            parts = [counts[label].split("/") for counts in all_counts.values() if label in counts]
            ok, total = (sum(int(p[i]) for p in parts) for i in (0, 1))
            print(f"  {label}: {ok}/{total}")


if __name__ == "__main__":
    main()
