"""Census-income (KDD) benchmark of the MMoE paper: income and never-married.

Reproduces the setting of Ma et al. (KDD 2018, section 6.3, task group 1) on the UCI
census-income (KDD) file: two binary tasks, income > 50k and marital status "Never
married", predicted from the remaining 39 columns (the sampling weight
``instance_weight`` is dropped). Per-task test ROC AUC of

- one-hot logistic regression, one model per task (the linear reference),
- single-task networks (one ``MultiTaskNetEstimator`` per task),
- hard parameter sharing, MMoE and PLE (one network for both tasks),

over several seeds, with training seconds, printed as a table.

Only the test portion of the data set (99,762 rows) is available (see the data
folder's README.txt), so the script splits it 50/50, stratified on both labels, with
a fixed seed (the split does not change with the model seeds). Neural networks stop
early on a 10% validation part of the training half; nothing is tuned on the test
half. The numbers are therefore not directly comparable to the paper's, which trains
on the separate 199,523-row training file.

Usage::

    python benchmarks/census_mmoe.py --data-dir /path/to/shared/data
    SKLEARN_MTL_DATA=/path/to/shared/data python benchmarks/census_mmoe.py --smoke

``--data-dir`` (or the environment variable ``SKLEARN_MTL_DATA``) is the folder that
holds ``census-income-kdd/census-income.test.gz`` (or that folder itself).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from sklearn_mtl.datasets._uci import CENSUS_COLUMNS as COLUMNS  # file order

DATA_FILE = Path("census-income-kdd") / "census-income.test.gz"

# Integer codes that name categories rather than measure something.
CODE_COLUMNS = ["det_ind_code", "det_occ_code", "own_or_self", "vet_benefits", "year"]
MONEY_COLUMNS = ["wage_per_hour", "capital_gains", "capital_losses", "stock_dividends"]
TASKS = ("income", "never_married")


def find_data(data_dir: str | None) -> Path:
    """Locate census-income.test.gz, or exit with a message saying how to provide it."""
    candidates = []
    root = data_dir or os.environ.get("SKLEARN_MTL_DATA")
    if root:
        candidates = [Path(root) / DATA_FILE, Path(root) / DATA_FILE.name]
    for path in candidates:
        if path.is_file():
            return path
    where = f" (looked for {', '.join(map(str, candidates))})" if candidates else ""
    sys.exit(
        "census_mmoe.py: the census-income (KDD) data was not found"
        f"{where}. Pass --data-dir DIR or set SKLEARN_MTL_DATA=DIR, where DIR holds "
        f"{DATA_FILE} (the UCI file census-income.test.gz; see its README.txt)."
    )


def load(path: Path):
    """Return the feature DataFrame and the (n_samples, 2) 0/1 label array."""
    import pandas as pd

    frame = pd.read_csv(path, header=None, names=COLUMNS, skipinitialspace=True)
    labels = np.column_stack(
        [
            (frame["income_50k"] == "50000+.").to_numpy(),
            (frame["marital_stat"] == "Never married").to_numpy(),
        ]
    ).astype(np.float64)
    features = frame.drop(columns=["income_50k", "marital_stat", "instance_weight"])
    return features, labels


def preprocessor(features):
    """One-hot encode categories and codes; log1p money columns; scale numbers."""
    from pandas.api.types import is_numeric_dtype
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    categorical = [c for c in features.columns if not is_numeric_dtype(features[c])]
    categorical += CODE_COLUMNS
    numeric = [c for c in features.columns if c not in categorical]
    money = [c for c in numeric if c in MONEY_COLUMNS]
    other = [c for c in numeric if c not in MONEY_COLUMNS]
    return ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", dtype=np.float32), categorical),
            ("money", make_pipeline(FunctionTransformer(np.log1p), StandardScaler()), money),
            ("numbers", StandardScaler(), other),
        ],
        sparse_threshold=0.0,
    )


def split(features, labels, seed: int = 0, n_rows: int | None = None):
    """Stratified 50/50 split on both labels (optionally of a stratified subsample)."""
    from sklearn.model_selection import train_test_split

    strata = labels[:, 0] * 2 + labels[:, 1]
    index = np.arange(len(labels))
    if n_rows is not None and n_rows < len(labels):
        index, _ = train_test_split(index, train_size=n_rows, stratify=strata, random_state=seed)
    train, test = train_test_split(index, test_size=0.5, stratify=strata[index], random_state=seed)
    return train, test


def network_models(max_epochs: int):
    """Name -> (function of seed -> estimator, tasks it fits) of the neural models."""
    from sklearn_mtl import MultiTaskNetEstimator, Task
    from sklearn_mtl.architectures import PLE, HardSharing, MMoE

    common = {
        "max_epochs": max_epochs,
        "batch_size": 1024,
        "lr": 3e-3,
        "alpha": 1e-5,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 3,
        "head_layer_sizes": (16,),
    }

    def estimator(architecture, tasks, hidden=(64,)):
        def make(seed):
            return MultiTaskNetEstimator(
                tasks=[Task(name, "binary") for name in tasks],
                architecture=architecture,
                hidden_layer_sizes=hidden,
                random_state=seed,
                **common,
            )

        return make

    return {
        "single-task net (income)": (estimator(HardSharing(), ["income"]), ["income"]),
        "single-task net (never_married)": (
            estimator(HardSharing(), ["never_married"]),
            ["never_married"],
        ),
        "hard sharing": (estimator(HardSharing(), list(TASKS)), list(TASKS)),
        "MMoE (8 experts)": (
            estimator(MMoE(n_experts=8, expert_layer_sizes=(16,)), list(TASKS)),
            list(TASKS),
        ),
        "PLE (2 levels)": (
            estimator(
                PLE(n_levels=2, n_shared_experts=4, n_task_experts=2, expert_layer_sizes=(16,)),
                list(TASKS),
            ),
            list(TASKS),
        ),
    }


def positive_proba(probas) -> list[np.ndarray]:
    """Probability of class 1 for each binary task from ``predict_proba``."""
    if isinstance(probas, np.ndarray):
        probas = [probas]
    return [p[:, 1] for p in probas]


def run(args) -> list[dict]:
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    features, labels = load(find_data(args.data_dir))
    n_rows = args.n_rows if args.n_rows else (4000 if args.smoke else None)
    train, test = split(features, labels, seed=0, n_rows=n_rows)
    prep = preprocessor(features).fit(features.iloc[train])
    X_train = prep.transform(features.iloc[train]).astype(np.float32)
    X_test = prep.transform(features.iloc[test]).astype(np.float32)
    y_train, y_test = labels[train], labels[test]
    print(
        f"data: {len(labels)} rows, train {len(train)}, test {len(test)}, "
        f"{X_train.shape[1]} features after one-hot encoding; positive rate "
        f"income {y_test[:, 0].mean():.3f}, never_married {y_test[:, 1].mean():.3f}; "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    rows = []
    # The linear reference: deterministic (lbfgs), fitted once per task.
    for j, task in enumerate(TASKS):
        start = time.perf_counter()
        model = LogisticRegression(C=1.0, max_iter=1000).fit(X_train, y_train[:, j])
        seconds = time.perf_counter() - start
        auc = roc_auc_score(y_test[:, j], model.predict_proba(X_test)[:, 1])
        rows.append(
            {"model": "one-hot logistic regression", "seed": 0, task: auc, "seconds": seconds}
        )
        print(f"  logistic regression {task}: AUC {auc:.4f} ({seconds:.1f} s)", flush=True)
    models = network_models(args.max_epochs)
    for seed in range(args.seeds):
        for name, (make, tasks) in models.items():
            columns = [TASKS.index(task) for task in tasks]
            start = time.perf_counter()
            est = make(seed).fit(X_train, y_train[:, columns])
            seconds = time.perf_counter() - start
            row = {"model": name, "seed": seed, "seconds": seconds, "epochs": est.n_iter_}
            for task, proba in zip(tasks, positive_proba(est.predict_proba(X_test)), strict=True):
                row[task] = roc_auc_score(y_test[:, TASKS.index(task)], proba)
            rows.append(row)
            aucs = ", ".join(f"{task} {row[task]:.4f}" for task in tasks)
            print(
                f"  seed {seed} {name}: AUC {aucs} ({seconds:.1f} s, {est.n_iter_} epochs)",
                flush=True,
            )
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation per model; single-task nets and LR merged per task."""
    groups: dict[str, dict] = {}
    for row in rows:
        name = row["model"]
        if name.startswith("single-task net"):
            name = "single-task nets"
        group = groups.setdefault(name, {"seconds": {}, **{task: [] for task in TASKS}})
        for task in TASKS:
            if task in row:
                group[task].append(row[task])
        # Seconds: sum over the models a seed needs (one per task for single-task models).
        group["seconds"][row["seed"]] = group["seconds"].get(row["seed"], 0.0) + row["seconds"]
    table = []
    for name, group in groups.items():
        entry = {"model": name, "n": len(group["income"])}
        for task in TASKS:
            values = np.asarray(group[task])
            entry[task] = (values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0)
        entry["seconds"] = float(np.mean(list(group["seconds"].values())))
        table.append(entry)
    return table


