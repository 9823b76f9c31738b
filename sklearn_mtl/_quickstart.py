"""``python -m sklearn_mtl``: fit a mixed multi-task model and compare it with single-task models.

The data are a generated raw table, as tables come: 20 numeric columns on scales from
0.01 to 1000, 10% of the values of four of them missing (NaN), and a column of strings
(``region``). The estimator takes it as it is, with no preprocessing Pipeline (it
scales, imputes and encodes inside the network); scikit-learn's MLP and linear models,
the baselines, need one (impute, scale, one-hot). Without pandas, the table is a
numeric array (no strings, no NaN) and the quickstart says so.

The 20 features drive a hidden representation, the magnitudes
``|z|`` of 6 linear combinations of the features, that all three targets depend on: a
regression (``spend``, labelled on every row), a binary task whose labels are scarce
(``bought``: 85% of them missing) and a 3-class task (``segment``: 50% missing). Learning
``|z|`` takes many labels; the multi-task network learns it from every label of every
task, while a single-task model sees only its own task's labelled rows, and a linear
model cannot represent it at all. This is the situation multi-task learning is for; on
data without such shared structure it need not help (see the documentation's
"Does multi-task learning pay?" page).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ._estimator import MultiTaskNetEstimator

KINDS = {"spend": "regression", "bought": "binary", "segment": "multiclass"}
REGIONS = ["north", "south", "east", "west"]
_WITH_NAN = ["x0", "x5", "x10", "x15"]  # 10% of their values are missing


def _have_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def make_data(n_samples: int = 3000, seed: int = 0, table: bool | None = None):
    """A raw table of features and three related targets with missing labels (NaN).

    ``table`` (default: when pandas is installed) gives X as a DataFrame: the 20
    numbers ``x0`` ... ``x19`` on scales from 0.01 to 1000, NaN in four of them, and a
    string column ``region`` that shifts every target; else a numeric array of the 20
    numbers, unscaled, without NaN (``region`` enters as its code).
    """
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n_samples, 20))
    region = rng.integers(0, len(REGIONS), size=n_samples)
    hidden = np.abs(Z @ rng.normal(size=(20, 6)) / np.sqrt(20))
    shift = rng.normal(scale=0.5, size=(len(REGIONS), 5))[region]  # one per region
    spend = hidden @ rng.uniform(0.5, 1.5, size=6) + shift[:, 0] + 0.3 * rng.normal(size=n_samples)
    score = hidden @ rng.normal(size=6) + shift[:, 1]
    bought = (score + 0.3 * rng.normal(size=n_samples) > np.median(score)).astype(float)
    noise = 0.3 * rng.normal(size=(n_samples, 3))
    segment = (hidden @ rng.normal(size=(6, 3)) + shift[:, 2:] + noise).argmax(1)
    y = np.column_stack([spend, bought, segment.astype(float)])
    y[rng.random(n_samples) < 0.85, 1] = np.nan
    y[rng.random(n_samples) < 0.5, 2] = np.nan
    numbers = Z * np.logspace(-2, 3, 20) + rng.uniform(-100, 100, size=20)  # any scale
    if not (_have_pandas() if table is None else table):
        return np.column_stack([numbers, region.astype(float)]), y
    import pandas as pd

    X = pd.DataFrame(numbers, columns=[f"x{j}" for j in range(20)])
    for column in _WITH_NAN:
        X.loc[rng.random(n_samples) < 0.1, column] = np.nan
    X["region"] = np.array(REGIONS)[region]
    return X, y


def _rows(X, mask):
    return X.iloc[mask] if hasattr(X, "iloc") else X[mask]


def _single_task_scores(X_train, y_train, X_test, y_test, make_model, column):
    labelled = ~np.isnan(y_train[:, column])
    model = make_model(column).fit(_rows(X_train, labelled), y_train[labelled, column])
    tested = ~np.isnan(y_test[:, column])
    return model.score(_rows(X_test, tested), y_test[tested, column])


def _preprocessing(X):
    """What scikit-learn's models need in front of the raw table: impute, scale, one-hot."""
    if not hasattr(X, "columns"):
        return StandardScaler()
    numeric = [column for column in X.columns if column != "region"]
    return make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (OneHotEncoder(handle_unknown="ignore"), ["region"]),
    )


def _describe(X, n_train: int, n_test: int) -> None:
    if not hasattr(X, "columns"):
        print(
            f"Generated data: {n_train} training rows, {n_test} test rows, 21 numeric "
            "features on scales from 0.01 to 1000 (pandas is not installed: with it, "
            "the quickstart shows a raw DataFrame with strings and NaN; pip install pandas)."
        )
        return
    print(
        f"Generated raw table (a pandas DataFrame): {n_train} training rows, {n_test} test "
        "rows; 20 numeric columns on scales from 0.01 to 1000, 10% NaN in "
        f"{', '.join(_WITH_NAN)}, and a column of strings, 'region':"
    )
    print(X[["x0", "x1", "x19", "region"]].head(3).round(3).to_string())
    print(
        "The multi-task net takes the table as it is, no preprocessing Pipeline:\n"
        "    MultiTaskNetEstimator(tasks=...).fit(X_train, y_train)"
    )


