"""
Mixed tasks on real data: wine colour and quality
=================================================

The UCI Wine Quality data (Cortez et al., 2009) describes 6,497 Portuguese "Vinho Verde"
wines by 11 physico-chemical measurements. Two targets hang on the same rows: the colour
(red or white, a binary task) and the quality grade given by tasters (0-10, treated here
as a regression task). One :class:`~sklearn_mtl.MultiTaskNetEstimator` learns both; we
compare it on a held-out quarter of the wines with the same network trained on each task
alone, and with scikit-learn's single-task MLP and linear models.

The data is not shipped with the package: point ``--data-dir`` or the ``SKLEARN_MTL_DATA``
environment variable at a folder holding ``wine-quality/winequality-red.csv`` and
``winequality-white.csv`` (see :mod:`sklearn_mtl.datasets`). The script stops with a
message when they are absent. Set
``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on a subsample.
"""

# %%
# Find and load the data
# ----------------------
import argparse
import os
import sys

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.datasets import load_wine_quality

parser = argparse.ArgumentParser(description="Mixed tasks on the Wine Quality data")
parser.add_argument("--data-dir", help="folder that holds wine-quality/")
args, _ = parser.parse_known_args()
try:
    wine = load_wine_quality(args.data_dir)
except FileNotFoundError as error:
    sys.exit(str(error))
smoke = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
if smoke:
    wine = wine.subsample(600)
X, y = wine.X, wine.y
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y["colour"]
)
print(f"{len(X_train)} training wines, {len(X_test)} test wines, {X.shape[1]} features")

# %%
# One model for both tasks
# ------------------------
# ``quality`` holds whole grades 3-9, which the automatic inference would read as 7
# classes; the loader declares the kinds instead. Library defaults otherwise. The
# measurements are on their own scales (sulfur dioxide in tens of mg/l, density near
# 1): the estimator scales them itself, from the training rows.
tasks = wine.tasks
max_epochs = 5 if smoke else 200
net = MultiTaskNetEstimator(tasks=tasks, max_epochs=max_epochs, random_state=0)
net.fit(X_train, y_train)
results = {"multi-task net": net.score_tasks(X_test, y_test)}

# %%
# Single-task references, on the same split
# -----------------------------------------
# scikit-learn's models need a scaler in front; ours does not.
single = {
    "same net, one task": lambda task: MultiTaskNetEstimator(
        tasks={task: tasks[task]}, max_epochs=max_epochs, random_state=0
    ),
    "sklearn MLP": lambda task: (
        MLPClassifier(max_iter=max_epochs, random_state=0)
        if task == "colour"
        else MLPRegressor(max_iter=max_epochs, random_state=0)
    ),
    "linear model": lambda task: LogisticRegression(max_iter=1000) if task == "colour" else Ridge(),
}
for name, make_model in single.items():
    results[name] = {
        task: (
            make_model(task)
            if name == "same net, one task"
            else make_pipeline(StandardScaler(), make_model(task))
        )
        .fit(X_train, y_train[task])
        .score(X_test, y_test[task])
        for task in tasks
    }
table = pd.DataFrame(results).T.rename(
    columns={"colour": "colour (accuracy)", "quality": "quality (R²)"}
)
print(table.round(4).to_string())

# %%
# Why the multi-task net does not win here
# ----------------------------------------
# With the previous defaults (no early stopping, no input embedding), the multi-task
# net scored a little below the same network trained on each task alone on this split
# (on the full data: 0.3723 against 0.3836 quality R², 0.9957 against 0.9963 colour
# accuracy); the table above is the current defaults', not re-measured for this text.
# Nothing here gives sharing something to do:
#
# - every wine has both labels, so the single-task network of each task sees as many
#   labelled rows as the multi-task one; sharing pays when a task has few labels and a
#   related task has many (the quickstart's ``bought``, labelled on 15% of the rows);
# - colour is almost solved from the features alone (the linear model reaches 0.9945),
#   so learning it teaches the shared layers little about quality, while the two tasks
#   now compete for the same hidden units.
#
# One test split of 1,625 wines is also noisy: over 5 cross-validation folds (the
# diagnostics guide's network, not the defaults) the difference in quality R² is
# -0.001 (standard error 0.006, p = 0.88), no evidence
# either way (see the diagnostics guide's table, made with
# :func:`~sklearn_mtl.diagnostics.compare_single_task`).

# %%
# Learning curves per task
# ------------------------
# ``history_`` records each task's training loss per epoch.
fig, ax = plt.subplots(figsize=(6, 3.5))
for task in tasks:
    ax.plot(net.history_[:, f"train_loss_{task}"], label=task)
ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Per-task training loss")
ax.legend()
fig.tight_layout()
plt.show()
