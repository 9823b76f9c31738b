"""Property test over random hostile inputs (issue #16).

For every draw of X, y, sample_weight (random dtypes, pandas extension dtypes, shapes
with no row, no column or one row, NaN, inf, None, pd.NA, strings, mixed types) and of
parameters (valid values, numpy scalars, wrong types, values out of range), ``fit`` then
``predict``/``predict_proba``/``score`` either give a result of the right shape, or
raise a ValueError or TypeError

- raised by sklearn-mtl's own code (the innermost frame of the traceback is in
  ``sklearn_mtl``: an error of torch, skorch, numpy or scikit-learn reaches the user
  only re-raised by us, with our message);
- whose message names what is concerned: the parameter, X, y, sample_weight, a task or
  a column. When X and y are clean and one parameter is invalid, the error must be
  raised and name that parameter.

The user's objects (X, y, sample_weight, the parameters) are unchanged, and the
estimator's parameters are still the objects that were given.
"""

import copy
import os
import re
import traceback
import warnings

import numpy as np
import pytest

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import CrossStitch, MMoE
from sklearn_mtl.weighting import MGDA, DynamicWeightAverage, GradNorm

hypothesis = pytest.importorskip("hypothesis")
pd = pytest.importorskip("pandas")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OURS = os.sep + "sklearn_mtl" + os.sep
# Few examples by default (the suite stays fast); SKLEARN_MTL_HOSTILE_EXAMPLES=2000 for
# a long exploration.
MAX_EXAMPLES = int(os.environ.get("SKLEARN_MTL_HOSTILE_EXAMPLES", "70"))
# Explicit values of the parameters whose defaults may change (a cheap network).
FIXED = {
    "max_epochs": 2,
    "early_stopping": False,
    "architecture": "hard",
    "numeric_embedding": None,
    "hidden_layer_sizes": (3,),
    "batch_size": 8,
}
_VALID = {
    "hidden_layer_sizes": [(3,), 2, np.int64(3), (2, 2), np.arange(2, 4), [np.int32(2)]],
    "dropout": [0.0, 0.5, np.float32(0.2), np.float64(0.1), 0],
    "batch_norm": [False, True, np.bool_(False)],
    "batch_size": [8, 1, np.int64(4), np.int32(64), np.uint8(3)],
    "lr": [1e-2, np.float32(1e-3), 1e3, 1, np.int64(1)],
    "alpha": [0.0, 0, np.float16(1e-3)],
    "activation": ["relu", "tanh"],
    "architecture": [
        "hard",
        "mmoe",
        "cross_stitch",
        "task_attention",
        "auto",
        MMoE(n_experts=np.int64(2)),
        CrossStitch(self_weight=np.float32(0.8)),
    ],
    "loss_weighting": [
        "fixed",
        "rlw",
        "uncertainty",
        "pcgrad",
        "dwa",
        MGDA(max_iter=np.int64(5)),
        GradNorm(alpha=np.float32(1.5)),
        DynamicWeightAverage(temperature=np.int64(2)),
    ],
    "early_stopping": [False, True, "refit", np.bool_(True)],
    "validation_fraction": [0.1, 0.5, np.float32(0.3)],
    "numeric_embedding": [None, "periodic"],
    "max_epochs": [2, np.int64(1), np.uint16(2)],
    "random_state": [0, np.int64(1), None, np.random.RandomState(0)],
    "ensemble_size": [1, np.int8(2)],
    "label_smoothing": [0.0, 0.1, np.float32(0.2)],
}
# Values that must be refused, with an error naming the parameter.
_INVALID = {
    "hidden_layer_sizes": [(), None, (0,), (2.5,), "3", (np.float64(3.0),), (-1,), ((2,),)],
    "head_layer_sizes": [(0,), "x", (True,)],
    "dropout": [1.0, -0.1, "0.1", float("nan"), None, np.float64(1.5)],
    "batch_size": [0, 2.5, None, np.float64(4.0), "8", -3],
    "lr": [0.0, float("nan"), float("inf"), "0.1", None, -1.0, np.float32("nan")],
    "alpha": [float("inf"), -1.0, "0", None],
    "activation": ["nope", 3, None],
    "architecture": ["nope", 3, None, MMoE(n_experts=2.7), MMoE(n_experts="four")],
    "loss_weighting": ["nope", 3, DynamicWeightAverage(temperature=0), MGDA(max_iter=0.5)],
    "validation_fraction": [1.0, -0.5, "0.1"],
    "max_epochs": [0, 1.5, np.float64(2.0), "2", -1],
    "precision": ["fp8", 16],
    "optimizer": ["nope", 3],
    "n_iter_no_change": [0, 2.5],
    "tol": [-1.0, float("nan")],
    "ensemble_size": [0, 1.5],
    "label_smoothing": [1.0, -0.1, "0.1"],
    "weight_averaging": [0, 2.5, "last"],
    "numeric_embedding": ["fourier", True],
    "one_hot_max_categories": [-1, 2.5],
    "numeric_scaling": ["nope"],
    "lr_schedule": ["nope"],
    "callbacks": [[1], "x", [("a", 2)], [(3, None)]],
    "task_weights": [{"nope": 1.0}, {"task0": -1.0}, [1.0], {"task0": "2"}, {"task0": np.nan}],
    "tasks": ["a", [1], {"task0": "x"}, [Task("task0", "regression")] * 2, {1: "regression"}],
    "random_state": ["0", -1, 1.5],
    "device": [3],
    "n_threads": ["2", 0],
    "verbose": ["loud"],
}
# Values that may be fine or not depending on y (a clear error either way).
_DOUBTFUL = {
    "tasks": [
        {"a": "regression"},
        {"a": "binary", "b": "multiclass"},
        [Task("t", "binary")],
        [Task("t", "multilabel", columns=(0, 1))],
        [Task("t", "ordinal")],
        {"task0": "regression"},
    ],
    "task_weights": [{"task0": 2.0}, {"task0": np.float32(0.5), "task1": 0}],
    "categorical_features": [[0], [5], ["a"], [True, False], "from_dtype", None],
}