def format_table(table: list[dict]) -> str:
    header = ["model", "runs", "income AUC", "never-married AUC", "train s"]
    lines = []
    for entry in table:
        cells = [entry["model"], str(entry["n"])]
        for task in TASKS:
            mean, std = entry[task]
            cells.append(f"{mean:.4f} ± {std:.4f}" if entry["n"] > 1 else f"{mean:.4f}")
        cells.append(f"{entry['seconds']:.1f}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    out = [rule, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), rule]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    out.append(rule)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="folder holding census-income-kdd/ (or it itself)")
    parser.add_argument("--seeds", type=int, default=5, help="model seeds (default 5)")
    parser.add_argument("--max-epochs", type=int, default=15, help="epoch cap (default 15)")
    parser.add_argument("--n-rows", type=int, default=None, help="stratified subsample first")
    parser.add_argument("--smoke", action="store_true", help="4,000 rows, 1 seed, 5 epochs")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1; 0: torch's default)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.max_epochs = 1, 5
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    import sklearn
    import torch

    print(
        f"census_mmoe {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC | "
        f"{platform.platform()} | {os.cpu_count()} CPUs | python {platform.python_version()}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}\n$ {command}",
        flush=True,
    )
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=args.threads) if args.threads else nullcontext()
    start = time.perf_counter()
    with limits:  # BLAS threads too (logistic regression, preprocessing)
        rows = run(args)
    print()
    print(format_table(summarise(rows)))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
