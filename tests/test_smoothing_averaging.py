"""label_smoothing and weight_averaging (issue 18): the losses, the averaged weights,
their parameters (checks, clone, grid search, save/load)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._averaging import WeightAveraging, average_state
from sklearn_mtl._kinds import kind_of
from sklearn_mtl._task_losses import (
    OrdinalLogLoss,
    SmoothedBinaryCrossEntropy,
    SmoothedCrossEntropy,
    ordinal_log_proba,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 6,
    "batch_size": 32,
    "random_state": 0,
    "numeric_embedding": None,
}
TASKS = {"a": "binary", "b": "multiclass", "c": "regression"}


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.column_stack(
        [X[:, 0] > 0, (X[:, 1] > 0).astype(int) + (X[:, 2] > 0), X @ [1.0, -1.0, 0.5]]
    )
    return X, y


# -- label smoothing: the losses -------------------------------------------------------


def test_smoothed_cross_entropy_is_torchs():
    torch.manual_seed(0)
    logits, target = torch.randn(7, 4), torch.randint(0, 4, (7, 1)).float()
    for eps in (0.0, 0.1, 0.5):
        expected = F.cross_entropy(logits, target[:, 0].long(), label_smoothing=eps)
        loss = SmoothedCrossEntropy(eps)
        assert torch.allclose(loss(logits, target, "mean"), expected)
        assert loss(logits, target, "none").shape == (7, 1)


def test_smoothed_binary_cross_entropy_is_two_class_smoothing():
    # a logit z is the two-class softmax of (0, z): its smoothed BCE is torch's
    # cross_entropy with label_smoothing on those two logits
    torch.manual_seed(0)
    z, y = torch.randn(9, 1), torch.randint(0, 2, (9, 1)).float()
    two_class = torch.cat([torch.zeros_like(z), z], dim=1)
    expected = F.cross_entropy(two_class, y[:, 0].long(), label_smoothing=0.2, reduction="none")
    got = SmoothedBinaryCrossEntropy(0.2)(z, y, "none")
    assert torch.allclose(got[:, 0], expected, atol=1e-6)


def test_smoothed_ordinal_loss_mixes_the_uniform_distribution():
    torch.manual_seed(0)
    raw, target = torch.randn(6, 3), torch.randint(0, 4, (6, 1)).float()
    log_proba = ordinal_log_proba(raw)
    nll = -log_proba.gather(1, target.long())
    expected = 0.7 * nll + 0.3 * -log_proba.mean(dim=1, keepdim=True)
    assert torch.allclose(OrdinalLogLoss(0.3)(raw, target, "none"), expected)
    assert torch.equal(OrdinalLogLoss()(raw, target, "none"), nll)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "ordinal"])
def test_zero_smoothing_is_todays_loss_object(kind):
    plain = kind_of(Task("t", kind))
    assert plain.smoothed(0.0) is plain
    smoothed = plain.smoothed(0.1)
    assert smoothed is not plain and smoothed.label_smoothing == 0.1
    assert plain.label_smoothing == 0.0  # the copy, never the task's own kind object
    assert type(smoothed.loss()) is not type(plain.loss()) or kind == "ordinal"


def test_regression_and_callable_losses_are_not_smoothed():
    regression = kind_of(Task("r", "regression"))
    assert regression.smoothed(0.2) is regression

    def own(output, target, mask):
        return (output[:, 0] - target[:, 0]) ** 2

    custom = kind_of(Task("c", "binary", loss=own))
    assert custom.smoothed(0.2) is custom


def test_zero_smoothing_trains_exactly_as_before():
    X, y = data()
    before = MultiTaskNetEstimator(tasks=TASKS, **SMALL).fit(X, y)
    zero = MultiTaskNetEstimator(tasks=TASKS, label_smoothing=0.0, **SMALL).fit(X, y)
    np.testing.assert_array_equal(before.history_[:, "train_loss"], zero.history_[:, "train_loss"])
    for a, b in zip(before.predict_proba(X), zero.predict_proba(X), strict=True):
        np.testing.assert_array_equal(a, b)


def test_smoothing_changes_the_classification_losses_only():
    X, y = data()
    plain = MultiTaskNetEstimator(tasks=TASKS, **SMALL).fit(X, y)
    smooth = MultiTaskNetEstimator(tasks=TASKS, label_smoothing=0.2, **SMALL).fit(X, y)
    first = {
        name: (plain.history_[0, f"train_loss_{name}"], smooth.history_[0, f"train_loss_{name}"])
        for name in TASKS
    }
    # same initial weights: the first epoch's regression loss is the same, the cross-
    # entropies of the classification tasks are not
    assert first["c"][0] == pytest.approx(first["c"][1], rel=0.05)
    assert first["a"][0] != pytest.approx(first["a"][1], rel=1e-3)
    assert first["b"][0] != pytest.approx(first["b"][1], rel=1e-3)
    # smoothing keeps the probabilities away from 0 and 1
    criterion = smooth.net_.criterion_
    assert isinstance(criterion.losses[1], SmoothedCrossEntropy)
    assert isinstance(criterion.losses[0], SmoothedBinaryCrossEntropy)


def test_smoothed_binary_tasks_still_share_one_loss_call():
    X, y = data()
    y2 = np.column_stack([y[:, 0], X[:, 1] > 0])
    est = MultiTaskNetEstimator(tasks={"a": "binary", "b": "binary"}, label_smoothing=0.1, **SMALL)
    est.fit(X, y2)
    assert [group.names for group in est.net_.criterion_.groups] == [("a", "b")]


# -- weight averaging --------------------------------------------------------------------


def test_average_state_means_floats_and_keeps_the_last_counters():
    states = [
        {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)},
        {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(4)},
    ]
    averaged = average_state(states)
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0]))
    assert int(averaged["n"]) == 4


class Recorder(WeightAveraging):
    """Records every end-of-epoch state (to check the average against)."""

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        self.__dict__.setdefault("all_states", []).append(self.snapshots_[-1])


@pytest.mark.parametrize("early_stopping", [False, "refit"])
def test_predictions_use_the_average_of_the_last_epochs(early_stopping, monkeypatch):
    recorders = []

    class Tracking(Recorder):
        def __init__(self, n_epochs):
            super().__init__(n_epochs)
            recorders.append(self)

    monkeypatch.setattr("sklearn_mtl._estimator_build.WeightAveraging", Tracking)
    X, y = data()
    est = MultiTaskNetEstimator(
        tasks=TASKS, weight_averaging=3, early_stopping=early_stopping, **SMALL
    ).fit(X, y)
    final = recorders[-1]  # the refit's callback with "refit"
    assert final.n_averaged_ == 3 and len(final.snapshots_) == 0
    expected = average_state(final.all_states[-3:])
    state = est.net_.module_.state_dict()
    for key, value in expected.items():
        assert torch.allclose(state[key], value), key
    last = MultiTaskNetEstimator(tasks=TASKS, early_stopping=early_stopping, **SMALL).fit(X, y)
    assert not np.allclose(est.predict(X)[:, 2].astype(float), last.predict(X)[:, 2].astype(float))
    # without averaging the same fit ends on the last tracked state
    for key, value in last.net_.module_.state_dict().items():
        assert torch.allclose(value, final.all_states[-1][key]), key


def test_averaging_one_epoch_or_a_short_run_is_the_plain_fit():
    X, y = data()
    plain = MultiTaskNetEstimator(tasks=TASKS, early_stopping=False, **SMALL).fit(X, y)
    one = MultiTaskNetEstimator(tasks=TASKS, early_stopping=False, weight_averaging=1, **SMALL)
    np.testing.assert_array_equal(one.fit(X, y).predict(X), plain.predict(X))
    many = MultiTaskNetEstimator(
        tasks=TASKS, early_stopping=False, weight_averaging=50, **SMALL
    ).fit(X, y)  # a run of 6 epochs averages all 6
    callback = dict(many.net_.callbacks_)["weight_averaging"]
    assert callback.n_averaged_ == SMALL["max_epochs"]


def test_averaging_with_restored_best_epoch_is_refused():
    X, y = data()
    with pytest.raises(ValueError, match="weight_averaging"):
        MultiTaskNetEstimator(tasks=TASKS, early_stopping=True, weight_averaging=3, **SMALL).fit(
            X, y
        )


# -- the parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("label_smoothing", 1.0),
        ("label_smoothing", -0.1),
        ("label_smoothing", "0.1"),
        ("weight_averaging", 0),
        ("weight_averaging", 2.5),
        ("weight_averaging", "last"),
    ],
)
def test_bad_values_raise_naming_the_parameter(param, value):
    X, y = data()
    with pytest.raises(ValueError, match=param):
        MultiTaskNetEstimator(tasks=TASKS, **{**SMALL, param: value}).fit(X, y)


@pytest.mark.parametrize("safe", [True, False])
def test_save_load_round_trip(tmp_path, safe):
    X, y = data()
    est = MultiTaskNetEstimator(
        tasks=TASKS, label_smoothing=0.1, weight_averaging=3, early_stopping=False, **SMALL
    ).fit(X, y)
    path = tmp_path / "model.mtl"
    if safe:
        est.save(path)
        loaded = MultiTaskNetEstimator.load(path)
    else:
        import pickle

        loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    for a, b in zip(loaded.predict_proba(X), est.predict_proba(X), strict=True):
        np.testing.assert_allclose(a, b)
    assert loaded.get_params()["label_smoothing"] == 0.1
    assert loaded.get_params()["weight_averaging"] == 3
    assert clone(est).get_params()["weight_averaging"] == 3


def test_grid_searchable():
    X, y = data()
    search = GridSearchCV(
        MultiTaskNetEstimator(tasks=TASKS, **{**SMALL, "max_epochs": 2}),
        {"label_smoothing": [0.0, 0.1], "weight_averaging": [None, 2]},
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