def _hostile_values():
    return [np.nan, None, np.inf, -np.inf, "x", 1e300, pd.NA, True, b"b"]


def _x_column(draw, rng, n, as_frame):
    """One column of X: a numpy or a pandas dtype, with a few hostile values."""
    kinds = ["float"] * 5 + ["int", "bool", "str", "object", "datetime", "complex"]
    if as_frame:
        kinds += ["Float64", "Int64", "boolean", "string", "category", "timedelta"]
    kind = draw(st.sampled_from(kinds))
    values = rng.normal(size=n) * 3
    if kind == "float":
        column = pd.Series(values) if as_frame else values
    elif kind == "int":
        column = rng.integers(-5, 5, n)
    elif kind == "bool":
        column = rng.random(n) < 0.5
    elif kind == "str":
        column = np.array([f"s{v}" for v in rng.integers(0, 4, n)], dtype=str)
    elif kind == "object":
        column = values.astype(object)
    elif kind == "datetime":
        column = np.datetime64("2020-01-01") + rng.integers(0, 900, n).astype("timedelta64[D]")
    elif kind == "complex":
        column = values + 1j
    elif kind == "timedelta":
        column = pd.Series(pd.to_timedelta(rng.integers(0, 50, n), unit="h"))
    elif kind == "category":
        column = pd.Series(pd.Categorical([f"c{v}" for v in rng.integers(0, 3, n)]))
    elif kind in ("Float64", "Int64"):
        column = pd.Series(np.round(values), dtype=kind)
    elif kind == "boolean":
        column = pd.Series(rng.random(n) < 0.5, dtype="boolean")
    else:
        column = pd.Series([f"s{v}" for v in rng.integers(0, 4, n)], dtype="string")
    column = pd.Series(column) if as_frame else np.asarray(column)
    if n and draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from(_hostile_values()))
        if as_frame:
            column = column.astype(object) if column.dtype.kind in "biufcmM" else column
            try:
                column.iloc[rng.integers(0, n)] = value
            except (TypeError, ValueError):
                column = column.astype(object)
                column.iloc[rng.integers(0, n)] = value
        else:
            column = column.astype(object)
            column[rng.integers(0, n)] = value
    return column, kind


