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
