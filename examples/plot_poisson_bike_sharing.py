"""
Counts: Poisson loss against squared error on bike rentals
==========================================================

The UCI Bike Sharing data counts the daily rentals of Washington's Capital Bikeshare in
2011-2012, split into casual and registered users: two count tasks on the same days.
Counts are skewed and their spread grows with their mean, which a squared error ignores.
``Task(name, "regression", loss="poisson")`` fits the Poisson likelihood with a log link
(predictions are always positive) for that task; the score that fits counts is the mean
Poisson deviance (lower is better). Each task could take its own loss; here both do.

The days are in time order and the README warns that random splits leak, so the
loader's ``TimeSeriesSplit``: each fold trains on the days before the ones it tests.

The data is not shipped with the package: point ``--data-dir`` or ``SKLEARN_MTL_DATA``
at a folder holding ``bike-sharing/day.csv``. Set ``SKLEARN_MTL_SMOKE=1`` for a
seconds-long run.
"""

# %%
# Load the data
# -------------
import argparse
import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_poisson_deviance
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.datasets import load_bike_sharing

parser = argparse.ArgumentParser(description="Poisson loss on the bike-sharing counts")
parser.add_argument("--data-dir", help="folder that holds bike-sharing/")
args, _ = parser.parse_known_args()
try:
    bikes = load_bike_sharing(args.data_dir)
except FileNotFoundError as error:
    sys.exit(str(error))
SMOKE = os.environ.get("SKLEARN_MTL_SMOKE") == "1"
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # fixed epoch budgets
max_epochs = 5 if SMOKE else 300
splits = bikes.splits()[-2:] if SMOKE else bikes.splits()
print(f"{len(bikes.X)} days, tasks {list(bikes.y.columns)}, {len(splits)} time-ordered folds")


# %%
# One model per loss, the same network otherwise
# ----------------------------------------------
def model(loss):
    tasks = [Task(name, "regression", loss=loss) for name in bikes.y.columns]
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), bikes.categorical), remainder=StandardScaler()
    )
    net = MultiTaskNetEstimator(
        tasks=tasks, hidden_layer_sizes=(64,), lr=3e-3, max_epochs=max_epochs, random_state=0
    )
    return make_pipeline(encode, net)


rows = []
for fold, (train, test) in enumerate(splits):
    for loss in ("squared_error", "poisson"):
        fitted = model(loss).fit(bikes.X.iloc[train], bikes.y.iloc[train])
        predicted = fitted.predict(bikes.X.iloc[test])
        for task in bikes.y.columns:
            # squared error may predict negative counts: clip them to 1 for the deviance
            prediction = np.maximum(predicted[task].to_numpy(), 1.0)
            deviance = mean_poisson_deviance(bikes.y.iloc[test][task], prediction)
            rows.append({"fold": fold, "loss": loss, "task": task, "deviance": deviance})
results = pd.DataFrame(rows)
summary = results.groupby(["task", "loss"])["deviance"].agg(["mean", "std"])
print(summary.round(1).to_string())

# %%
# Mean Poisson deviance per fold (lower is better)
# ------------------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharex=True)
for ax, task in zip(axes, bikes.y.columns, strict=True):
    for loss in ("squared_error", "poisson"):
        part = results[(results.task == task) & (results.loss == loss)]
        ax.plot(part.fold, part.deviance, marker="o", label=loss)
    ax.set(title=task, xlabel="fold (later days to the right)", ylabel="mean Poisson deviance")
axes[0].legend()
fig.tight_layout()
plt.show()
