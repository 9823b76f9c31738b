"""Task declaration, inference from y, label encoding, and the errors on bad y."""

import re

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._targets import as_target_table
from sklearn_mtl._task_encoding import TaskEncoder, resolve_tasks

FAST = {"hidden_layer_sizes": (8,), "max_epochs": 2, "random_state": 0}


def kinds_of(y, tasks=None):
    table = as_target_table(y)
    return [TaskEncoder(t, p).fit(table).task_.kind for t, p in resolve_tasks(tasks, table)]


def test_inference_rules_of_the_design():
    y = pd.DataFrame(
        {
            "grams": np.arange(100, 130, dtype=float),  # integer-valued, 30 values
            "rate": np.linspace(0, 1, 30),  # fractional
            "flag": [0.0, 1.0, np.nan] * 10,  # 0/1 with gaps
            "level": [1, 2, 3] * 10,  # few integers
            "colour": ["red", "white"] * 15,
            "ok": [True, False] * 15,
            "size": pd.Categorical(["s", "m", "l"] * 10),
        }
    )
    assert kinds_of(y) == [
        "regression",
        "regression",
        "binary",
        "multiclass",
        "binary",
        "binary",
        "multiclass",
    ]


def test_categorical_of_numbers_is_classes():
    y = pd.DataFrame({"c": pd.Categorical(np.arange(30) % 25)})
    assert kinds_of(y) == ["multiclass"]


def test_names_default_and_dict_form():
    table = as_target_table(np.zeros((4, 2)))
    assert [t.name for t, _ in resolve_tasks(None, table)] == ["task0", "task1"]
    resolved = resolve_tasks({"a": "regression", "b": "binary"}, table)
    assert [(t.name, p) for t, p in resolved] == [("a", (0,)), ("b", (1,))]


def test_multilabel_columns_by_name_and_position():
    y = pd.DataFrame({"spend": [1.0, 2.0], "books": [0, 1], "music": [1, 1]})
    tasks = [Task("spend", "regression"), Task("prefs", "multilabel", columns=["books", "music"])]
    assert [p for _, p in resolve_tasks(tasks, as_target_table(y))] == [(0,), (1, 2)]
    array_tasks = [Task("prefs", "multilabel", columns=[1, 2]), Task("spend")]
    assert [p for _, p in resolve_tasks(array_tasks, as_target_table(y.to_numpy()))] == [
        (1, 2),
        (0,),
    ]


def test_class_labels_are_kept_and_floats_with_gaps_become_ints():
    table = as_target_table(np.array([0.0, 1.0, np.nan, 1.0]))
    encoder = TaskEncoder(Task("t"), (0,)).fit(table)
    assert encoder.classes_.dtype.kind == "i"
    np.testing.assert_array_equal(encoder.encode(table)[:, 0], [0, 1, np.nan, 1])
    labels = np.array(["b", "a", None, "c"], dtype=object)
    encoder = TaskEncoder(Task("t"), (0,)).fit(as_target_table(labels))
    assert encoder.classes_.tolist() == ["a", "b", "c"]
    assert encoder.decode(np.array([[0.0, 5.0, 1.0]])).tolist() == ["b"]


def test_regression_is_standardised_and_decoded_back():
    table = as_target_table(np.array([10.0, 20.0, 30.0, np.nan]))
    encoder = TaskEncoder(Task("t", "regression"), (0,)).fit(table)
    encoded = encoder.encode(table)[:, 0]
    assert np.nanmean(encoded) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(encoder.decode(encoded[:3, None]), [10.0, 20.0, 30.0], rtol=1e-6)


