"""The defaults are the recipe of issue 18 (early_stopping="refit", periodic numeric
embedding, architecture="auto"), and what "refit" does where a validation split cannot
choose: tiny tables, tasks with few labels, zero weights, warm starts, partial_fit."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_methods_sample_order_invariance

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._holdout import holdout_rows

TINY = {"hidden_layer_sizes": (8,), "max_epochs": 4, "batch_size": 16, "random_state": 0}
FALLBACK = "early_stopping='refit' cannot choose the number of epochs"
PREVIOUS = {
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "numeric_embedding": None,
    "architecture": "hard",
}


def regression(n, seed=0, n_tasks=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.column_stack([X @ rng.normal(size=3) for _ in range(n_tasks)])
    return X, y


def fallback_warnings(caught):
    return [w for w in caught if FALLBACK in str(w.message)]


def test_the_defaults_are_the_recipe():
    params = MultiTaskNetEstimator().get_params()
    assert params["early_stopping"] == "refit"
    assert params["validation_fraction"] == 0.2
    assert params["n_iter_no_change"] == 20
    assert params["numeric_embedding"] == "periodic"
    assert params["architecture"] == "auto"
    assert params["lr"] == "auto"


def test_default_fit_holds_out_a_fifth_and_refits_on_every_row(monkeypatch):
    runs = []
    original = MultiTaskNetEstimator._run

    def recording_run(self, split, epochs, full_fit=True):
        runs.append((len(split.train), None if split.valid is None else len(split.valid)))
        return original(self, split, epochs, full_fit)

    monkeypatch.setattr(MultiTaskNetEstimator, "_run", recording_run)
    X, y = regression(50)
    est = MultiTaskNetEstimator(**TINY).fit(X, y)
    assert runs == [(40, 10), (50, None)]
    assert est.best_epoch_ is None and est.n_iter_ == len(est.history_) <= 4


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_tiny_table_falls_back_to_every_row_with_one_warning(n):
    X, y = regression(n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MultiTaskNetEstimator(**TINY).fit(X, y)
    found = fallback_warnings(caught)
    assert len(found) == 1
    assert issubclass(found[0].category, UserWarning)
    assert "max_epochs=4" in str(found[0].message)
    assert f"of {n} rows" in str(found[0].message) or f"there is {n} row" in str(found[0].message)
    assert est.n_iter_ == 4  # max_epochs on every row, as early_stopping=False
    assert est.predict(X).shape == y.shape


def test_eight_rows_are_enough_for_a_validation_split():
    X, y = regression(8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MultiTaskNetEstimator(**TINY).fit(X, y)
    assert fallback_warnings(caught) == []


def test_early_stopping_false_does_not_warn_on_tiny_tables():
    X, y = regression(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MultiTaskNetEstimator(**TINY, early_stopping=False).fit(X, y)
    assert fallback_warnings(caught) == [] and est.n_iter_ == 4


def test_validation_rows_of_zero_weight_do_not_count():
    X, y = regression(20)
    weight = np.zeros(20)
    weight[0] = 1.0  # at most one row of positive weight is held out
    est = MultiTaskNetEstimator(**TINY)
    with pytest.warns(UserWarning, match="of positive weight"):
        est.fit(X, y, sample_weight=weight)
    assert est.n_iter_ == 4


def test_holdout_gives_every_task_of_two_labels_a_row_on_each_side():
    # 30 tasks on disjoint rows, 2 to 6 rows each: a plain random fifth misses many
    sizes = np.tile([2, 3, 4, 5, 6], 6)
    task = np.repeat(np.arange(len(sizes)), sizes)
    labelled = task[:, None] == np.arange(len(sizes))
    for seed in range(5):
        train, valid = holdout_rows(labelled, len(task), 0.2, seed)
        assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(len(task)))
        for rows in labelled.T:
            assert rows[train].any() and rows[valid].any()


def test_holdout_leaves_a_dense_table_as_a_random_fifth():
    labelled = np.ones((100, 3), dtype=bool)
    train, valid = holdout_rows(labelled, 100, 0.2, seed=3)
    order = np.random.RandomState(3).permutation(100)
    assert np.array_equal(valid, np.sort(order[:20]))
    assert np.array_equal(train, np.sort(order[20:]))


def test_task_with_one_label_trains_without_the_fallback():
    X, y = regression(40)
    y[1:, 1] = np.nan  # task 1 has one labelled row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MultiTaskNetEstimator(**TINY).fit(X, y)
    assert fallback_warnings(caught) == []
    assert np.isfinite(est.predict(X)).all()


def test_rare_class_and_disjoint_rows_fit_with_the_defaults():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.where(X[:, 0] > 0, "a", "b").astype(object)
    y[0] = "rare"  # one member: it lands on one side of the split
    est = MultiTaskNetEstimator(**TINY).fit(X, y)
    assert set(est.classes_) == {"a", "b", "rare"}
    assert est.predict(X).shape == (30,)


def test_warm_start_and_partial_fit_continue_without_validation(monkeypatch):
    runs = []
    original = MultiTaskNetEstimator._run

    def recording_run(self, split, epochs, full_fit=True):
        runs.append(split.valid is None)
        return original(self, split, epochs, full_fit)

    X, y = regression(40)
    est = MultiTaskNetEstimator(**TINY, warm_start=True).fit(X, y)
    first = est.n_iter_
    monkeypatch.setattr(MultiTaskNetEstimator, "_run", recording_run)
    est.fit(X, y)
    assert est.n_iter_ == first + 4 and runs == [True]
    est.partial_fit(X, y)
    assert est.n_iter_ == first + 5 and runs == [True, True]


def test_grid_search_with_the_defaults():
    X, y = regression(60, n_tasks=1)
    search = GridSearchCV(MultiTaskNetEstimator(**TINY), {"n_iter_no_change": [2, 20]}, cv=2).fit(
        X, y[:, 0]
    )
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_previous_defaults_pass_the_sample_order_check_exactly():
    est = MultiTaskNetEstimator(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    check_methods_sample_order_invariance("MultiTaskNetEstimator", est.set_params(**PREVIOUS))


@pytest.mark.parametrize("n_features", [3, 5, 8])
def test_default_predictions_do_not_depend_on_the_row_order(n_features):
    """To float32 resolution: see _WHY_SAMPLE_ORDER in test_common.py."""
    rng = np.random.default_rng(0)
    X = 3 * rng.uniform(size=(40, n_features))
    y = np.column_stack([X[:, 0] > 1.5, X @ rng.normal(size=n_features)])
    est = MultiTaskNetEstimator(**TINY).fit(X, y)
    order = rng.permutation(len(X))
    proba = est.predict_proba(X)
    reordered = est.predict_proba(X[order])
    np.testing.assert_allclose(reordered[0], proba[0][order], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        est.predict(X[order])[:, 1], est.predict(X)[order, 1], rtol=1e-6, atol=1e-6
    )
