"""The architectures inside MultiTaskNetEstimator: learning, search, pickling, checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import make_mixed
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import (
    ARCHITECTURES,
    PLE,
    CrossStitch,
    CustomTrunk,
    MMoE,
    SoftSharing,
    TaskAttention,
)
from sklearn_mtl.weighting import WEIGHTINGS


class TwoLayerTrunk(nn.Module):
    """A user trunk: importable (module level), sized from ``n_features``."""

    def __init__(self, n_features: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.net(X))


ALL = {alias: alias for alias in ARCHITECTURES} | {"custom": TwoLayerTrunk}
PARAMS = {
    "hidden_layer_sizes": (16,),
    "batch_size": 32,
    "lr": 0.01,
    "random_state": 0,
    # the architectures themselves, without the default recipe's early stopping and
    # input embedding (tests/test_defaults.py and test_recipe.py cover those)
    "early_stopping": False,
    "numeric_embedding": None,
}


def baseline_scores(X, y):
    """Per-task score of the trivial baseline (mean / majority class), labelled rows only."""
    scores = []
    for j in range(y.shape[1]):
        labelled = np.array([not (isinstance(v, float) and np.isnan(v)) for v in y[:, j]])
        target = y[labelled, j]
        dummy = DummyRegressor() if j == 0 else DummyClassifier()
        target = target.astype(float) if j == 0 else target.astype(str)
        scores.append(dummy.fit(X[labelled], target).score(X[labelled], target))
    return scores


@pytest.fixture(scope="module")
def split():
    X, y = make_mixed(n_samples=400, missing=0.15, seed=0)
    return X[:300], y[:300], X[300:], y[300:]


# TaskOffsets shares one output layer between tasks of one width: it is meant for tasks
# of one kind (on disjoint rows), not for a regression and a binary task side by side.
@pytest.mark.parametrize("name", [name for name in ALL if name != "task_offsets"])
def test_every_architecture_learns_mixed_tasks(name, split):
    X, y, X_test, y_test = split
    est = MultiTaskNetEstimator(architecture=ALL[name], max_epochs=40, **PARAMS).fit(X, y)
    scores = list(est.score_tasks(X_test, y_test).values())
    baseline = baseline_scores(X_test, y_test)
    assert scores[0] > 0.6, scores  # R2 of the regression task (baseline <= 0)
    assert scores[1] > baseline[1] + 0.2, (scores, baseline)
    assert scores[2] > baseline[2] + 0.15, (scores, baseline)
    assert est.predict(X_test).shape == y_test.shape


@pytest.mark.parametrize("name", ALL)
def test_pickle_round_trip_predicts_the_same(name, split):
    X, y, X_test, _ = split
    est = MultiTaskNetEstimator(architecture=ALL[name], max_epochs=2, **PARAMS).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X_test), est.predict(X_test))
    for p, q in zip(restored.predict_proba(X_test), est.predict_proba(X_test), strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
def test_every_architecture_with_every_weighting(name, weighting):
    """Gradient-level methods get each architecture's shared parameters (none for soft)."""
    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(
        architecture=ALL[name], loss_weighting=weighting, max_epochs=2, **PARAMS
    ).fit(X, y)
    assert np.isfinite(est.history_[-1]["train_loss"])
    assert est.predict(X).shape == y.shape


@pytest.mark.parametrize("name", ["soft", "mmoe", "ple"])
@pytest.mark.parametrize("weighting", ["pcgrad", "mgda"])
def test_gradient_on_representation(name, weighting):
    X, y = make_mixed(n_samples=80)
    method = WEIGHTINGS[weighting](gradient_on="representation")
    est = MultiTaskNetEstimator(
        architecture=name, loss_weighting=method, max_epochs=2, **PARAMS
    ).fit(X, y)
    assert np.isfinite(est.history_[-1]["train_loss"])


