"""Raw tables in: the estimator fitted on the table as it is, against a preprocessing Pipeline.

For each real dataset, on the folds its loader prescribes, per-task scores (R² for
regression, accuracy for classification, 1 - Hamming loss for multilabel) of:

- ``pipeline``: today's recipe, a ColumnTransformer (one-hot categories,
  StandardScaler numbers) in front of ``MultiTaskNetEstimator(numeric_scaling=None)``;
- ``raw <scaling>``: ``MultiTaskNetEstimator(numeric_scaling=<scaling>)`` fitted on the
  raw DataFrame, its categorical columns as pandas categories (``--strings``: as
  strings), nothing in front;
- ``--nan F``: also ``raw <scaling> nan`` (the first scaling), the raw table with a
  fraction F of its numeric values set to NaN at random (imputed, with missing
  indicators).

Every model has the estimator's other defaults (or the ``--param NAME=VALUE`` given: a
Python literal, else the string) and ``random_state=0``; ``--seeds N`` repeats every
fold with ``random_state`` 0 to N-1 and reports each raw model's difference from the
pipeline paired by fold and seed, with its standard error over the seeds. The table
gives the mean over folds, the standard deviation over folds in brackets, and the
difference of each raw model from the pipeline, per task. ``raw auto`` is fitted only
where "auto" finds a heavy-tailed column in the fold's training rows; elsewhere it is
"standard" column for column, the same model as ``raw standard``, whose scores it takes
when that is measured too. Besides the loaders' datasets, ``--datasets salaries`` is a
synthetic table with heavy tails and typos (:func:`salaries`), where standard scaling
fails.

    python benchmarks/raw_tables.py                     # every dataset but school
    python benchmarks/raw_tables.py --datasets salaries bike-sharing --seeds 3 \
        --scalings auto standard                        # auto against standard, 3 seeds
    python benchmarks/raw_tables.py --scalings squashing robust standard quantile none
    python benchmarks/raw_tables.py --datasets abalone --folds 2 --max-epochs 50
    python benchmarks/raw_tables.py --census 10000 --max-epochs 50 --folds 2 \
        --thresholds 0 16 1000                          # one-hot or embed (census-income)
    python benchmarks/raw_tables.py --datasets abalone --param numeric_embedding=periodic \
        --param n_iter_no_change=20 --save rows.csv     # estimator parameters, scores saved
    python benchmarks/raw_tables.py --table rows.csv    # the docs' table of saved scores
    python benchmarks/raw_tables.py --smoke             # seconds

``--census N`` measures the choice between one-hot encoding and embeddings instead: on
N stratified rows of census-income (KDD) (the MMoE paper's income and never-married
tasks, 50/50 splits drawn with seeds 0, 1, ...), its 33 string columns and 5 integer
code columns (``categorical_features``) hold up to 52 categories;
``one_hot_max_categories`` takes each ``--thresholds`` value (0 embeds every
column, 1000 one-hot encodes every column). The reference is census_mmoe.py's
Pipeline (one-hot, log1p of the money columns, StandardScaler).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import shlex
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _datasets import LOADERS, Dataset, data_dir
from joblib import Parallel, delayed
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._input import InputEncoder

SCALINGS = {"auto": "auto", "squashing": "squashing", "robust": "robust",
            "standard": "standard", "quantile": "quantile", "none": None}  # fmt: skip


def salaries(n_rows: int = 3000, seed: int = 0) -> Dataset:
    """A synthetic table with heavy tails and gross errors, where standard scaling fails.

    Each row is an employee: ``experience`` (years, uniform), ``hours`` (weekly, normal),
    ``department`` (6 strings), and three heavy-tailed money columns: ``savings``
    (lognormal, sigma 1.5), ``bonus`` (Pareto, tail index 1.2, so of infinite variance)
    and ``rent`` (lognormal, sigma 0.5, but 1 % of its values typed in cents: 100 times
    too large). The tasks: ``log_salary`` (regression on the logarithms of the money
    columns, experience and the department, noise 0.3) and ``manager`` (binary: log
    savings plus experience above its median). 5 shuffled folds.
    """
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(seed)
    experience = rng.uniform(0, 40, n_rows)
    hours = rng.normal(40, 5, n_rows)
    department = rng.choice(["sales", "it", "hr", "legal", "ops", "research"], n_rows)
    savings = rng.lognormal(10, 1.5, n_rows)
    bonus = 1000 * (rng.pareto(1.2, n_rows) + 1)
    rent = rng.lognormal(7, 0.5, n_rows)
    effect = pd.Series(department).map(
        {"sales": 0.2, "it": 0.4, "hr": -0.1, "legal": 0.5, "ops": -0.2, "research": 0.1}
    )
    log_salary = (
        0.3 * np.log(savings) + 0.4 * np.log(bonus) + 0.8 * np.log(rent)
        + 0.02 * experience + effect.to_numpy() + rng.normal(0, 0.3, n_rows)
    )  # fmt: skip
    score = np.log(savings) / 1.5 + experience / 12
    typos = rng.random(n_rows) < 0.01
    rent[typos] *= 100
    X = pd.DataFrame({"experience": experience, "hours": hours, "department": department,
                      "savings": savings, "bonus": bonus, "rent": rent})  # fmt: skip
    y = pd.DataFrame({"log_salary": log_salary, "manager": score > np.median(score)})
    tasks = {"log_salary": "regression", "manager": "binary"}
    about = "synthetic: lognormal and Pareto money columns, 1 % of rent 100x too large"
    return Dataset("salaries", X, y, tasks, KFold(5, shuffle=True, random_state=0),
                   description=about)  # fmt: skip


def pipeline_encoder(dataset: Dataset, numbers_first: bool = False):
    numeric = [c for c in dataset.X.columns if c not in dataset.categorical]
    one_hot = (OneHotEncoder(handle_unknown="ignore", sparse_output=False), dataset.categorical)
    scaled = (StandardScaler(), numeric)
    return make_column_transformer(*([scaled, one_hot] if numbers_first else [one_hot, scaled]))


def raw_table(dataset: Dataset, strings: bool) -> pd.DataFrame:
    """The features with categorical columns as pandas categories (or left as strings)."""
    X = dataset.X.copy()
    for column in dataset.categorical:
        X[column] = X[column].astype(object if strings else "category")
    return X


def with_nan(X: pd.DataFrame, fraction: float, seed: int = 0) -> pd.DataFrame:
    """A copy of X with ``fraction`` of its numeric values set to NaN at random."""
    X = X.copy()
    rng = np.random.default_rng(seed)
    for column in X.select_dtypes("number").columns:
        values = X[column].to_numpy(dtype=float, copy=True)
        values[rng.random(len(values)) < fraction] = np.nan
        X[column] = values
    return X


def run_fold(
    dataset, X_raw, X_nan, fold, train, test, scalings, params, numbers_first=False, seed=0
) -> list[dict]:
    """Every model's per-task test scores on one fold, all with ``random_state=seed``.

    "raw auto" is not fitted again where "auto" keeps every column of the fold's
    training rows "standard" and "raw standard" is measured too: it is then the same
    model (the same inputs and the same seed), and its rows are copied (``same=True``).
    """
    warnings.filterwarnings("ignore")
    y_train, y_test = dataset.y.iloc[train], dataset.y.iloc[test]
    base = {"tasks": dataset.tasks, "random_state": seed, **params}
    models = {"pipeline": (make_pipeline(pipeline_encoder(dataset),
                                         MultiTaskNetEstimator(**base, numeric_scaling=None)),
                           dataset.X)}  # fmt: skip
    if numbers_first:  # the raw encoding's column order: numbers, then one-hot columns
        models["pipeline, numbers first"] = (
            make_pipeline(
                pipeline_encoder(dataset, numbers_first=True),
                MultiTaskNetEstimator(**base, numeric_scaling=None),
            ),
            dataset.X,
        )
    for name in scalings:
        models[f"raw {name}"] = (
            MultiTaskNetEstimator(**base, numeric_scaling=SCALINGS[name]),
            X_raw,
        )
        if X_nan is not None and name == scalings[0]:
            models[f"raw {name} nan"] = (
                MultiTaskNetEstimator(**base, numeric_scaling=SCALINGS[name]),
                X_nan,
            )
    same_as_standard = "standard" in scalings and all(
        method == "standard"
        for method in InputEncoder(numeric_scaling="auto").fit(X_raw.iloc[train]).scalings_
    )
    rows = []
    # "raw auto" last, so that it can take the scores of "raw standard"
    for model_name, (model, X) in sorted(models.items(), key=lambda item: item[0] == "raw auto"):
        if model_name == "raw auto" and same_as_standard:
            copied = [row for row in rows if row["model"] == "raw standard"]
            rows += [{**row, "model": model_name, "same": True} for row in copied]
            continue
        start = time.perf_counter()
        model.fit(X.iloc[train], y_train)
        seconds = time.perf_counter() - start
        estimator = model[-1] if hasattr(model, "steps") else model
        X_test = model[:-1].transform(X.iloc[test]) if hasattr(model, "steps") else X.iloc[test]
        for task, score in estimator.score_tasks(X_test, y_test).items():
            rows.append({"model": model_name, "task": task, "fold": fold, "seed": seed,
                         "score": score, "s": seconds, "same": False})  # fmt: skip
    return rows


def paired(table: pd.DataFrame) -> pd.DataFrame:
    """Each raw model's difference from the pipeline per task, paired by fold and seed.

    ``diff``: the mean over folds and seeds; ``se``: its standard error over seeds (the
    standard deviation of the per-seed means over folds, divided by the square root of
    the number of seeds; NaN with one seed); ``fold_std``: the standard deviation over
    folds of the difference (averaged over seeds).
    """
    table = table.assign(seed=table["seed"] if "seed" in table else 0)
    keys = ["task", "fold", "seed"]
    pipe = table[table["model"] == "pipeline"].set_index(keys)["score"]
    out = []
    for model, part in table[table["model"] != "pipeline"].groupby("model", sort=False):
        gap = part.set_index(keys)["score"] - pipe.reindex(part.set_index(keys).index)
        gap = gap.reset_index()
        by_seed = gap.groupby(["task", "seed"])["score"].mean().unstack("seed")
        by_fold = gap.groupby(["task", "fold"])["score"].mean().unstack("fold")
        n_seeds = by_seed.shape[1]
        se = by_seed.std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.nan
        frame = pd.DataFrame(
            {"diff": by_seed.mean(axis=1), "se": se, "fold_std": by_fold.std(axis=1, ddof=1)}
        ).assign(seeds=n_seeds)
        out.append(frame.assign(model=model).reset_index())
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def summary(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean (std) over folds per model and task, and each model's difference from the pipeline.

    With several seeds, each fold's score is first averaged over the seeds.
    """
    if "seed" in table:
        table = table.groupby(["model", "task", "fold"], as_index=False, sort=False).agg(
            score=("score", "mean"), s=("s", "mean")
        )
    mean = table.pivot_table(index="model", columns="task", values="score", aggfunc="mean")
    std = table.pivot_table(index="model", columns="task", values="score", aggfunc="std")
    order = ["pipeline", *[m for m in mean.index if m != "pipeline"]]
    mean, std = mean.loc[order], std.reindex(index=order, columns=mean.columns).fillna(0.0)
    cells = mean.map(lambda v: f"{v:.4f}") + std.map(lambda v: f" ({v:.3f})")
    seconds = table.groupby(["model", "fold"])["s"].first().groupby("model").mean()
    cells["fit s"] = seconds.loc[order].map(lambda v: f"{v:.1f}")
    return cells, (mean - mean.loc["pipeline"]).drop(index="pipeline")