@pytest.mark.parametrize(
    "y, tasks, message",
    [
        (np.array([np.nan, np.nan, np.nan, np.nan]), None, "Task 'task0' has no label"),
        (np.array(["a", "a", "a", None], dtype=object), None, "one class only"),
        (
            np.array([[0.1, 2], [0.2, 3], [0.3, 2], [0.4, 5]]),
            [Task("t", "regression"), Task("m", "multilabel", columns=[1])],
            "must hold 0/1",
        ),
        (np.array([1, 2, 3, 1]), [Task("t", "binary")], "declared binary"),
        (np.array(["x", "y", "x", "y"]), [Task("t", "regression")], "non-numeric"),
        (np.zeros((4, 2)), {"a": "regression"}, "belong to no task"),
        (np.zeros((4, 1)), {"a": "regression", "b": "binary"}, "too few"),
        (np.array([1, "a", 2, "b"], dtype=object), None, "mixed types"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}), {"b": "regression"}, "no column of that name"),
        (np.zeros((4, 2)), [Task("a", columns=["x"]), Task("b")], "no column names"),
    ],
)
def test_bad_targets_give_clear_errors(y, tasks, message):
    X = np.random.default_rng(0).normal(size=(4, 2))
    with pytest.raises(ValueError, match=message):
        MultiTaskNetEstimator(tasks=tasks, **FAST).fit(X, y)