def _stack(columns):
    """Columns side by side; as objects when they have no common dtype."""
    try:
        return np.column_stack(columns)
    except TypeError:  # numpy's DTypePromotionError is a TypeError
        return np.column_stack([np.asarray(c, dtype=object) for c in columns])


def _draw_X(draw, rng, n):
    n_features = draw(st.sampled_from([0, 1, 1, 2, 3, 3, 4]))
    form = draw(st.sampled_from(["array"] * 6 + ["frame"] * 3 + ["list", "1d", "3d", "sparse"]))
    if form == "frame":
        columns = [_x_column(draw, rng, n, as_frame=True)[0] for _ in range(n_features)]
        names = draw(st.sampled_from(["str", "str", "int", "mixed"]))
        labels = [
            f"f{j}" if names == "str" or (names == "mixed" and j % 2) else j
            for j in range(n_features)
        ]
        return pd.DataFrame(dict(zip(labels, columns, strict=True)), index=rng.permutation(n))
    if form == "sparse":
        import scipy.sparse as sp

        dense = rng.normal(size=(n, n_features)) * (rng.random((n, n_features)) < 0.3)
        if n and n_features and draw(st.booleans()):
            dense[0, 0] = draw(st.sampled_from([np.nan, np.inf]))
        return sp.csr_matrix(dense)
    if draw(st.integers(0, 2)) == 0:  # one dtype for all columns
        column, _ = _x_column(draw, rng, n * max(n_features, 1), as_frame=False)
        X = np.asarray(column)[: n * n_features].reshape(n, n_features)
    else:
        columns = [_x_column(draw, rng, n, as_frame=False)[0] for _ in range(n_features)]
        X = _stack(columns) if columns else np.empty((n, 0))
    if form == "list":
        return X.tolist()
    if form == "1d":
        return X[:, 0] if n_features else X.reshape(-1)
    if form == "3d":
        return X[:, :, None]
    return X


