"""
Quickstart: four kinds of tasks in one model
============================================

One table, four targets of four kinds: what a customer spends (regression), whether
they bought a product (binary, unknown for some customers), their segment (three
classes with string labels) and which of three topics they like (multilabel). One
:class:`~sklearn_mtl.MultiTaskNetEstimator` learns all of them at once.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on tiny sizes.
"""

# %%
# Data
# ----
# The targets all depend on a few hidden factors of the features, which is the
# situation where learning them together can help: the shared layers learn the
# factors from every task's labels.
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.plotting import plot_learning_curves

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (300, 5) if SMOKE else (3000, 60)

rng = np.random.default_rng(0)
Z = rng.normal(size=(n_samples, 10))
factors = np.tanh(Z @ rng.normal(size=(10, 4)) / 2)
# The features come as a raw table: numbers on their own scales, a column of strings
# and missing values. The estimator scales, imputes and encodes them itself, from the
# training rows; no preprocessing Pipeline is needed.
X = pd.DataFrame(Z[:, :9] * np.logspace(-2, 3, 9) + 50, columns=[f"m{i}" for i in range(9)])
X["region"] = np.array(["north", "centre", "south"])[np.digitize(Z[:, 9], [-0.4, 0.4])]
X.loc[rng.random(n_samples) < 0.05, "m3"] = np.nan

Y = pd.DataFrame(
    {
        "spend": 50 + 20 * factors[:, 0] + 5 * factors[:, 1] + rng.normal(size=n_samples),
        "bought": np.where(factors[:, 1] + 0.2 * rng.normal(size=n_samples) > 0, "yes", "no"),
        "segment": np.array(["bronze", "silver", "gold"])[
            np.digitize(factors[:, 2] + factors[:, 0], [-0.5, 0.5])
        ],
        "likes_books": (factors[:, 3] > 0).astype(int),
        "likes_music": (factors[:, 0] - factors[:, 3] > 0).astype(int),
        "likes_sport": (factors[:, 1] + factors[:, 2] > 0.3).astype(int),
    }
)
# 40% of the customers were never asked whether they bought the product.
Y.loc[rng.random(n_samples) < 0.4, "bought"] = None
X.head()

# %%
# Declare the tasks
# -----------------
# The kinds of ``spend``, ``bought`` and ``segment`` would be inferred from their
# labels; a multilabel task spans several columns and must be declared. Listing
# ``Task(name)`` without a kind keeps the inference for the others.
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, random_state=0)

est = MultiTaskNetEstimator(
    tasks=[
        Task("spend"),
        Task("bought"),
        Task("segment"),
        Task("likes", "multilabel", columns=["likes_books", "likes_music", "likes_sport"]),
    ],
    hidden_layer_sizes=(64, 32),
    max_epochs=max_epochs,
    lr=3e-3,
    random_state=0,
)
est.fit(X_train, Y_train)
for task in est.tasks_:
    print(f"{task.name:8} {task.kind:11} columns={list(task.columns)}")

# %%
# Predict
# -------
# ``predict`` returns the labels of every task in ``Y``'s columns, decoded (strings
# stay strings), and ``predict_proba`` one array per classification task.
est.predict(X_test[:5])

# %%
for task, proba in zip(est.tasks_[1:], est.predict_proba(X_test[:5]), strict=True):
    print(task.name, np.round(proba[0], 2))

# %%
# Score
# -----
# ``score_tasks`` scores each task on its labelled rows: R² for regression, accuracy
# for binary and multiclass, 1 - Hamming loss for multilabel. ``score`` is their
# unweighted mean.
scores = est.score_tasks(X_test, Y_test)
for name, value in scores.items():
    print(f"{name:8} {value:.3f}")
print(f"mean     {est.score(X_test, Y_test):.3f}")

# %%
# Learning curves
# ---------------
# ``history_`` records each task's training loss and score at every epoch.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_learning_curves(est, kind="loss", ax=axes[0])
plot_learning_curves(est, kind="score", ax=axes[1])
axes[0].set_yscale("log")
fig.tight_layout()
plt.show()