def run_census(args, params: dict) -> None:
    import census_mmoe

    features, labels = census_mmoe.load(census_mmoe.find_data(args.data_dir))
    codes = census_mmoe.CODE_COLUMNS
    y = pd.DataFrame(labels, columns=list(census_mmoe.TASKS))
    tasks = dict.fromkeys(census_mmoe.TASKS, "binary")
    rows = []
    for seed in range(args.folds or 2):
        train, test = census_mmoe.split(features, labels, seed=seed, n_rows=args.census)
        base = {"tasks": tasks, "random_state": 0, **params}
        models = {
            "pipeline": make_pipeline(
                census_mmoe.preprocessor(features),
                MultiTaskNetEstimator(**base, numeric_scaling=None),
            )
        }
        for threshold in args.thresholds:
            models[f"raw, one-hot up to {threshold}"] = MultiTaskNetEstimator(
                **base, categorical_features=codes, one_hot_max_categories=threshold
            )
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(features.iloc[train], y.iloc[train])
            seconds = time.perf_counter() - start
            estimator = model[-1] if hasattr(model, "steps") else model
            X_test = features.iloc[test]
            X_test = model[:-1].transform(X_test) if hasattr(model, "steps") else X_test
            for task, score in estimator.score_tasks(X_test, y.iloc[test]).items():
                rows.append(
                    {"model": name, "task": task, "fold": seed, "score": score, "s": seconds}
                )
    cells, difference = summary(pd.DataFrame(rows))
    print(f"\ncensus-income ({args.census} rows, {args.folds or 2} stratified 50/50 splits)")
    print(cells.to_string())
    print("difference from the pipeline (mean over splits):")
    print(difference.round(4).to_string())