def _y_column(draw, rng, n, as_frame):
    kinds = ["float"] * 4 + ["int"] * 3 + ["str"] * 3
    kinds += ["bool", "mixed", "big", "const", "missing", "datetime", "binary01"]
    if as_frame:
        kinds += ["category", "Int64", "boolean", "string", "Float64"]
    kind = draw(st.sampled_from(kinds))
    if kind == "float":
        column = rng.normal(size=n)
    elif kind == "int":
        column = rng.integers(0, draw(st.integers(1, 30)), size=n)
    elif kind == "str":
        column = np.array([f"c{v}" for v in rng.integers(0, 3, n)], dtype=object)
    elif kind == "bool":
        column = rng.random(n) < 0.5
    elif kind == "mixed":
        column = np.array([v if i % 3 else str(v) for i, v in enumerate(range(n))], object)
    elif kind == "big":
        column = np.array([1e20, 2e20] * (n // 2) + [1e20] * (n % 2))
    elif kind == "const":
        column = np.ones(n)
    elif kind == "missing":
        column = np.full(n, None, dtype=object)
    elif kind == "datetime":
        column = np.datetime64("2021-01-01") + rng.integers(0, 3, n).astype("timedelta64[D]")
    elif kind == "binary01":
        column = (rng.random(n) < 0.5).astype(float)
    elif kind == "category":
        column = pd.Categorical([f"k{v}" for v in rng.integers(0, 3, n)])
    elif kind in ("Int64", "Float64"):
        column = pd.array(rng.integers(0, 3, n), dtype=kind)
    elif kind == "boolean":
        column = pd.array(rng.random(n) < 0.5, dtype="boolean")
    else:
        column = pd.array([f"k{v}" for v in rng.integers(0, 3, n)], dtype="string")
    column = pd.Series(column) if as_frame else np.asarray(column)
    if n and draw(st.integers(0, 2)) == 0:
        for value in draw(st.lists(st.sampled_from(_hostile_values()), min_size=1, max_size=2)):
            if not as_frame:
                column = column.astype(object)
                column[rng.integers(0, n)] = value
                continue
            try:
                column.iloc[rng.integers(0, n)] = value
            except (TypeError, ValueError):
                column = column.astype(object)
                column.iloc[rng.integers(0, n)] = value
    return column


def _draw_y(draw, rng, n):
    n_columns = draw(st.sampled_from([1, 1, 2, 2, 3, 0]))
    form = draw(
        st.sampled_from(["array"] * 4 + ["frame"] * 2 + ["1d", "list", "list1d", "short", "3d"])
    )
    as_frame = form == "frame"
    columns = [_y_column(draw, rng, n, as_frame) for _ in range(n_columns)]
    if as_frame:
        frame = pd.DataFrame({f"y{j}": c for j, c in enumerate(columns)})
        if n_columns == 1 and draw(st.booleans()):
            return frame.iloc[:, 0]  # a Series
        return frame
    stacked = _stack(columns) if columns else np.empty((n, 0))
    if form == "1d" and columns:
        return columns[0]
    if form == "list":
        return stacked.tolist()
    if form == "list1d" and columns:
        return columns[0].tolist()
    if form == "short":
        return stacked[: max(0, n - 1)]
    if form == "3d":
        return stacked[:, :, None]
    return stacked


def _draw_sample_weight(draw, rng, n):
    form = draw(st.sampled_from([None] * 8 + ["ok", "short", "negative", "nan", "str", "zeros"]))
    if form is None:
        return None
    if form == "short":
        return np.ones(max(0, n - 1))
    if form == "str":
        return ["a"] * n
    weight = rng.uniform(0.5, 2, n)
    if form == "negative" and n:
        weight[0] = -1.0
    if form == "nan" and n:
        weight[0] = np.nan
    if form == "zeros":
        weight[:] = 0.0
    return weight


def _clean_problem(rng, n):
    X = rng.normal(size=(n, 3))
    y = np.column_stack([X[:, 0], (X[:, 1] > 0).astype(float)])
    return X, y, None


@st.composite
def hostile_problems(draw):
    """(X, y, sample_weight, params, clean, invalid): ``invalid`` names the parameter
    drawn from ``_INVALID`` (or None), ``clean`` says X, y and sample_weight are fine."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    clean = draw(st.integers(0, 3)) == 0
    if clean:
        n = draw(st.sampled_from([12, 20, 30]))
        X, y, sample_weight = _clean_problem(rng, n)
    else:
        n = draw(st.sampled_from([0, 1, 1, 2, 3, 5, *range(8, 31)]))
        X, y = _draw_X(draw, rng, n), _draw_y(draw, rng, n)
        sample_weight = _draw_sample_weight(draw, rng, n)
    params = dict(FIXED)
    for name in draw(st.lists(st.sampled_from(sorted(_VALID)), max_size=4, unique=True)):
        params[name] = draw(st.sampled_from(_VALID[name]))
    invalid = None
    choice = draw(st.sampled_from(["none", "none", "invalid", "invalid", "doubtful"]))
    if choice == "invalid":
        invalid = draw(st.sampled_from(sorted(_INVALID)))
        params[invalid] = draw(st.sampled_from(_INVALID[invalid]))
    elif choice == "doubtful":
        name = draw(st.sampled_from(sorted(_DOUBTFUL)))
        params[name] = draw(st.sampled_from(_DOUBTFUL[name]))
    if params.get("batch_norm") and invalid != "batch_size" and params["batch_size"] < 2:
        params["batch_size"] = 8  # tested in test_hostile; here it would hide the rest
    return X, y, sample_weight, params, clean, invalid


def _task_names(params, y) -> list[str]:
    names = [f"task{i}" for i in range(8)]
    tasks = params.get("tasks")
    if isinstance(tasks, dict):
        names += [str(name) for name in tasks]
    elif isinstance(tasks, list):
        names += [task.name for task in tasks if isinstance(task, Task)]
    names += [str(c) for c in getattr(y, "columns", [])]
    if getattr(y, "name", None) is not None:
        names.append(str(y.name))
    return names


def _subjects(X, y, params, clean, invalid) -> list[str]:
    """The words one of which an error message must hold."""
    if clean and invalid is not None:
        extra = {"tasks": ["task", "Task", "column", "columns"], "task_weights": ["task0"]}
        value = params[invalid]
        nested = list(value.get_params()) if hasattr(value, "get_params") else []
        return [invalid, *extra.get(invalid, []), *nested]
    words = ["X", "y", "sample_weight", "task", "Task", "tasks", "column", "columns"]
    words += ["feature", "features", "label", "labels", "Column", "Columns", "Feature"]
    words += [*params, *_task_names(params, y)]
    for value in params.values():  # an architecture or weighting object's own parameters
        words += list(value.get_params()) if hasattr(value, "get_params") else []
    words += [str(c) for c in getattr(X, "columns", [])]
    return words


def _check_error(error, subjects):
    """A ValueError/TypeError raised in sklearn-mtl's code, naming one of ``subjects``."""
    assert isinstance(error, ValueError | TypeError), (
        f"{type(error).__name__} is not a ValueError/TypeError: {error!r}"
    )
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    assert _OURS in where, f"{type(error).__name__} raised inside {where}: {error}"
    message = str(error)
    assert message, "an error without a message"
    named = any(
        re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message) for word in subjects if word
    )
    assert named, f"the message names none of {subjects[:6]}...: {message!r}"


def _same(a, b) -> bool:
    """Deep equality, dtypes, index and column names included (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, pd.DataFrame | pd.Series):
        check = (
            pd.testing.assert_frame_equal
            if isinstance(a, pd.DataFrame)
            else pd.testing.assert_series_equal
        )
        try:
            check(a, b, check_exact=True)
        except AssertionError:
            return False
        return True
    if hasattr(a, "toarray"):  # sparse
        return a.dtype == b.dtype and repr(a.toarray().tolist()) == repr(b.toarray().tolist())
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and repr(a.tolist()) == repr(b.tolist())
    if isinstance(a, np.random.RandomState):
        return True  # drawn from, as scikit-learn's estimators do with a RandomState
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b, strict=True))
    return repr(a) == repr(b)


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _exercise(est, X, y, sample_weight, subjects):
    """fit, then predict, predict_proba and score: results of the right shape, or
    clear errors."""
    try:
        est.fit(X, y, sample_weight=sample_weight)
    except (ValueError, TypeError) as error:
        _check_error(error, subjects)
        return False
    prediction = est.predict(X)
    assert len(prediction) == _n_rows(X)
    assert np.shape(prediction)[1:] == np.shape(np.asarray(y, dtype=object))[1:]
    if any(task.is_classification for task in est.tasks_):
        probas = est.predict_proba(X)
        for proba in probas if isinstance(probas, list) else [probas]:
            assert proba.shape[0] == _n_rows(X) and np.isfinite(proba).all()
    try:
        assert isinstance(est.score(X, y, sample_weight=sample_weight), float)
    except (ValueError, TypeError) as error:
        _check_error(error, subjects)
    for other in _other_inputs(X):  # one row, a column more, an infinite value
        try:
            assert len(est.predict(other)) == _n_rows(other)
        except (ValueError, TypeError) as error:
            _check_error(error, ["X", "feature", "features", "Column", "column"])
    return True


def _other_inputs(X):
    """Inputs for predict that differ from the fitted X (copies: X is left alone)."""
    if hasattr(X, "iloc"):
        return [X.iloc[:1], X.assign(extra=1.0)]
    if hasattr(X, "toarray") or np.ndim(X) != 2:
        return []
    array = np.array(X, dtype=object if np.asarray(X).dtype.kind in "OUSM" else None)
    wider = np.column_stack([array, np.ones(len(array), dtype=array.dtype)])
    infinite = array.copy()
    if infinite.dtype.kind in "fO" and infinite.size:
        infinite[0, 0] = np.inf
    return [array[:1], wider, infinite]


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(hostile_problems())
def test_hostile_inputs_give_a_result_or_a_clear_error(problem):
    X, y, sample_weight, params, clean, invalid = problem
    before = copy.deepcopy((X, y, sample_weight, params))
    est = MultiTaskNetEstimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = _exercise(est, X, y, sample_weight, _subjects(X, y, params, clean, invalid))
    if clean and invalid is not None:
        assert not fitted, f"{invalid}={params[invalid]!r} was accepted"
    for original, now in zip(before, (X, y, sample_weight, params), strict=True):
        assert _same(original, now), "a user object was modified"
    given_params = est.get_params(deep=False)
    assert all(given_params[name] is value for name, value in params.items())
