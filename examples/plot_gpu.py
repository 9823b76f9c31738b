"""
Training on a GPU with ``device="auto"``
========================================

``device="auto"`` trains on a GPU when PyTorch sees one and on the CPU otherwise, so
the same script runs on a laptop and on a GPU server. ``device="cuda"`` insists on a
GPU (and is an error without one); ``"cuda:1"`` picks a GPU by number. Inputs and
outputs do not change: numpy arrays or DataFrames in, numpy arrays or DataFrames out.

This page is built on machines without a GPU, so the run below happened on the CPU
and says so; on a machine with CUDA it also times the same fit on the GPU. The GPU run
of this example has not been recorded yet.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on tiny sizes.
"""

# %%
# Where will it run?
# ------------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_mtl import MultiTaskNetEstimator

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (500, 2) if SMOKE else (20_000, 10)

print("torch", torch.__version__, "| CUDA available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
else:
    print('No GPU here: device="auto" trains on the CPU.')

# %%
# Data: a regression and a 5-class task
# -------------------------------------
rng = np.random.default_rng(0)
X = rng.normal(size=(n_samples, 50)).astype(np.float32)
hidden = np.tanh(X @ rng.normal(size=(50, 8)) / 5)
y = np.column_stack(
    [
        hidden @ rng.normal(size=8) + 0.1 * rng.normal(size=n_samples),
        (hidden @ rng.normal(size=(8, 5))).argmax(axis=1),
    ]
)

# %%
# Fit with ``device="auto"``
# --------------------------
# Larger batches suit a GPU; the learning rate goes up with them.
params = {
    "tasks": {"value": "regression", "group": "multiclass"},
    "hidden_layer_sizes": (256, 128),
    "batch_size": 1024,
    "lr": 3e-3,
    "max_epochs": max_epochs,
    "random_state": 0,
}
timings = {}
start = time.perf_counter()
est = MultiTaskNetEstimator(device="auto", **params).fit(X, y)
device = next(est.net_.module_.parameters()).device
timings[f'device="auto" ({device.type})'] = seconds = time.perf_counter() - start
print(f"trained on: {device}  ({seconds:.1f} s)")
print("scores:", {name: round(score, 3) for name, score in est.score_tasks(X, y).items()})

# %%
# Predictions come back on the host as numpy arrays, wherever the network lives.
prediction = est.predict(X[:3])
print(type(prediction).__name__, prediction.dtype, prediction.shape)

# %%
# CPU against GPU
# ---------------
# With a GPU, the same fit on the CPU gives the comparison; without one the
# ``device="auto"`` fit above was the CPU fit.
if device.type == "cuda":
    start = time.perf_counter()
    MultiTaskNetEstimator(device="cpu", **params).fit(X, y)
    timings['device="cpu"'] = time.perf_counter() - start

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(timings), list(timings.values()))
ax.set_xlabel(f"seconds for {max_epochs} epochs on {n_samples:,} rows")
ax.set_title("Fit time")
plt.tight_layout()
plt.show()
