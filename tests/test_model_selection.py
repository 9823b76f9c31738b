"""Out-of-fold predictions per task (what cross_val_predict cannot give a mixed model)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, ShuffleSplit, cross_val_predict

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.model_selection import cross_val_predict_tasks

pd = pytest.importorskip("pandas")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the 2-epoch fits
        yield


def _shop():
    from sklearn_mtl.datasets import make_shop

    X, Y = make_shop(n_samples=120, random_state=0)
    X = X[["age", "visits"]]
    tasks = [
        Task("spend", "regression"),
        Task("bought", "binary"),
        Task("prefs", "multilabel", columns=["pref_books", "pref_music"]),
    ]
    est = MultiTaskNetEstimator(tasks=tasks, hidden_layer_sizes=(4,), max_epochs=2, random_state=0)
    return est, X, Y


def test_sklearn_cross_val_predict_proba_cannot_serve_a_mixed_model():
    est, X, Y = _shop()
    with pytest.raises(ValueError, match="names column 'pref_books', but y has no column names"):
        cross_val_predict(est, X, Y, cv=3, method="predict_proba")


def test_out_of_fold_probabilities_per_task_match_a_manual_loop():
    est, X, Y = _shop()
    cv = KFold(3, shuffle=True, random_state=0)
    oof = cross_val_predict_tasks(est, X, Y, cv=cv)
    assert list(oof) == ["bought", "prefs"]
    assert oof["bought"].shape == (120, 2) and oof["prefs"].shape == (120, 2)
    for train, test in cv.split(X):
        model = clone(est).fit(X.iloc[train], Y.iloc[train])
        bought, prefs = model.predict_proba(X.iloc[test])
        np.testing.assert_allclose(oof["bought"][test], bought, rtol=1e-6)
        np.testing.assert_allclose(oof["prefs"][test], prefs, rtol=1e-6)


def test_out_of_fold_predictions_of_every_task():
    est, X, Y = _shop()
    oof = cross_val_predict_tasks(est, X, Y, cv=3, method="predict")
    assert list(oof) == ["spend", "bought", "prefs"]
    assert oof["spend"].shape == (120,) and oof["prefs"].shape == (120, 2)
    assert set(np.unique(oof["bought"])) <= {0.0, 1.0}


def test_a_class_missing_from_a_training_fold_gets_probability_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    level = np.array(["a", "b"] * 29 + ["rare", "rare"], dtype=object)
    y = np.column_stack([X[:, 0], level]).astype(object)
    est = MultiTaskNetEstimator(
        tasks={"amount": "regression", "level": "multiclass"}, hidden_layer_sizes=(4,), max_epochs=2
    )
    oof = cross_val_predict_tasks(est, X, y, cv=KFold(2))  # "rare" only in the last fold
    proba = oof["level"]
    assert proba.shape == (60, 3)
    np.testing.assert_array_equal(proba[30:, 2], 0.0)  # the model that predicts them never saw it
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_method_and_non_partition_cv_are_clear_errors():
    est, X, Y = _shop()
    with pytest.raises(ValueError, match="method must be one of"):
        cross_val_predict_tasks(est, X, Y, method="decision_function")
    with pytest.raises(ValueError, match="cover every row exactly once"):
        cross_val_predict_tasks(est, X, Y, cv=ShuffleSplit(2, test_size=0.2, random_state=0))


# -- LabelledKFold ---------------------------------------------------------------------
def _disjoint_labels(n=40):
    """Task 0 labelled on the first half only, task 1 (sorted 0/1) on the second."""
    y = np.full((n, 2), np.nan)
    y[: n // 2, 0] = np.arange(n // 2) / 7.0
    y[n // 2 :, 1] = np.arange(n // 2) >= n // 4
    return np.zeros((n, 1)), y


def test_labelled_kfold_gives_every_test_fold_labels_of_every_task_and_class():
    from sklearn_mtl.model_selection import LabelledKFold

    X, y = _disjoint_labels()
    splitter = LabelledKFold(4, random_state=0)
    folds = list(splitter.split(X, y))
    assert splitter.get_n_splits() == 4 and len(folds) == 4
    tests = np.sort(np.concatenate([test for _, test in folds]))
    np.testing.assert_array_equal(tests, np.arange(40))  # a partition
    for train, test in folds:
        assert len(test) == 10 and np.intersect1d(train, test).size == 0
        assert (~np.isnan(y[test])).any(axis=0).all()  # labels of both tasks
        assert set(y[test, 1][~np.isnan(y[test, 1])]) == {0.0, 1.0}  # both classes
        assert set(y[train, 1][~np.isnan(y[train, 1])]) == {0.0, 1.0}
    again = [test for _, test in LabelledKFold(4, random_state=0).split(X, y)]
    other = [test for _, test in LabelledKFold(4, random_state=1).split(X, y)]
    assert all(np.array_equal(a, b) for a, (_, b) in zip(again, folds, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(again, other, strict=True))


def test_labelled_kfold_on_a_frame_and_its_errors():
    pd = pytest.importorskip("pandas")
    from sklearn_mtl.model_selection import LabelledKFold

    X, y = _disjoint_labels(12)
    frame = pd.DataFrame({"amount": y[:, 0], "flag": y[:, 1]})
    for _, test in LabelledKFold(3, shuffle=False).split(X, frame):
        assert frame.iloc[test].notna().any().all()
    with pytest.warns(UserWarning, match=r"'amount' has 2 labelled row\(s\), fewer than"):
        list(LabelledKFold(3).split(X, frame.assign(amount=[1.0, 2.0] + [np.nan] * 10)))
    with pytest.raises(ValueError, match="n_splits must be an int >= 2"):
        list(LabelledKFold(1).split(X, y))
    with pytest.raises(TypeError, match="n_splits must be an int >= 2"):
        list(LabelledKFold(2.5).split(X, y))
    with pytest.raises(ValueError, match="greater than the number of rows"):
        list(LabelledKFold(13).split(X, y))
    with pytest.raises(ValueError, match="needs y"):
        list(LabelledKFold(3).split(X))
