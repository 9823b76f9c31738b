"""
Which tasks help each other? Affinities, task groups and relationship learning
==============================================================================

Three views of how tasks relate during training, on six synthetic tasks in two families
(three tasks driven by one set of features, three by another) where one task of the
second family is the negative of another:

- the cosine similarity of the tasks' gradients on the shared layers, recorded during
  an ordinary fit with ``record_task_affinity=True``;
- the lookahead affinity of TAG (Fifty et al., 2021),
  :func:`~sklearn_mtl.diagnostics.task_affinity`: how much a step on task *i* lowers the
  loss of task *j*, then :func:`~sklearn_mtl.diagnostics.suggest_task_groups` to propose
  which tasks to train together;
- multi-task relationship learning (Zhang and Yeung, 2010), ``task_relation="mtrl"``:
  a task covariance learned together with the network, whose correlation is signed.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run.
"""

# %%
# Six tasks in two families
# -------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklearn_mtl import MTRL, MultiTaskNetEstimator
from sklearn_mtl.diagnostics import suggest_task_groups, task_affinity
from sklearn_mtl.plotting import plot_task_affinity

smoke = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
rng = np.random.default_rng(0)
n_samples = 200 if smoke else 600
X = rng.normal(size=(n_samples, 8))
first = X[:, :3] @ rng.normal(size=(3, 3))  # family A uses features 0-2
second = np.tanh(X[:, 4:7] @ rng.normal(size=(3, 2)))  # family B uses features 4-6
noise = 0.2 * rng.normal(size=(n_samples, 6))
y = pd.DataFrame(
    {
        "a1": first[:, 0] + noise[:, 0],
        "a2": first[:, 0] + first[:, 1] + noise[:, 1],
        "a3": first[:, 2] + 0.5 * first[:, 0] + noise[:, 2],
        "b1": second[:, 0] + noise[:, 3],
        "b2": -second[:, 0] + noise[:, 4],  # the mirror image of b1
        "b3": second[:, 1] + second[:, 0] + noise[:, 5],
    }
)
params = dict(
    hidden_layer_sizes=(32,), lr=5e-3, batch_size=100, max_epochs=5 if smoke else 30, random_state=0
)

# %%
# Gradient cosine similarity, recorded during training
# ----------------------------------------------------
# ``record_task_affinity=True`` samples 10 batches per epoch and, on each, takes every
# task's gradient on the shared layers (one extra backward pass per task). Mirror-image
# tasks have *aligned* gradients on the shared layers: their heads have opposite signs,
# so both pull the shared features the same way.
est = MultiTaskNetEstimator(record_task_affinity=True, **params).fit(X, y)
print(est.task_affinity_.round(2).to_string())

# %%
# TAG lookahead affinity and suggested groups
# -------------------------------------------
# :func:`~sklearn_mtl.diagnostics.task_affinity` refits a clone and, on every third batch here,
# measures ``1 - L_j(after a step on task i) / L_j(before)``. Row *i*, column *j*: the
# effect of task *i* on task *j*.
affinity = task_affinity(MultiTaskNetEstimator(**params), X, y, every=3)
for n_groups in (2, 3):
    print(f"{n_groups} groups:", suggest_task_groups(affinity, n_groups))

# %%
# Multi-task relationship learning
# --------------------------------
# MTRL penalises ``tr(W Omega^-1 W^T)`` on the heads' weights and updates the task
# covariance ``Omega`` in closed form after each epoch. Unlike the two affinities, the
# learned correlation is signed: ``b2`` comes out negatively correlated with ``b1``.
mtrl = MultiTaskNetEstimator(task_relation=MTRL(strength=0.05), **params).fit(X, y)
print(mtrl.task_relation_.round(2).to_string())

# %%
# The three matrices side by side
# -------------------------------
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_task_affinity(est, ax=axes[0]).set_title("Gradient cosine (record_task_affinity)")
plot_task_affinity(affinity, ax=axes[1]).set_title("TAG lookahead affinity")
plot_task_affinity(mtrl.task_relation_, ax=axes[2]).set_title("MTRL task correlation")
fig.tight_layout()
plt.show()
