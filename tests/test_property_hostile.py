"""Property test over random hostile inputs (issue #16).

For every draw of X, y (random dtypes and shapes, NaN, inf, None, strings, mixed
types) and parameters (valid and invalid values, numpy scalars), ``fit`` then
``predict``/``score`` either give a result of the right shape, or raise a ValueError or
TypeError from sklearn-mtl's own checks or scikit-learn's input validation; never an
exception from inside torch, skorch or numpy, and the user's objects are unchanged.
"""

import copy
import os
import traceback
import warnings

import numpy as np
import pytest

from sklearn_mtl import MultiTaskNetEstimator

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OURS = (os.sep + "sklearn_mtl" + os.sep, os.sep + "sklearn" + os.sep)
_VALID = {
    "hidden_layer_sizes": [(3,), 2, np.int64(3), (2, 2), np.arange(2, 4)],
    "dropout": [0.0, 0.5, np.float32(0.2)],
    "batch_norm": [False, True],
    "batch_size": [8, 1, np.int64(4), 64],
    "lr": [1e-2, np.float32(1e-3), 1e3],
    "activation": ["relu", "tanh"],
    "architecture": ["hard", "mmoe", "cross_stitch", "task_attention"],
    "loss_weighting": ["fixed", "rlw", "uncertainty", "pcgrad", "dwa"],
    "early_stopping": [False, True],
    "validation_fraction": [0.1, 0.5],
    "random_state": [0, np.int64(1), None],
}
_INVALID = {
    "hidden_layer_sizes": [(), None, (0,), (2.5,), "3"],
    "dropout": [1.0, -0.1, "0.1", float("nan")],
    "batch_size": [0, 2.5, None],
    "lr": [0.0, float("nan"), float("inf")],
    "alpha": [float("inf"), -1.0],
    "activation": ["nope"],
    "architecture": ["nope", 3],
    "loss_weighting": ["nope"],
    "validation_fraction": [1.0],
    "tasks": [{"a": "regression"}, {"a": "binary", "b": "multiclass"}, [1], "a", {"a": "x"}],
    "task_weights": [{"task0": 2.0}, {"nope": 1.0}, {"task0": -1.0}, [1.0]],
    "callbacks": [[1], "x"],
    "max_epochs": [0, 1.5],
    "precision": ["fp8"],
}


def _column(draw, rng, n):
    kinds = ["float"] * 4 + ["int"] * 3 + ["str"] * 3 + ["bool", "mixed", "big", "const"]
    kind = draw(st.sampled_from(kinds))
    if kind == "float":
        column = rng.normal(size=n).astype(object)
    elif kind == "int":
        column = rng.integers(0, draw(st.integers(1, 30)), size=n).astype(object)
    elif kind == "str":
        column = np.array([f"c{v}" for v in rng.integers(0, 3, n)], dtype=object)
    elif kind == "bool":
        column = (rng.random(n) < 0.5).astype(object)
    elif kind == "mixed":
        column = np.array([v if i % 3 else str(v) for i, v in enumerate(range(n))], object)
    elif kind == "big":
        column = np.array([1e20, 2e20] * (n // 2) + [1e20] * (n % 2), dtype=object)
    else:
        column = np.ones(n, dtype=object)
    hostile = [np.nan, None] * 8 + [np.inf, -np.inf]
    for value in draw(st.lists(st.sampled_from(hostile), max_size=2)):
        column[rng.integers(0, n)] = value
    if draw(st.integers(0, 19)) == 0:
        column[:] = None
    return column


@st.composite
def hostile_problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.sampled_from([1, 2, 3, 5, *range(8, 31)]))
    n_features = draw(st.integers(1, 4))
    dtype = draw(
        st.sampled_from(["float64", "float64", "float32", "int64", "bool", "object", "str"])
    )
    X = rng.normal(size=(n, n_features)) * 3
    if dtype == "object" and draw(st.booleans()):
        X = X.astype(object)
        X[rng.integers(0, n), 0] = draw(st.sampled_from([None, "a", np.nan, 1]))
    elif dtype == "object":
        X = X.astype(object)
    elif dtype == "str":
        X = X.astype(str)
    else:
        X = X.astype(dtype)
    if dtype in ("float64", "float32") and draw(st.integers(0, 5)) == 0:
        with np.errstate(over="ignore"):
            X[rng.integers(0, n), 0] = draw(st.sampled_from([np.nan, np.inf, 1e300]))
    shape = draw(st.sampled_from(["2d"] * 12 + ["1d", "3d", "list", "list"]))
    if shape == "1d":
        X = X[:, 0]
    elif shape == "3d":
        X = X[:, :, None]
    elif shape == "list":
        X = X.tolist()
    columns = [_column(draw, rng, n) for _ in range(draw(st.integers(1, 3)))]
    y_form = draw(st.sampled_from(["array"] * 5 + ["1d", "list", "list", "short"]))
    if y_form == "1d" or (len(columns) == 1 and draw(st.booleans())):
        y = columns[0]
    elif y_form == "list":
        y = np.column_stack(columns).tolist()
    elif y_form == "short":
        y = np.column_stack(columns)[: max(1, n - 1)]
    else:
        y = np.column_stack(columns)
    params = {name: draw(st.sampled_from(values)) for name, values in _VALID.items()}
    if draw(st.integers(0, 2)) == 0:  # one doubtful parameter (some are fine: tasks=...)
        name = draw(st.sampled_from(sorted(_INVALID)))
        params[name] = draw(st.sampled_from(_INVALID[name]))
    return X, y, params


def _assert_raised_by_our_checks(error):
    assert isinstance(error, ValueError | TypeError), repr(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1].filename
    assert any(part in where for part in _OURS), (
        f"{type(error).__name__} raised inside {where}: {error}"
    )
    assert str(error), "an error without a message"


def _same(a, b):
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and repr(a.tolist()) == repr(b.tolist())
        )
    return repr(a) == repr(b)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(hostile_problems())
def test_hostile_inputs_give_a_result_or_a_clear_error(problem):
    X, y, params = problem
    before = copy.deepcopy((X, y, params))
    est = MultiTaskNetEstimator(max_epochs=2, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except (ValueError, TypeError) as error:
            _assert_raised_by_our_checks(error)
        else:
            prediction = est.predict(X)
            n_rows = len(X)
            assert len(prediction) == n_rows
            assert np.shape(prediction)[1:] == np.shape(np.asarray(y, dtype=object))[1:]
            try:
                score = est.score(X, y)
                assert isinstance(score, float)
            except (ValueError, TypeError) as error:  # e.g. proba-free metric refusals
                _assert_raised_by_our_checks(error)
    for original, now in zip(before, (X, y, params), strict=True):
        if isinstance(original, dict):
            assert original.keys() == now.keys()
            assert all(_same(original[k], now[k]) for k in original)
        else:
            assert _same(np.asarray(original, dtype=object), np.asarray(now, dtype=object))
