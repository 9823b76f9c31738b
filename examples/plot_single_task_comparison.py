"""
Does sharing help? Multi-task vs single-task baselines
======================================================

Before trusting a multi-task model, fit the single-task baselines: the same network
trained on each task alone, and a strong per-task model such as gradient boosting.
:func:`~sklearn_mtl.diagnostics.compare_single_task` does this in one call, fold by fold,
and reports per task the cross-validated scores, the difference with its standard error,
a paired test across folds, a negative-transfer flag, and Delta_m, the mean relative
improvement over single-task learning (Maninis et al., 2019).

We make four tasks on the same rows: three driven by the same few directions of X, each
labelled on 30% of the rows only, and a fourth, fully labelled, that depends on other
features. Whether sharing helps the scarce tasks, or whether the fourth task crowds
them out of the shared layers, is what the comparison measures; the answer depends on
the data and the network, so read the printed table rather than a rule of thumb. Set
``SKLEARN_MTL_SMOKE=1`` for a seconds-long run.
"""

# %%
# Data: three related tasks with few labels, one unrelated task
# -------------------------------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.diagnostics import compare_single_task
from sklearn_mtl.plotting import (
    plot_learning_curves,
    plot_single_task_comparison,
    plot_task_weights,
)

smoke = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
rng = np.random.default_rng(0)
n_samples, n_features = (120, 10) if smoke else (400, 20)
X = rng.normal(size=(n_samples, n_features))
shared = np.tanh(X[:, :3] @ rng.normal(size=(3, 3)))  # what the related tasks share
y = pd.DataFrame(
    {
        "sales": shared @ [1.0, 0.5, 0.0] + 0.3 * rng.normal(size=n_samples),
        "returns": shared @ [0.8, 0.0, 0.6] + 0.3 * rng.normal(size=n_samples),
        "churn": np.where(
            shared @ [0.0, 1.0, -1.0] + 0.3 * rng.normal(size=n_samples) > 0, "yes", "no"
        ),
        "other": np.sin(2 * X[:, 5]) * X[:, 6] + 0.1 * rng.normal(size=n_samples),
    }
)
# each related task is labelled on 30% of the rows only (NaN elsewhere)
for task in ("sales", "returns", "churn"):
    y.loc[rng.random(n_samples) > 0.3, task] = np.nan
print(y.notna().sum().rename("labelled rows").to_string())

# %%
# One call: multi-task, single-task and gradient boosting, 5 folds
# ----------------------------------------------------------------
# ``baseline`` maps each task kind to a scikit-learn estimator, fitted on that task's
# labelled rows only. ``n_jobs=2`` runs the fits of the folds in parallel.
est = MultiTaskNetEstimator(
    tasks={
        "sales": "regression",
        "returns": "regression",
        "churn": "binary",
        "other": "regression",
    },
    hidden_layer_sizes=(64,),
    alpha=1e-3,
    lr=3e-3,
    batch_size=64,
    max_epochs=5 if smoke else 50,
    random_state=0,
)
baseline = {
    "regression": HistGradientBoostingRegressor(max_iter=50, random_state=0),
    "binary": HistGradientBoostingClassifier(max_iter=50, random_state=0),
}
report = compare_single_task(
    est,
    X,
    y,
    cv=KFold(3 if smoke else 5, shuffle=True, random_state=0),
    baseline=baseline,
    n_jobs=2,
)
pd.set_option("display.width", 150)
print(
    report[
        [
            "metric",
            "multi_task",
            "single_task",
            "baseline",
            "difference",
            "difference_se",
            "p_value",
            "negative_transfer",
        ]
    ]
    .round(3)
    .to_string()
)
print(
    f"Delta_m = {report.attrs['delta_m']:+.1f}% (standard error "
    f"{report.attrs['delta_m_se']:.1f} over folds)"
)

# %%
# Delta_m divides each task's gain by the single-task score's magnitude: a task whose
# single-task R² is near 0 (like ``other`` can be) gets a huge relative change and
# dominates the average. Read Delta_m next to the per-task ``difference`` column.

# %%
# Scores and gains, with one standard error over folds
# ----------------------------------------------------
# Left: the three models per task. Right: the gain from sharing (multi-task minus
# single-task); red bars are tasks that lose from sharing (negative transfer). Folds
# share most of their training rows, so these error bars are optimistic; the
# ``p_value`` column (or ``test="corrected_ttest"``) says how much to trust a gap.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
plot_single_task_comparison(report, ax=left)
plot_single_task_comparison(report, relative=True, ax=right)
fig.tight_layout()

# %%
# Learning curves and task weights of one multi-task fit
# ------------------------------------------------------
# With ``early_stopping=True`` a validation split is held out and its per-task curves
# are drawn dashed. Uncertainty weighting (Kendall et al., 2018) learns one weight per
# task; :func:`~sklearn_mtl.plotting.plot_task_weights` shows how they move.
fitted = est.set_params(
    loss_weighting="uncertainty", early_stopping=True, n_iter_no_change=1000
).fit(X, y)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
plot_learning_curves(fitted, ax=left)
plot_task_weights(fitted, ax=right)
fig.tight_layout()
plt.show()
