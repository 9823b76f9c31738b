"""
Grid-searching a task weight
============================

Task weights are hyperparameters: how much should an auxiliary task count against the
task you care about? This example searches the weight of one task with
:class:`~sklearn.model_selection.GridSearchCV`, on a raw table of mixed columns
(numbers on different scales and a column of strings) that the estimator encodes
itself, with no preprocessing in front.

The parameter of one task's weight is ``task_weights__<task>``; with the estimator at
the end of a Pipeline it takes the step name as prefix, as any nested parameter:
``multitasknetestimator__task_weights__<task>``.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on tiny sizes.
"""

# %%
# A table of customers
# --------------------
# Numbers and a category in; the amount spent (regression) and whether a customer
# churned (binary, the task we care about) out.
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.metrics import make_task_scorer

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (300, 3) if SMOKE else (1200, 40)
# The budget (40 epochs per fit) is kept short so that the example runs in a minute; the
# fits end while their training loss still falls a little, which each fit would
# report with a ConvergenceWarning. Silenced here, not in your own code.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
weights = [0.1, 1.0] if SMOKE else [0.0, 0.1, 0.3, 1.0, 3.0, 10.0]

rng = np.random.default_rng(0)
X = pd.DataFrame(
    {
        "age": rng.integers(18, 80, n_samples).astype(float),
        "visits": rng.poisson(4, n_samples).astype(float),
        "tenure": rng.exponential(3.0, n_samples),
        "channel": rng.choice(["web", "app", "shop"], n_samples),
    }
)
channel = X["channel"].map({"web": 0.0, "app": 1.0, "shop": -1.0}).to_numpy()
engagement = np.tanh(0.4 * (X["visits"] - 4) + 0.3 * channel + 0.2 * (X["tenure"] - 3))
y = pd.DataFrame(
    {
        "spend": 100 + 40 * engagement + 0.5 * (X["age"] - 50) + 5 * rng.normal(size=n_samples),
        "churned": np.where(-engagement + 0.5 * rng.normal(size=n_samples) > 0.3, "yes", "no"),
    }
)
y["churned"].value_counts()

# %%
# The search
# ----------
# The estimator takes the table as it is: it scales the numbers and one-hot encodes
# ``channel`` (a column of strings) inside the network, from each training fold. Each
# candidate is scored on both tasks with per-task scorers; ``refit`` picks the weight
# of ``spend`` that gives the best ROC AUC on ``churned``.
est = MultiTaskNetEstimator(
    hidden_layer_sizes=(32,), max_epochs=max_epochs, lr=3e-3, random_state=0
)
scoring = {
    "churned_auc": make_task_scorer("churned", "roc_auc"),
    "spend_r2": make_task_scorer("spend"),
    "mean": None,  # the estimator's score: unweighted mean over tasks
}
search = GridSearchCV(
    est,
    {"task_weights__spend": weights},
    scoring=scoring,
    refit="churned_auc",
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X, y)
print("best:", search.best_params_)

# %%
# Every candidate, every task
# ---------------------------
columns = ["mean_test_churned_auc", "mean_test_spend_r2", "mean_test_mean"]
results = pd.DataFrame(search.cv_results_)
results.index = results["param_task_weights__spend"].astype(float)
results.index.name = "weight of spend"
results[columns].round(3)

# %%
# A weight of 0 removes ``spend`` from the training loss: the network then learns
# ``churned`` alone, and the R² of ``spend`` drops to about zero (its head is never
# trained). The ROC AUC of ``churned`` across the weights shows how much the auxiliary
# task helps or hurts the task of interest on these data; ``refit`` keeps the weight
# with the best AUC. The unweighted ``mean`` score (the estimator's ``score``) would
# favour models that are good at both tasks instead.
fig, ax = plt.subplots(figsize=(7, 4))
for column, label in [
    ("mean_test_churned_auc", "churned: ROC AUC"),
    ("mean_test_spend_r2", "spend: R²"),
]:
    ax.errorbar(
        results.index + 1e-2,  # the axis is logarithmic: shift 0 into view
        results[column],
        yerr=results[column.replace("mean_", "std_")],
        marker="o",
        capsize=3,
        label=label,
    )
ax.set_xscale("log")
ax.set_xlabel("task_weights['spend'] (+ 0.01)")
ax.set_ylabel("3-fold cross-validated score")
ax.legend()
plt.tight_layout()
plt.show()

# %%
# The refitted estimator predicts both tasks, labels decoded, in ``y``'s columns.
search.predict(X.head())