def rst_table(paths: list[str], max_tasks: int = 20) -> str:
    """The acceptance tables (reStructuredText) of the rows saved by ``--save``.

    One table per raw model; one line per dataset and task: rows, folds, seeds, the
    pipeline's and the raw model's mean ± standard deviation over folds (each fold's
    score averaged over the seeds first), and the raw model's difference from the
    pipeline, paired by fold and seed, ± its standard error over seeds (with more than
    one seed). A dataset with more than ``max_tasks`` tasks (school) gets one line
    summarising its tasks instead (mean over tasks, the worst task, how many are within
    0.01 of the pipeline or better).
    """
    table = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    if "seed" not in table:
        table["seed"] = 0
    table["seed"] = table["seed"].fillna(0).astype(int)
    order = {name: k for k, name in enumerate([*LOADERS, "salaries"])}
    blocks = []
    for model in [m for m in table["model"].unique() if m != "pipeline"]:
        lines = []
        for dataset, part in sorted(table.groupby("dataset"), key=lambda item: order[item[0]]):
            if model not in set(part["model"]):
                continue
            part = part[part["model"].isin(["pipeline", model])]
            per_fold = part.groupby(["model", "task", "fold"])["score"].mean()
            stats = per_fold.groupby(["model", "task"]).agg(["mean", "std"]).fillna(0.0)
            pipe, raw = stats.loc["pipeline"], stats.loc[model]
            gaps = paired(part).set_index("task")
            folds, rows = part["fold"].nunique(), int(part["rows"].iloc[0])
            seeds = part["seed"].nunique()
            head = [dataset, str(rows), str(folds), str(seeds)]
            gap = gaps["diff"]
            if len(gap) > max_tasks:
                worst = gap.idxmin()
                within = int((gap >= -0.01).sum())
                lines.append([*head, f"{len(gap)} tasks: mean",
                              f"{pipe['mean'].mean():.3f}", f"{raw['mean'].mean():.3f}",
                              f"{gap.mean():+.3f} ({within}/{len(gap)} >= -0.01; "
                              f"worst {worst} {gap[worst]:+.3f})"])  # fmt: skip
                continue
            for task in gap.index:
                se = gaps.loc[task, "se"]
                lines.append([
                    *head, str(task),
                    f"{pipe.loc[task, 'mean']:.4f} ± {pipe.loc[task, 'std']:.3f}",
                    f"{raw.loc[task, 'mean']:.4f} ± {raw.loc[task, 'std']:.3f}",
                    f"{gap[task]:+.4f}" + (f" ± {se:.4f}" if seeds > 1 else ""),
                ])  # fmt: skip
        header = ["dataset", "rows", "folds", "seeds", "task", "pipeline", model,
                  "difference"]  # fmt: skip
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        rule = "  ".join("=" * width for width in widths)

        def render(row: list[str], widths: list[int] = widths) -> str:
            return "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()

        blocks.append("\n".join([rule, render(header), rule, *map(render, lines), rule]))
    return "\n\n".join(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    names = list(LOADERS)
    default = [name for name in names if name != "school"]
    parser.add_argument("--datasets", nargs="*", default=default, choices=[*names, "salaries"])
    parser.add_argument("--scalings", nargs="*", default=["auto"], choices=list(SCALINGS))
    parser.add_argument("--folds", type=int, help="first N folds only (default: all)")
    parser.add_argument(
        "--seeds", type=int, default=1, help="repeat with random_state 0..N-1 (paired SE)"
    )
    parser.add_argument("--max-epochs", type=int, help="estimator max_epochs (default: its own)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="estimator parameter NAME=VALUE (Python literal) for every model, repeatable",
    )
    parser.add_argument("--save", help="append every fold's scores to this CSV")
    parser.add_argument("--table", nargs="+", help="print the RST table of --save CSVs")
    parser.add_argument("--subsample", type=int, help="at most N rows per dataset")
    parser.add_argument("--nan", type=float, default=0.0, help="also fit with this NaN fraction")
    parser.add_argument("--strings", action="store_true", help="categories as strings")
    parser.add_argument(
        "--numbers-first",
        action="store_true",
        help="also the pipeline with the numbers before the one-hot columns (the raw order)",
    )
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--census", type=int, help="one-hot or embed, on N census rows")
    parser.add_argument("--thresholds", type=int, nargs="*", default=[0, 16, 1000])
    parser.add_argument("--smoke", action="store_true", help="300 rows, 2 epochs, 1 fold")
    args = parser.parse_args()
    if args.table:
        return print(rst_table(args.table))
    if args.smoke:
        args.folds, args.max_epochs, args.subsample, args.nan = 1, 2, 300, 0.1
        args.datasets = ["student-performance", "energy-efficiency", "salaries"]
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    for item in args.param:
        name, _, value = item.partition("=")
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):  # a bare word: the string itself
            params[name] = value
    root = data_dir(args.data_dir)
    command = shlex.join(["python", "benchmarks/raw_tables.py", *sys.argv[1:]])
    print(f"{command}  # {datetime.date.today()}", flush=True)
    if args.census:
        return run_census(args, params)
    acceptance = []
    for name in args.datasets:
        dataset = salaries() if name == "salaries" else LOADERS[name](root)
        if args.subsample and len(dataset.X) > args.subsample:
            dataset = dataset.subsample(args.subsample)
        splits = dataset.splits()[: args.folds] if args.folds else dataset.splits()
        X_raw = raw_table(dataset, args.strings)
        X_nan = with_nan(X_raw, args.nan) if args.nan else None
        start = time.perf_counter()
        results = Parallel(n_jobs=args.n_jobs)(
            delayed(run_fold)(
                dataset, X_raw, X_nan, fold, train, test, args.scalings, params,
                args.numbers_first, seed,
            )
            for seed in range(args.seeds)
            for fold, (train, test) in enumerate(splits)
        )  # fmt: skip
        table = pd.DataFrame([row for rows in results for row in rows])
        if args.save:
            saved = table.assign(dataset=name, rows=len(dataset.X))
            saved.to_csv(args.save, mode="a", header=not os.path.exists(args.save), index=False)
        cells, difference = summary(table)
        about = f", {dataset.description}" if dataset.description else ""
        seconds = time.perf_counter() - start
        seeds = f", {args.seeds} seeds" if args.seeds > 1 else ""
        print(f"\n{name} ({len(dataset.X)} rows, {len(splits)} folds{seeds}{about}; "
              f"{seconds:.0f}s)")  # fmt: skip
        print(cells.to_string())
        print("difference from the pipeline (mean over folds):")
        print(difference.round(4).to_string(), flush=True)
        if args.seeds > 1 or "raw auto" in set(table["model"]):
            gaps = paired(table)
            print("paired difference from the pipeline (diff, SE over seeds, std over folds):")
            print(gaps.round(4).to_string(index=False), flush=True)
            if "raw auto" in set(gaps["model"]) and "raw standard" in set(gaps["model"]):
                same = table[table["model"] == "raw auto"]["same"].all()
                print("raw auto = raw standard on every fold (no heavy-tailed column)"
                      if same else "raw auto fitted where a column is heavy-tailed")  # fmt: skip
        for model, row in difference.iterrows():
            if str(model).startswith("raw") and not str(model).endswith("nan"):
                acceptance += [(name, model, task, value) for task, value in row.items()]
    worst = min(acceptance, key=lambda item: item[3]) if acceptance else None
    if worst is not None:
        failing = [item for item in acceptance if item[3] < -0.01]
        print(
            f"\nraw within 0.01 of the pipeline or better on {len(acceptance) - len(failing)} "
            f"of {len(acceptance)} (model, task) pairs; worst: {worst[0]} {worst[2]} "
            f"{worst[1]} {worst[3]:+.4f}"
        )


if __name__ == "__main__":
    main()
