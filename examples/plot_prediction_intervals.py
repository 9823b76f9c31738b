"""
Prediction intervals: quantile outputs and their coverage
=========================================================

``Task(name, "regression", quantiles=(0.1, 0.5, 0.9))`` gives a regression task one
output per quantile, trained with the pinball loss and built to never cross (each
quantile is the previous one plus a positive step). ``predict`` returns the median and
``predict_quantiles`` the three of them, so ``[q0.1, q0.9]`` is a 10-90 % prediction
interval: on new rows it should hold the true value 80 % of the time.

We check that on held-out rows of the shared regression datasets, one model per
dataset with all its regression tasks declared with quantiles (and its other tasks as
they are), on the first split each dataset's loader prescribes.

Point ``--data-dir`` or ``SKLEARN_MTL_DATA`` at the shared data folder. Set
``SKLEARN_MTL_SMOKE=1`` for a seconds-long run.
"""

# %%
# The datasets and the model
# --------------------------
import argparse
import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.datasets import (
    load_abalone,
    load_bike_sharing,
    load_energy_efficiency,
    load_parkinsons_telemonitoring,
    load_student_performance,
    load_wine_quality,
)

parser = argparse.ArgumentParser(description="Coverage of quantile intervals")
parser.add_argument("--data-dir", help="folder that holds the shared datasets")
args, _ = parser.parse_known_args()
loaders = [
    load_energy_efficiency,
    load_abalone,
    load_parkinsons_telemonitoring,
    load_student_performance,
    load_bike_sharing,
    load_wine_quality,
]
try:
    datasets = [load(args.data_dir) for load in loaders]
except FileNotFoundError as error:
    sys.exit(str(error))
SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # fixed epoch budgets
max_epochs = 3 if SMOKE else 60
LEVELS = (0.1, 0.5, 0.9)


def model(dataset):
    tasks = [
        Task(task.name, task.kind, columns=task.columns, quantiles=LEVELS)
        if task.kind == "regression"
        else task
        for task in dataset.task_list
    ]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), dataset.categorical), remainder=StandardScaler()
    )
    net = MultiTaskNetEstimator(
        tasks=tasks, hidden_layer_sizes=(64,), lr=3e-3, max_epochs=max_epochs, random_state=0
    )
    return make_pipeline(encode, net)


# %%
# Coverage of the 10-90 % interval on held-out rows
# -------------------------------------------------
rows = []
for dataset in datasets:
    if SMOKE:
        dataset = dataset.subsample(300)
    train, test = dataset.splits()[-1]  # for a time split, the fold that uses all rows
    fitted = model(dataset).fit(dataset.X.iloc[train], dataset.y.iloc[train])
    Xt = fitted[:-1].transform(dataset.X.iloc[test])
    for task, bands in fitted[-1].predict_quantiles(Xt).items():
        truth = dataset.y.iloc[test][task].to_numpy(dtype=float)
        inside = (truth >= bands[:, 0]) & (truth <= bands[:, 2])
        rows.append(
            {
                "dataset": dataset.name,
                "task": task,
                "test rows": len(truth),
                "coverage 10-90 %": inside.mean(),
                "below q0.1": np.mean(truth < bands[:, 0]),
                "above q0.9": np.mean(truth > bands[:, 2]),
                "width / std": np.mean(bands[:, 2] - bands[:, 0]) / truth.std(),
            }
        )
coverage = pd.DataFrame(rows)
print(coverage.round(3).to_string(index=False))
print(f"mean coverage over tasks: {coverage['coverage 10-90 %'].mean():.3f} (nominal 0.800)")

# %%
# Coverage per task; the dashed line is the nominal 80 %
# ------------------------------------------------------
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.barh(coverage.dataset + ": " + coverage.task, coverage["coverage 10-90 %"])
ax.axvline(0.8, color="k", linestyle="--")
ax.set(xlim=(0, 1), xlabel="share of held-out rows inside [q0.1, q0.9]")
fig.tight_layout()
plt.show()
