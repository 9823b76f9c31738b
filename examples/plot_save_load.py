"""
Saving and loading a model
==========================

A fitted :class:`~sklearn_mtl.MultiTaskNetEstimator` is saved like any scikit-learn
estimator, with ``pickle`` or ``joblib``, alone or inside a Pipeline. It also has
its own format, written by ``est.save(path)`` and read by
``MultiTaskNetEstimator.load(path)``, which loads without unpickling anything.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on tiny sizes.
"""

# %%
# A fitted model
# --------------
import os
import pickle
import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklearn_mtl import MultiTaskNetEstimator

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (200, 3) if SMOKE else (1000, 40)

rng = np.random.default_rng(0)
Z = rng.normal(size=(n_samples, 3))
# A raw table: numbers on their own scales, a column of strings, missing values.
X = pd.DataFrame(
    {
        "income": np.exp(10 + Z[:, 0]),
        "age": 45 + 12 * Z[:, 1],
        "region": np.where(Z[:, 2] > 0, "north", "south"),
    }
)
X.loc[rng.random(n_samples) < 0.1, "age"] = np.nan
y = pd.DataFrame(
    {
        "amount": 3 * Z[:, 0] - Z[:, 1] + np.sign(Z[:, 2]) + 0.3 * rng.normal(size=n_samples),
        "risk": np.array(["low", "medium", "high"])[np.digitize(Z[:, 2] + Z[:, 0], [-0.7, 0.7])],
    }
)
est = MultiTaskNetEstimator(
    hidden_layer_sizes=(32,), max_epochs=max_epochs, lr=3e-3, random_state=0
).fit(X, y)
expected = est.predict(X)
folder = Path(tempfile.mkdtemp())

# %%
# pickle and joblib
# -----------------
# The fitted model round-trips, with its input encoding (the scaling of the numbers,
# the imputation of ``age``, the categories of ``region``); predictions are identical.
# A Pipeline round-trips the same way.
restored = pickle.loads(pickle.dumps(est))
pd.testing.assert_frame_equal(restored.predict(X), expected)

joblib.dump(est, folder / "model.joblib")
restored = joblib.load(folder / "model.joblib")
pd.testing.assert_frame_equal(restored.predict(X), expected)
print("pickle and joblib: same predictions")

# %%
# .. warning::
#
#    Unpickling runs code chosen by whoever wrote the file. Load pickles and joblib
#    files only from sources you trust.

# %%
# ``save`` and ``load``
# ---------------------
# ``est.save(path)`` writes one file: the parameters, tasks, classes, history and input
# encoding (the columns and their categories) as JSON, and the weights and the
# statistics of the numbers as safetensors. ``MultiTaskNetEstimator.load(path)``
# rebuilds the fitted estimator from it without unpickling anything, so a file from
# someone else cannot run code. It saves the estimator, not a Pipeline around it: an
# estimator fitted on the raw table needs nothing else.
est.save(folder / "model.mtl")
loaded = MultiTaskNetEstimator.load(folder / "model.mtl")
pd.testing.assert_frame_equal(loaded.predict(X), expected)
print("save/load: same predictions")
print("tasks:", [(task.name, task.kind) for task in loaded.tasks_])

# %%
# The history travels with the model in every format: here, the per-task training
# losses of the loaded model.
history = loaded.history_
fig, ax = plt.subplots(figsize=(6, 3.5))
for task in ("amount", "risk"):
    ax.plot(history[:, "epoch"], history[:, f"train_loss_{task}"], label=task)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend()
plt.tight_layout()
plt.show()

# %%
# Sizes on disk
# -------------
for path in sorted(folder.iterdir()):
    print(f"{path.name:18} {path.stat().st_size / 1024:7.1f} KiB")

# %%
# Models fitted on a GPU load on a machine without one: ``load`` puts the network on
# the CPU (with a warning) where CUDA is not available, and ``device=`` chooses where
# it goes. See the user guide page on scaling and persistence for checkpoints and
# resumed fits.
