"""
Does multi-task learning pay on real data?
==========================================

:func:`~sklearn_mtl.diagnostics.compare_single_task` on three datasets of the project's shared data
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
# Load the data
# -------------
# :mod:`sklearn_mtl.datasets` reads each dataset from the data folder, with its tasks
# and the split its README asks for (by patient for parkinsons). A short budget here:
# 3 folds per dataset.
import argparse
import os
import sys

import matplotlib.pyplot as plt
from sklearn.compose import make_column_transformer
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.datasets import (
    load_parkinsons_telemonitoring,
    load_student_performance,
    load_wine_quality,
)
from sklearn_mtl.diagnostics import compare_single_task
from sklearn_mtl.plotting import plot_single_task_comparison

parser = argparse.ArgumentParser(description="Multi-task vs single-task on real data")
parser.add_argument("--data-dir", help="folder that holds the datasets")
args, _ = parser.parse_known_args()
smoke = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
try:
    datasets = {
        "student-performance": load_student_performance(args.data_dir),
        "parkinsons (by patient)": load_parkinsons_telemonitoring(args.data_dir),
        "wine-quality": load_wine_quality(args.data_dir),
    }
except FileNotFoundError as error:
    sys.exit(str(error))
for dataset in datasets.values():
    dataset.cv = (
        GroupKFold(3) if dataset.groups is not None else KFold(3, shuffle=True, random_state=0)
    )

# %%
# Compare, dataset by dataset
# ---------------------------
# The same network for every model: one-hot categories and standardised numbers, then
# a (64, 32) MLP. Multi-task and single-task differ only in the tasks each is given.
reports = {}
for name, dataset in datasets.items():
    if smoke:
        dataset = dataset.subsample(300)
    X, y = dataset.X, dataset.y
    numeric = [c for c in X if c not in dataset.categorical]
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), numeric),
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), dataset.categorical),
        ),
        MultiTaskNetEstimator(
            tasks=dataset.tasks,
            hidden_layer_sizes=(64, 32),
            alpha=1e-3,
            batch_size=32 if len(X) < 1000 else 256,
            max_epochs=3 if smoke else 30,
            random_state=0,
        ),
    )
    reports[name] = compare_single_task(model, X, y, cv=dataset.cv, groups=dataset.groups, n_jobs=2)
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
