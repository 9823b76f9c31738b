"""Task declaration, inference from y, label encoding, and the errors on bad y."""

import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._targets import as_target_table
from sklearn_mtl.tasks import TaskEncoder, resolve_tasks

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
