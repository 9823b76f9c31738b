"""
========================================
Comparing multi-task architectures
========================================

``MultiTaskNetEstimator(architecture=...)`` chooses how the tasks share what they
learn: one shared trunk (``"hard"``), one tower per task pulled together by a penalty
(``"soft"``), towers mixed by learned units (``"cross_stitch"``), shared experts
routed by per-task gates (``"mmoe"``, ``"ple"``), per-task attention over a shared
trunk (``"task_attention"``), or your own ``torch.nn.Module`` as the trunk.

This example fits each of them on generated data with two related regression tasks
and a binary task, compares their test scores, looks inside the MMoE gates, and shows
hierarchical heads and task chains. Set ``SKLEARN_MTL_SMOKE=1`` to run it on tiny
data in a few seconds.
"""

# %%
# Data: tasks that are related, but not identical
# ------------------------------------------------
# As in the synthetic study of the MMoE paper (Ma et al. 2018), the two regression
# targets are noisy non-linear functions of two weight vectors whose cosine
# similarity is ``correlation``; the binary task thresholds a third direction.
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import MMoE

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
N_SAMPLES = 400 if SMOKE else 3000
MAX_EPOCHS = 3 if SMOKE else 40


def make_tasks(n_samples, n_features=12, correlation=0.5, seed=0):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(n_features, 3)))
    u1, u2, u3 = basis.T
    w1 = u1
    w2 = correlation * u1 + np.sqrt(1 - correlation**2) * u2
    X = rng.normal(size=(n_samples, n_features))
    alphas, betas = rng.normal(size=5), rng.normal(size=5)

    def target(w):
        z = X @ w
        return z + np.sin(np.outer(z, alphas) + betas).sum(axis=1)

    y1 = target(w1) + 0.1 * rng.normal(size=n_samples)
    y2 = target(w2) + 0.1 * rng.normal(size=n_samples)
    y3 = (X @ u3 + 0.5 * X @ w1 > 0).astype(float)
    y = np.column_stack([y1, y2, y3])
    y[rng.random(n_samples) < 0.2, 2] = np.nan  # a fifth of the binary labels are missing
    return X, y


X, y = make_tasks(N_SAMPLES)
X_train, X_test, y_train, y_test = X[: N_SAMPLES // 2], X[N_SAMPLES // 2 :], *np.split(y, 2)
tasks = [Task("y1", "regression"), Task("y2", "regression"), Task("y3", "binary")]
print(X_train.shape, y_train.shape)


# %%
# A custom trunk
# --------------
# Any ``torch.nn.Module`` that maps the float32 batch X to a representation can be the
# shared trunk; the estimator adds one head per task and finds the representation's
# width with a dummy forward pass. A class that takes ``n_features`` receives it.
# (Define such classes in an importable module, not in a script's ``__main__``, when the
# fitted estimator must be pickled and loaded elsewhere.)
class ResidualTrunk(nn.Module):
    def __init__(self, n_features, width=32):
        super().__init__()
        self.inp = nn.Linear(n_features, width)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(width, width), nn.ReLU())

    def forward(self, X):
        h = self.inp(X)
        return h + self.block(h)


# %%
# Fit every architecture
# ----------------------
common = dict(
    tasks=tasks,
    hidden_layer_sizes=(32,),
    max_epochs=MAX_EPOCHS,
    batch_size=64,
    lr=3e-3,
    early_stopping=False,
    random_state=0,
)
architectures = {
    "hard": "hard",
    "soft": "soft",
    "cross_stitch": "cross_stitch",
    "mmoe": MMoE(n_experts=4, expert_layer_sizes=(16,)),
    "ple": "ple",
    "task_attention": "task_attention",
    "custom": ResidualTrunk,
}
scores, seconds, fitted = {}, {}, {}
for name, architecture in architectures.items():
    start = time.perf_counter()
    est = MultiTaskNetEstimator(architecture=architecture, **common).fit(X_train, y_train)
    seconds[name] = time.perf_counter() - start
    scores[name] = est.score_tasks(X_test, y_test)
    fitted[name] = est
    print(f"{name:>15}: " + ", ".join(f"{t} {s:.3f}" for t, s in scores[name].items()))

# %%
# Test scores (R² for the regression tasks, accuracy for the binary task):
fig, ax = plt.subplots(figsize=(8, 3.5))
width = 0.8 / len(architectures)
for i, name in enumerate(architectures):
    values = list(scores[name].values())
    ax.bar(np.arange(3) + i * width, values, width, label=f"{name} ({seconds[name]:.1f} s)")
ax.set_xticks(np.arange(3) + 0.4 - width / 2, [t.name for t in tasks])
ax.set_ylabel("test score")
ax.set_ylim(min(0, *(min(s.values()) for s in scores.values())), 1)
ax.legend(fontsize="small", ncol=2)
fig.tight_layout()

# %%
# Inside MMoE: which experts does each task use?
# ----------------------------------------------
# Each task's gate is a softmax over the shared experts, computed from x. The average
# gate weights show how the tasks split the experts between them. The estimator wraps
# the architecture's module (the input scaling, the periodic embedding of the numbers):
# ``unwrap`` gives the MMoE module and the map from a batch to the input it sees.
mmoe, encode = fitted["mmoe"].net_.module_.eval().unwrap()
with torch.no_grad():
    gates = mmoe.gate_weights(encode(torch.as_tensor(X_test, dtype=torch.float32)))
fig, ax = plt.subplots(figsize=(5, 2.5))
for i, (task, weights) in enumerate(gates.items()):
    mean = weights.mean(dim=0).numpy()
    ax.bar(np.arange(len(mean)) + 0.25 * i, mean, 0.25, label=task)
ax.set_xlabel("expert")
ax.set_ylabel("mean gate weight")
ax.legend()
fig.tight_layout()

# %%
# Shared and task-specific parameters
# -----------------------------------
# Every architecture declares which parameters all tasks depend on; gradient-level
# loss weighting methods (``loss_weighting="pcgrad"``, ``"mgda"``, ...) act on those.
# A task's own parameters are those its output reaches on a batch, besides the shared.
batch = torch.as_tensor(X_train[:8], dtype=torch.float32)
for name, est in fitted.items():
    module = est.net_.module_
    shared = sum(p.numel() for p in module.shared_parameters())
    own = {t.name: sum(p.numel() for p in module.task_parameters(t.name, batch)) for t in tasks}
    print(f"{name:>15}: {shared:6d} shared, task-specific {own}")

# %%
# Hierarchical heads and task chains
# ----------------------------------
# With hard sharing, a task may read a lower trunk layer (``depth``), and a task may
# take earlier tasks' outputs as inputs (``inputs_from``), as in a classifier chain.
chained = [
    Task("y1", "regression", depth=1),
    Task("y2", "regression", inputs_from=["y1"]),
    Task("y3", "binary", inputs_from=["y1", "y2"]),
]
est = MultiTaskNetEstimator(**{**common, "tasks": chained, "hidden_layer_sizes": (32, 16)})
est.fit(X_train, y_train)
print(est.net_.module_.task_heads)
print(est.score_tasks(X_test, y_test))
