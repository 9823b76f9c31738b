"""
==================================
Balancing task losses with weights
==================================

Three tasks share a small network: a clean regression, a very noisy regression (most of
its loss is irreducible noise) and a binary classification. The estimator standardises
regression targets, so the losses start on comparable scales, but they do not stay so:
the noisy task's loss cannot fall, and with equal weights it keeps pulling the shared
layer towards fitting noise. This example compares several methods of
:mod:`sklearn_mtl.weighting` on held-out data and plots the task weights each method
applied during training (``history_``'s ``weight_<task>``).

Set the environment variable ``SKLEARN_MTL_SMOKE=1`` to run it on tiny sizes.
"""

# %%
# Data: three tasks driven by shared latent factors
# -------------------------------------------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.weighting import MGDA, GradNorm, PCGrad

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (200, 3) if SMOKE else (1000, 15)

rng = np.random.default_rng(0)
X = rng.normal(size=(n_samples, 10))
latent = np.tanh(X[:, :4] @ rng.normal(size=(4, 3)))
y = np.column_stack(
    [
        latent[:, 0] + 0.05 * rng.normal(size=n_samples),  # "clean"
        latent[:, 1] + 1.5 * rng.normal(size=n_samples),  # "noisy"
        (latent[:, 2] + 0.2 * rng.normal(size=n_samples) > 0).astype(float),  # "label"
    ]
)
# some labels are missing: NaN rows are left out of that task's loss
y[rng.random(n_samples) < 0.2, 1] = np.nan
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
tasks = {"clean": "regression", "noisy": "regression", "label": "binary"}

# %%
# Fit one estimator per weighting method
# --------------------------------------
# Loss-level methods ("fixed", "uncertainty", "dwa", "famo") cost the same as fixed
# weights; gradient-level methods take per-task gradients, here at the shared
# representation, which is the cheap option.
methods = {
    "fixed": "fixed",
    "uncertainty": "uncertainty",
    "dwa": "dwa",
    "famo": "famo",
    "gradnorm": GradNorm(alpha=1.5, gradient_on="representation"),
    "pcgrad": PCGrad(gradient_on="representation"),
    "mgda": MGDA(gradient_on="representation"),
}
results = {}
for name, weighting in methods.items():
    est = MultiTaskNetEstimator(
        tasks=tasks,
        loss_weighting=weighting,
        hidden_layer_sizes=(16,),
        max_epochs=max_epochs,
        batch_size=128,
        lr=3e-3,
        random_state=0,
    )
    start = time.perf_counter()
    est.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results[name] = (est, est.score_tasks(X_test, y_test), seconds)

print(f"{'method':12s} {'clean R2':>9s} {'noisy R2':>9s} {'label acc':>9s} {'s/fit':>6s}")
for name, (_, scores, seconds) in results.items():
    print(
        f"{name:12s} {scores['clean']:9.3f} {scores['noisy']:9.3f} "
        f"{scores['label']:9.3f} {seconds:6.1f}"
    )

# %%
# The weights each method applied
# -------------------------------
# Fixed weighting keeps 1.0 for every task. Uncertainty weighting learns a lower weight
# for the noisy task (its weight is about 1 / (2 * loss)); DWA reacts to the ratios of
# the epochs' losses; GradNorm equalises the weighted gradient norms, adjusted by the
# training rates; MGDA's and PCGrad's weights are the coefficients of the shared update
# on the task gradients.
fig, axes = plt.subplots(2, 4, figsize=(13, 5.5), sharex=True)
for ax, (name, (est, _, _)) in zip(axes.flat, results.items(), strict=False):
    for task in tasks:
        ax.plot(est.history_[:, f"weight_{task}"], label=task)
    ax.set_yscale("log")
    ax.set_title(name)
axes.flat[0].legend()
axes.flat[-1].axis("off")
for ax in axes[1]:
    ax.set_xlabel("epoch")
fig.suptitle("Task weights per epoch (log scale)")
fig.tight_layout()
plt.show()

# %%
# Reading the results
# -------------------
# On a problem this small the differences between methods are modest, and they vary
# with the seed: equal weights are a strong baseline, as published comparisons also
# find. The weights show *how* each method reads the tasks (the noisy task is
# down-weighted by uncertainty weighting, the fast-learning clean task by GradNorm).
# Treat ``loss_weighting`` and its parameters like any hyperparameter: compare them
# with cross-validation, e.g. ``GridSearchCV(est, {"loss_weighting": ["fixed",
# "uncertainty", "famo"]})``.
