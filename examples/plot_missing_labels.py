"""
Missing labels: every row trains the tasks it has labels for
============================================================

In a multi-task table some labels are often missing: a measurement that was taken for
few rows, a survey answered by some customers only. Mark them with NaN and
:class:`~sklearn_mtl.MultiTaskNetEstimator` leaves each missing label out of its
task's loss only: the row still trains the other tasks.

This example makes the labels of one task (``target``) scarcer and scarcer, and
compares three ways of learning it, scored on the same fully-labelled test set:

- **masked multi-task**: all rows, NaN where ``target`` is missing;
- **complete rows only**: the same multi-task model on the rows where every label is
  present (what dropping incomplete rows, e.g. ``dropna()``, would do);
- **single task**: the same network trained on ``target`` alone, on its labelled rows.

Set ``SKLEARN_MTL_SMOKE=1`` for a seconds-long run on tiny sizes.
"""

# %%
# Data
# ----
# Three regression targets depend on the same hidden factors of 20 features. The two
# auxiliary tasks are always labelled; the labels of ``target`` go missing at random.
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_mtl import MultiTaskNetEstimator

SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
n_samples, max_epochs = (400, 3) if SMOKE else (2000, 60)
# The budget (60 epochs per fit) is kept short so that the example runs in a minute; the
# fits end while their training loss still falls a little, which each fit would
# report with a ConvergenceWarning. Silenced here, not in your own code.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
missing_shares = [0.5, 0.9] if SMOKE else [0.0, 0.5, 0.8, 0.9, 0.95]

rng = np.random.default_rng(0)
X = rng.normal(size=(n_samples, 20))
factors = np.tanh(X @ rng.normal(size=(20, 3)) / 3)
Y = pd.DataFrame(
    {
        "target": factors @ [1.0, -1.0, 0.5] + 0.1 * rng.normal(size=n_samples),
        "aux_a": factors @ [1.0, 0.5, 0.0] + 0.1 * rng.normal(size=n_samples),
        "aux_b": factors @ [0.0, 1.0, 1.0] + 0.1 * rng.normal(size=n_samples),
    }
)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.5, random_state=0)
params = {"hidden_layer_sizes": (32,), "max_epochs": max_epochs, "lr": 3e-3, "random_state": 0}

# %%
# Three ways to learn ``target``
# ------------------------------
results = []
for share in missing_shares:
    Y_missing = Y_train.copy()
    Y_missing.loc[rng.random(len(Y_missing)) < share, "target"] = np.nan
    labelled = Y_missing["target"].notna().to_numpy()

    masked = MultiTaskNetEstimator(**params).fit(X_train, Y_missing)
    complete = MultiTaskNetEstimator(**params).fit(X_train[labelled], Y_missing[labelled])
    single = MultiTaskNetEstimator(**params).fit(
        X_train[labelled], Y_missing.loc[labelled, "target"]
    )
    results.append(
        {
            "missing share": share,
            "labelled rows": int(labelled.sum()),
            "masked multi-task": masked.score_tasks(X_test, Y_test)["target"],
            "complete rows only": complete.score_tasks(X_test, Y_test)["target"],
            "single task": single.score(X_test, Y_test["target"]),
        }
    )

results = pd.DataFrame(results).set_index("missing share")
results.round(3)

# %%
# With every label present the two multi-task models are the same model. As the
# labels of ``target`` get scarce, the complete-rows model loses the auxiliary labels
# of the incomplete rows too, and the single-task model never had them; the masked
# model keeps learning the shared factors from the labels of every row. (In a smoke
# run the numbers mean nothing.)
ax = results.drop(columns="labelled rows").plot(marker="o", figsize=(7, 4))
ax.set_xlabel("share of missing labels of 'target' (training set)")
ax.set_ylabel("R² of 'target' on the test set")
ax.set_title("Scarce labels: masks keep every row")
plt.tight_layout()
plt.show()
