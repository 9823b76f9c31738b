"""
Does multi-task learning pay on real data?
==========================================

:func:`~sklearn_mtl.compare_single_task` on three datasets of the project's shared data
folder, each with two or three targets on the same rows:

- **student-performance** (Cortez and Silva, 2008): the 382 students enrolled in both
  maths and Portuguese; final grades in both courses and maths pass/fail, without the
  earlier-term grades as inputs. Scarce data.
- **parkinsons-telemonitoring** (Tsanas et al., 2010): motor and total UPDRS scores from
  voice measures, split by patient (``GroupKFold``): the score for a new patient.
- **wine-quality** (Cortez et al., 2009): wine colour (binary) and tasters' quality grade.

This example uses a short budget (3 folds, few epochs) to run in about a minute; the
table of the documentation page comes from ``benchmarks/does_mtl_pay.py`` with 5 folds
and 100 epochs. The data is not shipped: point ``--data-dir`` or ``SKLEARN_MTL_DATA`` at
the folder holding the datasets; the example stops with a message when it is absent.
``SKLEARN_MTL_SMOKE=1`` subsamples for a seconds-long run.
"""

# %%
# Find the data
# -------------
import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, compare_single_task
from sklearn_mtl.plotting import plot_single_task_comparison

NEEDED = ["student-performance", "parkinsons-telemonitoring", "wine-quality"]


def find_data_dir() -> Path:
    parser = argparse.ArgumentParser(description="Multi-task vs single-task on real data")
    parser.add_argument("--data-dir", help="folder that holds the datasets")
    args, _ = parser.parse_known_args()
    here = Path(globals().get("__file__", "examples/x.py")).resolve().parent
    candidates = [
        args.data_dir,
        os.environ.get("SKLEARN_MTL_DATA"),
        here.parent.parent / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).is_dir() for name in NEEDED):
            return Path(candidate)
    raise SystemExit(
        f"Data not found: pass --data-dir or set SKLEARN_MTL_DATA to a folder holding {NEEDED}."
    )


root = find_data_dir()
smoke = os.environ.get("SKLEARN_MTL_SMOKE") == "1"

# %%
# Load the three datasets
# -----------------------
keys = [
    "school",
    "sex",
    "age",
    "address",
    "famsize",
    "Pstatus",
    "Medu",
    "Fedu",
    "Mjob",
    "Fjob",
    "reason",
    "nursery",
    "internet",
]
mat = pd.read_csv(root / "student-performance" / "student-mat.csv", sep=";")
por = pd.read_csv(root / "student-performance" / "student-por.csv", sep=";")
both = mat.merge(por, on=keys, suffixes=("_mat", "_por"))
grades = [f"G{i}_{c}" for i in (1, 2, 3) for c in ("mat", "por")]
student_X = both[keys + [c for c in both if c.endswith("_por") and c not in grades]]
student_y = pd.DataFrame(
    {
        "G3_mat": both["G3_mat"].astype(float),
        "G3_por": both["G3_por"].astype(float),
        "pass_mat": np.where(both["G3_mat"] >= 10, "pass", "fail"),
    }
)

updrs = pd.read_csv(root / "parkinsons-telemonitoring" / "parkinsons_updrs.data")
park_y = updrs[["motor_UPDRS", "total_UPDRS"]].astype(float)
park_X = updrs.drop(columns=["subject#", "test_time", "motor_UPDRS", "total_UPDRS"])
patients = updrs["subject#"].to_numpy()

wines = pd.concat(
    [
        pd.read_csv(root / "wine-quality" / "winequality-red.csv", sep=";").assign(colour="red"),
        pd.read_csv(root / "wine-quality" / "winequality-white.csv", sep=";").assign(
            colour="white"
        ),
    ],
    ignore_index=True,
)
wine_y = pd.DataFrame({"colour": wines["colour"], "quality": wines["quality"].astype(float)})
wine_X = wines.drop(columns=["quality", "colour"])

datasets = {
    "student-performance": (
        student_X,
        student_y,
        KFold(3, shuffle=True, random_state=0),
        None,
        {"G3_mat": "regression", "G3_por": "regression", "pass_mat": "binary"},
    ),
    "parkinsons (by patient)": (
        park_X,
        park_y,
        GroupKFold(3),
        patients,
        {"motor_UPDRS": "regression", "total_UPDRS": "regression"},
    ),
    "wine-quality": (
        wine_X,
        wine_y,
        KFold(3, shuffle=True, random_state=0),
        None,
        {"colour": "binary", "quality": "regression"},
    ),
}

# %%
# Compare, dataset by dataset
# ---------------------------
# The same network for every model: one-hot categories and standardised numbers, then
# a (64, 32) MLP. Multi-task and single-task differ only in the tasks each is given.
reports = {}
for name, (X, y, cv, groups, tasks) in datasets.items():
    if smoke:
        keep = np.sort(np.random.default_rng(0).permutation(len(X))[:300])
        X, y = X.iloc[keep].reset_index(drop=True), y.iloc[keep].reset_index(drop=True)
        groups = None if groups is None else groups[keep]
    categorical = [c for c in X if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X if c not in categorical]
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), numeric),
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ),
        MultiTaskNetEstimator(
            tasks=tasks,
            hidden_layer_sizes=(64, 32),
            alpha=1e-3,
            batch_size=32 if len(X) < 1000 else 256,
            max_epochs=3 if smoke else 30,
            random_state=0,
        ),
    )
    reports[name] = compare_single_task(model, X, y, cv=cv, groups=groups, n_jobs=2)
    report = reports[name]
    print(f"\n{name}: {len(X)} rows, Delta_m = {report.attrs['delta_m']:+.2f}%")
    print(
        report[
            [
                "metric",
                "multi_task",
                "single_task",
                "difference",
                "difference_se",
                "p_value",
                "negative_transfer",
            ]
        ]
        .round(3)
        .to_string()
    )

# %%
# The gain from sharing, per task
# -------------------------------
# Bars above zero: the multi-task network scores higher than the same network trained
# on the task alone. Error bars: one standard error over folds (optimistic, as folds
# share training rows). The honest reading is usually "no clear difference": a gain
# counts only when it is large against its error bar and its p-value is small.
fig, axes = plt.subplots(1, len(reports), figsize=(5 * len(reports), 4))
for ax, (name, report) in zip(axes, reports.items(), strict=True):
    plot_single_task_comparison(report, relative=True, ax=ax).set_title(name)
fig.tight_layout()
plt.show()
