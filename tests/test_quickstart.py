"""The README's quickstart (``python -m sklearn_mtl``) runs and prints its table."""

import re

import numpy as np
import pandas as pd

from sklearn_mtl import _quickstart
from sklearn_mtl._quickstart import _conclusion, main, make_data


def test_quickstart_smoke(capsys):
    results = main(smoke=True)
    assert set(results) == {"multi-task net", "same net, one task", "sklearn MLP", "linear model"}
    assert all(set(scores) == {"spend", "bought", "segment"} for scores in results.values())
    captured = capsys.readouterr()
    out = captured.out
    assert "multi-task net" in out and "spend (regression)" in out
    # it says that it was a smoke run, first and last
    lines = out.strip().splitlines()
    assert lines[0].startswith("Smoke run (SKLEARN_MTL_SMOKE=1): 400 rows and 5 epochs")
    assert "scores mean nothing" in lines[0] and "Smoke run" in lines[-1]
    # the raw table first: a DataFrame with strings and NaN, fitted with no pipeline
    assert lines[1].startswith("Generated raw table (a pandas DataFrame): 300 training rows")
    assert "10% NaN in x0, x5, x10, x15" in lines[1] and "'region'" in lines[1]
    assert "no preprocessing Pipeline" in out and ".fit(X_train, y_train)" in out
    assert out.index("Generated raw table") < out.index("Fitting the multi-task net")
    assert "'sklearn MLP' on each task alone, behind a preprocessing Pipeline" in out
    # what it fits, its progress, and a one-line conclusion
    assert "Fitting the multi-task net (shared hidden layer(s) of 100 units" in out
    assert re.search(r"Fitted 5 epochs in [\d.]+s \(still improving when max_epochs ran out", out)
    assert "5/5" in captured.err  # the progress bar of the multi-task fit
    assert sum(line.startswith("Conclusion: ") for line in lines) == 1


def test_conclusion_names_the_task_that_gains_most():
    results = {
        "multi-task net": {"spend": 0.5, "bought": 0.8, "segment": 0.6},
        "same net, one task": {"spend": 0.52, "bought": 0.692, "segment": 0.58},
    }
    line = _conclusion(results, ["spend", "bought", "segment"])
    assert line.startswith("Conclusion: sharing helps bought most: +0.108 over the same net")
    assert "spend -0.020" in line and "segment +0.020" in line
    worse = {"multi-task net": {"a": 0.1}, "same net, one task": {"a": 0.2}}
    assert _conclusion(worse, ["a"]) == (
        "Conclusion: sharing does not help here: no task scores higher than the same net "
        "trained on it alone (a -0.100; one test split)."
    )


def test_the_quickstart_table_is_raw():
    X, y = make_data(200)
    assert isinstance(X, pd.DataFrame) and X.shape == (200, 21)
    assert pd.api.types.is_string_dtype(X["region"]) and set(X["region"]) == set(
        _quickstart.REGIONS
    )
    numbers = X.drop(columns="region")
    assert numbers.isna().any().tolist() == [c in _quickstart._WITH_NAN for c in numbers]
    assert 0.05 < numbers["x0"].isna().mean() < 0.15
    spread = numbers.std()
    assert spread.max() / spread.min() > 1e4  # numbers of very different scales
    assert y.shape == (200, 3) and np.isnan(y[:, 1]).mean() > 0.7


def test_without_pandas_it_says_so(capsys, monkeypatch):
    monkeypatch.setattr(_quickstart, "_have_pandas", lambda: False)
    X, _ = make_data(50)
    assert isinstance(X, np.ndarray) and X.shape == (50, 21) and np.isfinite(X).all()
    results = main(smoke=True)
    assert set(results["linear model"]) == {"spend", "bought", "segment"}
    assert "pandas is not installed" in capsys.readouterr().out