def test_grid_search_over_architecture_parameters(split):
    X, y, _, _ = split
    est = MultiTaskNetEstimator(architecture=MMoE(n_experts=2), max_epochs=3, **PARAMS)
    assert est.get_params()["architecture__n_experts"] == 2
    search = GridSearchCV(est, {"architecture__n_experts": [1, 3]}, cv=2).fit(X, y)
    assert search.best_params_["architecture__n_experts"] in (1, 3)
    best = search.best_estimator_
    assert best.architecture.n_experts == search.best_params_["architecture__n_experts"]
    assert best.net_.module_.experts.n_experts == best.architecture.n_experts
    assert est.architecture.n_experts == 2  # the searched estimator is not modified


def test_grid_search_over_custom_trunk_kwargs(split):
    X, y, _, _ = split
    est = MultiTaskNetEstimator(
        architecture=CustomTrunk(TwoLayerTrunk, module_kwargs={"width": 4}), max_epochs=2, **PARAMS
    )
    search = GridSearchCV(est, {"architecture__module_kwargs__width": [3, 5]}, cv=2).fit(X, y)
    width = search.best_params_["architecture__module_kwargs__width"]
    assert search.best_estimator_.net_.module_.width == width


def test_estimator_builds_what_the_architecture_says(split):
    X, y, _, _ = split
    for arch, module_type in [
        (SoftSharing(strength=0.5), "SoftSharingModule"),
        (CrossStitch(), "CrossStitchModule"),
        (PLE(n_levels=2), "PLEModule"),
        (TaskAttention(layers="last"), "TaskAttentionModule"),
    ]:
        est = MultiTaskNetEstimator(architecture=arch, max_epochs=1, **PARAMS).fit(X, y)
        module = est.net_.module_
        assert type(module).__name__ == "EncodedInputModule"  # the input layer in front
        assert type(module.inner).__name__ == module_type
        assert clone(est).get_params()["architecture"].get_params() == arch.get_params()


def test_soft_sharing_strength_pulls_towers_together(split):
    X, y, _, _ = split

    def distance(strength):
        est = MultiTaskNetEstimator(
            architecture=SoftSharing(strength=strength), max_epochs=15, **PARAMS
        ).fit(X, y)
        return est.net_.module_.tower_distance().item()

    assert distance(1.0) < 0.5 * distance(0.0)


def test_hierarchical_depth_and_task_chain_through_tasks(split):
    X, y, X_test, y_test = split
    tasks = [
        Task("reg", "regression"),
        Task("bin", "binary", depth=1),
        Task("multi", "multiclass", inputs_from=["reg", "bin"]),
    ]
    est = MultiTaskNetEstimator(
        tasks=tasks, architecture="hard", max_epochs=30, **{**PARAMS, "hidden_layer_sizes": (16, 8)}
    ).fit(X, y)
    module = est.net_.module_
    assert [head[0].in_features for head in module.task_heads] == [8, 16, 8 + 1 + 1]
    assert est.score_tasks(X_test, y_test)["multi"] > 0.5
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X_test), est.predict(X_test))


def test_depth_with_an_architecture_without_it_names_the_task(split):
    X, y, _, _ = split
    tasks = [Task("reg", "regression"), Task("bin", "binary", depth=1), Task("multi", "multiclass")]
    est = MultiTaskNetEstimator(tasks=tasks, architecture="mmoe", max_epochs=1, **PARAMS)
    with pytest.raises(ValueError, match="Task 'bin' has depth=1"):
        est.fit(X, y)
    est = MultiTaskNetEstimator(tasks=tasks, architecture="hard", max_epochs=1, **PARAMS)
    with pytest.raises(ValueError, match="Task 'bin' has depth=1, but HardSharing's trunk has 0"):
        est.set_params(hidden_layer_sizes=()).fit(X, y)


@pytest.mark.parametrize("name", [name for name in ALL if name != "hard"])
def test_sklearn_estimator_checks(name):
    """scikit-learn's checks pass with each architecture (same expected failures as 'hard')."""
    from test_common import EXPECTED_FAILED_CHECKS

    est = MultiTaskNetEstimator(
        architecture=ALL[name], hidden_layer_sizes=(8,), max_epochs=3, random_state=0
    )
    results = check_estimator(est, on_fail=None, expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == [], failed