def _network(est: MultiTaskNetEstimator) -> str:
    sizes = " x ".join(str(size) for size in est.hidden_layer_sizes)
    return f"shared hidden layer(s) of {sizes} units, one linear head per task"


def _conclusion(results: dict[str, dict[str, float]], names: list[str]) -> str:
    """One line: where sharing the network helped, against the same net per task."""
    gains = {n: results["multi-task net"][n] - results["same net, one task"][n] for n in names}
    best = max(gains, key=lambda name: gains[name])
    if gains[best] <= 0:
        every = ", ".join(f"{n} {gains[n]:+.3f}" for n in names)
        return (
            "Conclusion: sharing does not help here: no task scores higher than the same "
            f"net trained on it alone ({every}; one test split)."
        )
    others = "".join(f", {n} {gains[n]:+.3f}" for n in names if n != best)
    return (
        f"Conclusion: sharing helps {best} most: {gains[best]:+.3f} over the same net "
        f"trained on {best} alone (one test split{others})."
    )


def main(smoke: bool = False) -> dict[str, dict[str, float]]:
    """Fit, score on a held-out quarter, and print one row per task.

    Returns
    -------
    dict
        ``{model name: {task: test score}}`` (R² for regression, accuracy otherwise).
    """
    n_samples, max_epochs = (400, 5) if smoke else (3000, 200)
    if smoke:
        print(
            f"Smoke run (SKLEARN_MTL_SMOKE=1): {n_samples} rows and {max_epochs} epochs, "
            "to check that everything runs; its scores mean nothing."
        )
    X, y = make_data(n_samples)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    names = list(KINDS)
    labelled = {name: int((~np.isnan(y_train[:, j])).sum()) for j, name in enumerate(names)}
    _describe(X_train, len(X_train), len(X_test))
    print("Labelled training rows per task: " + ", ".join(f"{k}={v}" for k, v in labelled.items()))
    # Library defaults everywhere (hidden layer of 100, 200 epochs), but for the smoke run.
    params = {"max_epochs": max_epochs, "random_state": 0}

    multi = MultiTaskNetEstimator(tasks=KINDS, verbose=1, **params)
    print(f"\nFitting the multi-task net ({_network(multi)}) on all three tasks:")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)  # said below, in words
        multi.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results = {"multi-task net": multi.score_tasks(X_test, y_test)}
    still = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:  # any other warning is shown as usual
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    note = (
        " (still improving when max_epochs ran out: more epochs may score higher)" if still else ""
    )
    print(f"Fitted {multi.n_iter_} epochs in {seconds:.1f}s{note}.")

    def single_net(column):
        return MultiTaskNetEstimator(tasks={names[column]: KINDS[names[column]]}, **params)

    def sklearn_mlp(column):
        if column == 0:
            model = MLPRegressor(max_iter=max_epochs, random_state=0)
        else:
            model = MLPClassifier(max_iter=max_epochs, random_state=0)
        return make_pipeline(_preprocessing(X), model)

    def linear(column):
        model = Ridge() if column == 0 else LogisticRegression(max_iter=1000)
        return make_pipeline(_preprocessing(X), model)

    for label, make_model in [
        ("same net, one task", single_net),
        ("sklearn MLP", sklearn_mlp),
        ("linear model", linear),
    ]:
        needs = "" if label == "same net, one task" else ", behind a preprocessing Pipeline"
        print(f"Fitting the baseline '{label}' on each task alone{needs} ...", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            results[label] = {
                name: _single_task_scores(X_train, y_train, X_test, y_test, make_model, column)
                for column, name in enumerate(names)
            }
    print()
    header = f"{'model':<22}" + "".join(f"{f'{n} ({KINDS[n]})':>26}" for n in names)
    print(header)
    print("-" * len(header))
    for model, scores in results.items():
        print(f"{model:<22}" + "".join(f"{scores[n]:>26.3f}" for n in names))
    print("\nScores: R² for regression, accuracy for classification (test set).")
    print(_conclusion(results, names))
    if smoke:
        print("(Smoke run: rerun without SKLEARN_MTL_SMOKE=1 for meaningful scores.)")
    return results


if __name__ == "__main__":  # pragma: no cover
    main(smoke=os.environ.get("SKLEARN_MTL_SMOKE") == "1")
