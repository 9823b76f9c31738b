"""``fit(X, y, groups=...)``: early stopping holds out whole groups (patients, sites), and
the groups reach the estimator through scikit-learn's metadata routing."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_mtl._estimator_fit as estimator_fit
from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._checkpoint import _fit_key
from sklearn_mtl._holdout import group_codes, holdout_rows

TINY = {"hidden_layer_sizes": (8,), "max_epochs": 4, "batch_size": 16, "random_state": 0}


def grouped_regression(n_groups=10, per_group=6, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    X = rng.normal(size=(len(groups), 3)) + rng.normal(size=(n_groups, 3))[groups]
    y = np.column_stack([X @ rng.normal(size=3), X @ rng.normal(size=3)])
    return X, y, groups


@pytest.fixture
def recorded_holdouts(monkeypatch):
    calls = []
    original = estimator_fit.holdout_rows

    def recording(*args, **kwargs):
        train, valid = original(*args, **kwargs)
        codes = args[4] if len(args) > 4 else kwargs.get("groups")
        calls.append((train, valid, codes))
        return train, valid

    monkeypatch.setattr(estimator_fit, "holdout_rows", recording)
    return calls


@pytest.mark.parametrize("seed", range(5))
def test_holdout_keeps_each_group_on_one_side(seed):
    groups = np.random.default_rng(seed).integers(0, 12, size=200)
    codes = group_codes(groups, 200)
    train, valid = holdout_rows(np.ones((200, 2), dtype=bool), 200, 0.2, seed, codes)
    assert not set(groups[train]) & set(groups[valid])
    assert sorted(np.concatenate([train, valid])) == list(range(200))
    assert 0 < len(valid) < 200 and len(set(groups[train])) >= 1


def test_holdout_of_groups_is_close_to_the_fraction():
    codes = np.repeat(np.arange(50), 4)  # 50 groups of 4 rows: 10 groups are 20 %
    train, valid = holdout_rows(np.ones((200, 1), dtype=bool), 200, 0.2, 0, codes)
    assert len(valid) == 40 and len(train) == 160


def test_holdout_of_one_group_per_row_is_the_row_holdout():
    labelled = np.random.default_rng(1).random((37, 3)) < 0.5
    for seed in range(4):
        by_rows = holdout_rows(labelled, 37, 0.2, seed)
        by_groups = holdout_rows(labelled, 37, 0.2, seed, np.arange(37))
        # the same permutation; only the rounding of the size may differ by one row
        assert abs(len(by_rows[1]) - len(by_groups[1])) <= 1


def test_holdout_of_groups_gives_every_task_a_row_on_each_side():
    # two tasks on disjoint rows, each in its own 5 groups
    codes = np.repeat(np.arange(10), 5)
    first = codes < 5
    labelled = np.column_stack([first, ~first])
    for seed in range(10):
        train, valid = holdout_rows(labelled, 50, 0.1, seed, codes)
        for task in range(2):
            assert labelled[valid, task].any() and labelled[train, task].any()
        assert not set(codes[train]) & set(codes[valid])


def test_group_codes_accept_strings_objects_and_numbers():
    assert group_codes(["b", "a", "b"], 3).tolist() == [1, 0, 1]
    assert group_codes(np.array([3.0, 1.0, 3.0]), 3).tolist() == [1, 0, 1]
    assert group_codes(np.array(["x", 2, "x"], dtype=object), 3).tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (np.arange(5), "one label per row"),
        (np.ones((6, 2)), "one label per row"),
        (np.array([0, 1, np.nan, 1, 0, 1]), "missing"),
        (np.array(["a", None, "b", "a", "b", "a"], dtype=object), "missing"),
    ],
)
def test_bad_groups_are_a_value_error_naming_groups(groups, message):
    X, y, _ = grouped_regression(n_groups=2, per_group=3)
    with pytest.raises(ValueError, match=f"groups.*{message}|{message}.*groups"):
        MultiTaskNetEstimator(**TINY).fit(X, y, groups=groups)


def test_fit_with_groups_validates_on_unseen_groups(recorded_holdouts):
    X, y, groups = grouped_regression()
    est = MultiTaskNetEstimator(**TINY).fit(X, y, groups=groups)
    train, valid, _ = recorded_holdouts[0]
    assert not set(groups[train]) & set(groups[valid])
    assert len(valid) == 12  # 2 of the 10 groups of 6 rows
    assert est.n_iter_ <= 4 and est.predict(X).shape == y.shape


def test_early_stopping_true_with_groups_restores_a_best_epoch(recorded_holdouts):
    X, y, groups = grouped_regression()
    est = MultiTaskNetEstimator(**{**TINY, "early_stopping": True}).fit(X, y, groups=groups)
    train, valid, _ = recorded_holdouts[0]
    assert not set(groups[train]) & set(groups[valid])
    assert est.best_epoch_ is not None


def test_groups_are_ignored_without_early_stopping(recorded_holdouts):
    X, y, groups = grouped_regression()
    plain = MultiTaskNetEstimator(**{**TINY, "early_stopping": False}).fit(X, y)
    grouped = MultiTaskNetEstimator(**{**TINY, "early_stopping": False}).fit(X, y, groups=groups)
    assert recorded_holdouts == []
    np.testing.assert_array_equal(plain.predict(X), grouped.predict(X))


def test_one_group_falls_back_with_refit_and_is_refused_by_early_stopping_true():
    X, y, _ = grouped_regression()
    one = np.zeros(len(X))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MultiTaskNetEstimator(**TINY).fit(X, y, groups=one)
    messages = [str(w.message) for w in caught if "cannot choose" in str(w.message)]
    assert len(messages) == 1 and "single group" in messages[0]
    assert est.n_iter_ == TINY["max_epochs"]
    with pytest.raises(ValueError, match="single group"):
        MultiTaskNetEstimator(**{**TINY, "early_stopping": True}).fit(X, y, groups=one)


def test_seeded_fits_with_groups_repeat():
    X, y, groups = grouped_regression()
    first = MultiTaskNetEstimator(**TINY).fit(X, y, groups=groups)
    again = MultiTaskNetEstimator(**TINY).fit(X, y, groups=groups)
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    assert first.history_[:, "train_loss"] == again.history_[:, "train_loss"]


def test_pipeline_passes_groups_by_step_name(recorded_holdouts):
    X, y, groups = grouped_regression()
    pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator(**TINY))
    pipe.fit(X, y, multitasknetestimator__groups=groups)
    train, valid, _ = recorded_holdouts[0]
    assert not set(groups[train]) & set(groups[valid])


def test_metadata_routing_sends_the_fold_groups_to_fit(recorded_holdouts):
    X, y, groups = grouped_regression(n_groups=12)
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskNetEstimator(**TINY).set_fit_request(groups=True)
        pipe = make_pipeline(StandardScaler(), est)
        cross_validate(pipe, X, y, cv=GroupKFold(3), params={"groups": groups})
        search = GridSearchCV(est, {"alpha": [1e-4, 1e-2]}, cv=GroupKFold(2))
        search.fit(X, y, groups=groups)
    # 3 folds of cross_validate, 4 fits of the grid and the refit of the best candidate
    assert len(recorded_holdouts) == 3 + 4 + 1
    for train, valid, codes in recorded_holdouts:
        assert codes is not None and not set(codes[train]) & set(codes[valid])
    assert hasattr(search, "best_estimator_")


def test_metadata_routing_asks_for_a_request_and_false_leaves_groups_to_the_splitter(
    recorded_holdouts,
):
    from sklearn.exceptions import UnsetMetadataPassedError

    X, y, groups = grouped_regression(n_groups=6)
    with sklearn.config_context(enable_metadata_routing=True):
        # as for sample_weight: scikit-learn asks the user to decide
        with pytest.raises(UnsetMetadataPassedError, match=r"MultiTaskNetEstimator\.fit"):
            cross_validate(
                MultiTaskNetEstimator(**TINY), X, y, cv=GroupKFold(2), params={"groups": groups}
            )
        est = MultiTaskNetEstimator(**TINY).set_fit_request(groups=False)
        cross_validate(est, X, y, cv=GroupKFold(2), params={"groups": groups})
    # the splitter used the groups; the estimator held out rows (no groups reached it)
    assert [codes for _, _, codes in recorded_holdouts] == [None, None]


def test_checkpoint_key_depends_on_the_groups(tmp_path):
    import torch

    X, _, groups = grouped_regression()
    est = MultiTaskNetEstimator(**TINY, checkpoint_dir=tmp_path)
    targets = torch.zeros(len(X), 2)
    codes = group_codes(groups, len(X))
    keys = {
        _fit_key(est, X, targets, None),
        _fit_key(est, X, targets, None, codes),
        _fit_key(est, X, targets, None, codes[::-1].copy()),
    }
    assert len(keys) == 3
