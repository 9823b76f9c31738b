"""
Ordered classes: ordinal, regression or multiclass?
===================================================

A wine's quality grade (3 to 9) or a student's grade band are classes with an order:
predicting 5 for a 6 is a smaller mistake than predicting 3. Three ways to declare such
a target:

- ``"regression"``: a number (rounded to the nearest grade to predict a class); uses
  the order and the distances, but assumes equal steps and gives no probabilities;
- ``"multiclass"``: unordered classes; gives probabilities, ignores the order;
- ``"ordinal"``: a cumulative-logit model, ``P(y >= k)`` decreasing in ``k``; gives
  probabilities and uses the order.

We compare them on two shared datasets, with the same network and the other tasks of
the table alongside: the wines' quality (with their colour as a binary task), and the
five grade bands of Cortez & Silva (2008) for the maths and Portuguese final grades of
the students who take both courses (band 0: 0-9, 1: 10-11, 2: 12-13, 3: 14-15, 4: 16-20).
Scores are the mean absolute error in grades (or bands) and the share of exact
predictions on held-out folds.

Point ``--data-dir`` or ``SKLEARN_MTL_DATA`` at the folder holding ``wine-quality/``
and ``student-performance/``. Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run.
"""

# %%
# Load the data
# -------------
import argparse
import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.datasets import load_student_performance, load_wine_quality

parser = argparse.ArgumentParser(description="Ordinal tasks on wine and student grades")
parser.add_argument("--data-dir", help="folder that holds wine-quality/, student-performance/")
args, _ = parser.parse_known_args()
try:
    wine = load_wine_quality(args.data_dir)
    students = load_student_performance(args.data_dir)
except FileNotFoundError as error:
    sys.exit(str(error))
SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # fixed epoch budgets
if SMOKE:
    wine = wine.subsample(500)
n_folds, max_epochs = (2, 3) if SMOKE else (3, 40)

bands = [10, 12, 14, 16]  # band edges of the 0-20 grades
student_y = pd.DataFrame(
    {course: np.digitize(students.y[f"G3_{course}"], bands) for course in ("mat", "por")}
)
problems = {
    "wine quality": (wine.X, wine.y, ["quality"], {"colour": "binary"}, wine.splits()),
    "student bands": (students.X, student_y, ["mat", "por"], {}, students.splits()),
}


# %%
# The same network, three declarations of the ordered targets
# -----------------------------------------------------------
def model(X, ordered, kind, others):
    tasks = [Task(name, kind) for name in ordered]
    tasks += [Task(name, other) for name, other in others.items()]
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), categorical), remainder=StandardScaler()
    )
    net = MultiTaskNetEstimator(
        tasks=tasks, hidden_layer_sizes=(64,), lr=3e-3, max_epochs=max_epochs, random_state=0
    )
    return make_pipeline(encode, net)


rows = []
for problem, (X, y, ordered, others, splits) in problems.items():
    for fold, (train, test) in enumerate(splits[:n_folds]):
        for kind in ("regression", "multiclass", "ordinal"):
            fitted = model(X, ordered, kind, others).fit(X.iloc[train], y.iloc[train])
            predicted = fitted.predict(X.iloc[test])
            for task in ordered:
                truth = y.iloc[test][task].to_numpy()
                grades = np.unique(y.iloc[train][task])
                guess = predicted[task].to_numpy().astype(float)
                if kind == "regression":  # nearest grade seen in training
                    guess = np.clip(np.round(guess), grades.min(), grades.max())
                rows.append(
                    {
                        "problem": problem,
                        "task": task,
                        "kind": kind,
                        "fold": fold,
                        "MAE": mean_absolute_error(truth, guess),
                        "exact": accuracy_score(truth, guess),
                    }
                )
results = pd.DataFrame(rows)
summary = results.groupby(["problem", "task", "kind"])[["MAE", "exact"]].agg(["mean", "std"])
print(summary.round(3).to_string())

# %%
# Mean absolute error per declaration (lower is better; bars: spread over folds)
# ------------------------------------------------------------------------------
labels = [f"{p}: {t}" for p, t in results.groupby(["problem", "task"], sort=False).groups]
fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.25
for offset, kind in enumerate(("regression", "multiclass", "ordinal")):
    part = results[results.kind == kind].groupby(["problem", "task"], sort=False)["MAE"]
    ax.bar(
        np.arange(len(labels)) + (offset - 1) * width,
        part.mean(),
        width,
        yerr=part.std(),
        label=kind,
    )
ax.set_xticks(np.arange(len(labels)), labels)
ax.set(ylabel="mean absolute error", title="Ordered targets, three declarations")
ax.legend()
fig.tight_layout()
plt.show()