def test_bad_declarations():
    with pytest.raises(ValueError, match="unknown kind 'ordered'"):
        Task("t", "ordered")
    with pytest.raises(ValueError, match="unique"):
        resolve_tasks([Task("a"), Task("a")], as_target_table(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="takes inputs from"):
        resolve_tasks([Task("a", inputs_from=["b"]), Task("b")], as_target_table(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="spans 2 columns"):
        resolve_tasks([Task("a", "regression", columns=[0, 1])], as_target_table(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="claimed by both"):
        resolve_tasks(
            [Task("a", columns=[0]), Task("b", columns=[0])], as_target_table(np.zeros((2, 1)))
        )


def test_unseen_label_at_score_time_is_named_and_counts_as_wrong():
    from sklearn_mtl.metrics import UnseenLabelWarning

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    est = MultiTaskNetEstimator(**FAST).fit(X, np.array(["a", "b"] * 10))
    with pytest.warns(UnseenLabelWarning, match=r"labels \['z'\] \(1 rows\) not seen"):
        score = est.score(X[:2], np.array(["a", "z"]))
    assert score == (0.5 if est.predict(X[:1])[0] == "a" else 0.0)


def _one_by_one(tasks, table, classes=None):
    classes = classes or {}
    return [
        TaskEncoder(task, positions).fit(table, classes.get(task.name))
        for task, positions in resolve_tasks(tasks, table)
    ]


def _label_matrix(seed=0):
    """Columns of every sort: fractional, two integers with gaps, 0/1 ints, a few
    integers, many integers, constant, huge integers, negative pairs."""
    rng = np.random.default_rng(seed)
    n = 60
    columns = [
        rng.normal(3.0, 2.0, n),
        rng.integers(0, 2, n).astype(float),
        rng.integers(4, 6, n).astype(float),
        rng.integers(0, 4, n).astype(float),
        rng.integers(0, 1000, n).astype(float),
        np.full(n, 7.5),
        np.where(rng.random(n) < 0.5, 2.0**60, 2.0**60 + 2**10),
        rng.integers(-2, 0, n).astype(float),
    ]
    y = np.column_stack(columns)
    y[rng.random(y.shape) < 0.3] = np.nan
    return y


@pytest.mark.parametrize(
    "tasks",
    [
        None,
        [Task(f"t{j}", None if j == 6 else "regression", columns=[j]) for j in range(8)],
        [Task("a", "binary", columns=[1]), Task("b", loss="huber", columns=[0])]
        + [Task(f"r{j}", "regression", columns=[j]) for j in range(2, 8)],
        [Task("p", "regression", loss="poisson", columns=[2])]
        + [Task(f"r{j}", columns=[j]) for j in (0, 1, 3, 4, 5, 6, 7)],
    ],
)
@pytest.mark.parametrize("container", ["array", "frame", "float32", "int"])
@pytest.mark.parametrize("chunk_values", [None, 16])
def test_encoders_fitted_together_match_one_by_one(tasks, container, chunk_values, monkeypatch):
    """fit_encoders/encode_targets (passes over the whole label matrix) give the kinds,
    classes, standardisation and targets of one encoder per task (also when the matrix
    is read in chunks of 2 rows, where some columns have no label in the first)."""
    from sklearn_mtl import _task_encoding
    from sklearn_mtl._task_encoding import encode_targets, fit_encoders

    if chunk_values is not None:
        monkeypatch.setattr(_task_encoding, "_CHUNK_VALUES", chunk_values)
    y = _label_matrix()
    y[:2, 1] = np.nan  # this binary column has no label in the first chunk
    y[:2, 5] = np.nan
    if container == "frame":
        y = pd.DataFrame(y, columns=[f"c{j}" for j in range(y.shape[1])])
        tasks = None if tasks is None else [
            Task(t.name, t.kind, columns=[f"c{t.columns[0]}"], loss=t.loss) for t in tasks
        ]  # fmt: skip
    elif container == "float32":  # the huge labels of column 6 collapse in float32
        y[:, 6] = y[:, 6] - 2.0**60 + 2.0**20
        y = y.astype(np.float32)
    elif container == "int":
        y = np.nan_to_num(y[:, [1, 2, 3, 4, 7]], nan=1.0).astype(np.int64)
        y[:, 1] += 4 * (y[:, 1] == 1)
        tasks = None if tasks is None else [Task(f"t{j}", "regression") for j in range(5)]
    table = as_target_table(y)
    together, alone = fit_encoders(tasks, table), _one_by_one(tasks, table)
    for fast, slow in zip(together, alone, strict=True):
        assert fast.task_ == slow.task_
        assert fast.column_ids_ == slow.column_ids_
        if slow.classes_ is None:
            assert fast.classes_ is None
        else:
            np.testing.assert_array_equal(fast.classes_, slow.classes_)
            assert fast.classes_.dtype == slow.classes_.dtype
        assert fast.mean_ == pytest.approx(slow.mean_, rel=1e-12, abs=1e-12)
        assert fast.scale_ == pytest.approx(slow.scale_, rel=1e-12)
    expected = np.concatenate([e.encode(table) for e in alone], axis=1)
    np.testing.assert_allclose(encode_targets(together, table), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(encode_targets(alone, table)), np.isnan(expected))


@pytest.mark.parametrize(
    "column, tasks",
    [
        (np.full(6, np.nan), None),  # no label
        (np.array([1.0, np.inf, 0.0, 1.0, 0.0, 1.0]), None),  # infinite
        (np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0]), "binary"),  # three classes
        (np.array([1.0, 1.0, 1.0, 1.0, np.nan, 1.0]), "binary"),  # one class
        (np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]), "huber"),  # a regression option
        (np.array([-1.0, 1.0, 2.0, 1.0, 0.5, 1.0]), "poisson"),  # negative count
        (np.array([np.nan, np.nan, 1.0, 1.0, 1.0, 1.0]), None),  # one class, none first
    ],
)
@pytest.mark.parametrize("chunk_values", [None, 6])
def test_encoders_fitted_together_raise_what_one_by_one_raises(
    column, tasks, chunk_values, monkeypatch
):
    from sklearn_mtl import _task_encoding
    from sklearn_mtl._task_encoding import fit_encoders

    if chunk_values is not None:
        monkeypatch.setattr(_task_encoding, "_CHUNK_VALUES", chunk_values)
    y = np.column_stack([np.arange(6.0), column, np.arange(6.0) % 2])
    declared = None
    if tasks == "binary":
        declared = [Task("a"), Task("b", "binary"), Task("c")]
    elif tasks == "huber":
        declared = [Task("a"), Task("b", huber_delta=2.0), Task("c")]
    elif tasks == "poisson":
        declared = [Task("a"), Task("b", "regression", loss="poisson"), Task("c")]
    table = as_target_table(y)
    with pytest.raises(ValueError) as alone:
        _one_by_one(declared, table)
    with pytest.raises(ValueError, match=re.escape(str(alone.value))):
        fit_encoders(declared, table)


def test_unseen_binary_label_in_a_later_encode_is_named():
    from sklearn_mtl._task_encoding import encode_targets, fit_encoders

    fitted = fit_encoders(None, as_target_table(np.array([[0.0, 1.5], [1.0, 2.5]])))
    with pytest.raises(ValueError, match=r"task0.*labels \[2\.0\] that were not seen"):
        encode_targets(fitted, as_target_table(np.array([[2.0, 1.5], [1.0, 2.5]])))
