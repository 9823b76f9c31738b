"""Per-task options: losses, class weights, metrics, ordinal tasks, quantiles (issue 14)."""

import os
import pickle

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.model_selection import GridSearchCV
from sklearn.utils.class_weight import compute_class_weight

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._kinds import KIND_CLASSES, kind_of
from sklearn_mtl._task_losses import (
    GammaDeviance,
    Huber,
    OrdinalLogLoss,
    Pinball,
    PoissonDeviance,
    QuantileSetLoss,
    increasing_quantiles,
    ordinal_log_proba,
)
from sklearn_mtl.metrics import EncodedScorer, task_score

pytestmark = pytest.mark.filterwarnings("ignore:max_epochs=.* ran out")

FAST = {"hidden_layer_sizes": (16,), "max_epochs": 15, "batch_size": 64, "lr": 0.01}


def squared_error(output, target, mask):
    """A module-level callable loss (picklable): the squared error per row."""
    return (output[:, 0] - target[:, 0]) ** 2


def counts_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, rng.poisson(np.exp(0.6 * X[:, 0] + 0.3)).astype(float)


def ordered_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    score = X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n)
    return X, np.digitize(score, [-1.0, -0.3, 0.3, 1.0]) + 3  # grades 3 .. 7


# -- validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "regression", "loss": "hinge"}, "unknown loss 'hinge'"),
        ({"kind": "binary", "loss": "poisson"}, "its loss is 'log_loss' or a callable"),
        ({"kind": "regression", "class_weight": "balanced"}, "classification tasks only"),
        ({"kind": "multilabel", "class_weight": "balanced"}, "not multilabel tasks"),
        ({"kind": "regression", "quantile": 0.3}, "goes with loss='quantile'"),
        ({"kind": "regression", "quantiles": (0.1, 0.9)}, "add 0.5, or set loss="),
        ({"kind": "regression", "quantiles": (0.5, 0.1)}, "strictly increasing"),
        ({"kind": "regression", "quantiles": (0.0, 0.5)}, r"numbers in \(0, 1\)"),
        ({"kind": "regression", "loss": "quantile", "quantile": 1.5}, r"in \(0, 1\)"),
        ({"kind": "regression", "huber_delta": -1.0}, "huber_delta must be a positive"),
        ({"kind": "regression", "metric": "roc_auc"}, "does not apply to task 't'"),
        ({"kind": "binary", "metric": "r2"}, "does not apply to task 't'"),
        ({"metric": "auc"}, "unknown metric 'auc'"),
        ({"kind": "binary", "class_weight": {1: -2.0}}, r"class_weight\[1\] must be"),
        ({"kind": "binary", "quantiles": (0.5,)}, "regression option"),
        ({"kind": "regression", "loss": squared_error, "quantiles": (0.5,)}, "callable loss"),
    ],
)
def test_options_that_do_not_fit_raise_naming_the_task(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Task("t", **kwargs)


def test_options_of_inferred_kinds_are_checked_at_fit():
    X, y = counts_data()
    est = MultiTaskNetEstimator(tasks=[Task("y", loss="poisson")], **FAST)
    with pytest.raises(ValueError, match=r"Task 'y' is a binary task: its loss is 'log_loss'"):
        est.fit(X, (y > 1).astype(int))


@pytest.mark.parametrize(
    "loss, y, match",
    [
        ("poisson", np.array([1.0, -1.0] * 30), "needs targets >= 0"),
        ("poisson", np.zeros(60), "needs targets >= 0 and not all 0"),
        ("gamma", np.array([1.0, 0.0] * 30), "needs targets > 0"),
    ],
)
def test_invalid_targets_for_log_link_losses_raise(loss, y, match):
    X = np.random.default_rng(0).normal(size=(60, 2))
    est = MultiTaskNetEstimator(tasks=[Task("counts", "regression", loss=loss)], **FAST)
    with pytest.raises(ValueError, match=f"Task 'counts' has loss='{loss}', which {match}"):
        est.fit(X, y)


def test_class_weight_with_an_unknown_label_raises():
    X, y = ordered_data()
    est = MultiTaskNetEstimator(tasks=[Task("g", "multiclass", class_weight={99: 2.0})], **FAST)
    with pytest.raises(ValueError, match="class_weight names the label 99"):
        est.fit(X, y)


def test_user_class_weight_dict_is_copied():
    weights = {1: 2.0}
    task = Task("t", "binary", class_weight=weights)
    weights[0] = 5.0
    assert task.class_weight == {1: 2.0}


# -- loss values against their formulas ---------------------------------------------------
def test_loss_values_match_their_definitions():
    rng = np.random.default_rng(0)
    output = torch.tensor(rng.normal(size=(50, 1)))
    target = torch.tensor(rng.gamma(2.0, size=(50, 1)))
    o, t = output.numpy(), target.numpy()
    residual = t - o
    huber = np.where(np.abs(residual) <= 0.7, 0.5 * residual**2, 0.7 * (np.abs(residual) - 0.35))
    np.testing.assert_allclose(Huber(0.7)(output, target, "none").numpy(), huber)
    pinball = skm.mean_pinball_loss(t, o, alpha=0.2)
    assert float(Pinball(0.2)(output, target, "mean")) == pytest.approx(pinball)
    # Poisson/gamma: loss(o) - loss(log t) is half the unit deviance of the mean exp(o)
    mu = np.exp(o)
    for loss, deviance in (
        (PoissonDeviance(), skm.mean_poisson_deviance),
        (GammaDeviance(), skm.mean_gamma_deviance),
    ):
        excess = loss(output, target, "none") - loss(torch.log(target), target, "none")
        assert 2 * float(excess.mean()) == pytest.approx(deviance(t.ravel(), mu.ravel()))


def test_quantile_outputs_never_cross_and_their_loss_is_the_mean_pinball():
    raw = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    quantiles = increasing_quantiles(raw)
    assert bool((quantiles.diff(dim=1) > 0).all())
    target = torch.randn(40, 1, generator=torch.Generator().manual_seed(1))
    levels = (0.1, 0.5, 0.9)
    expected = np.mean(
        [skm.mean_pinball_loss(target, quantiles[:, [j]], alpha=q) for j, q in enumerate(levels)]
    )
    assert float(QuantileSetLoss(levels, None)(raw, target, "mean")) == pytest.approx(expected)


def test_ordinal_probabilities_are_a_distribution_and_the_loss_is_their_nll():
    raw = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)) * 3
    proba = ordinal_log_proba(raw).exp()
    torch.testing.assert_close(proba.sum(dim=1), torch.ones(30, dtype=proba.dtype))
    assert bool((proba >= 0).all())
    # the cumulative P(y >= k) decrease with k
    at_least = 1 - proba.cumsum(dim=1)[:, :-1]
    assert bool((at_least.diff(dim=1) <= 1e-6).all())
    target = torch.randint(0, 5, (30, 1), generator=torch.Generator().manual_seed(1)).float()
    nll = -np.log(proba.numpy()[np.arange(30), target[:, 0].long().numpy()]).mean()
    assert float(OrdinalLogLoss()(raw, target, "mean")) == pytest.approx(nll, rel=1e-5)


def test_ordinal_raw_outputs_round_trip_through_probabilities():
    X, y = ordered_data(100)
    est = MultiTaskNetEstimator(tasks=[Task("g", "ordinal")], **FAST).fit(X, y)
    encoder = est.encoders_[0]
    proba = est.predict_proba(X)
    again = encoder.proba(encoder.kind_.raw_from_proba(encoder, proba))
    np.testing.assert_allclose(again, proba, atol=1e-6)


# -- behaviour of fitted models ----------------------------------------------------------
def constant_fit(y, **task_options):
    """Fit with uninformative X: the prediction is the loss's best constant."""
    X = np.zeros((len(y), 1))
    est = MultiTaskNetEstimator(
        tasks=[Task("y", "regression", **task_options)],
        hidden_layer_sizes=(4,),
        max_epochs=300,
        batch_size=len(y),
        lr=0.05,
        alpha=0.0,
        random_state=0,
        early_stopping=False,  # trained to the loss's optimum on all rows
    )
    return est.fit(X, y)


def test_each_loss_predicts_its_own_best_constant():
    y = np.random.default_rng(0).exponential(2.0, size=400)
    predictions = {
        name: float(constant_fit(y, **options).predict(np.zeros((1, 1)))[0])
        for name, options in {
            "squared_error": {},
            "absolute_error": {"loss": "absolute_error"},
            "q90": {"loss": "quantile", "quantile": 0.9},
            "poisson": {"loss": "poisson"},
            "gamma": {"loss": "gamma"},
        }.items()
    }
    assert predictions["squared_error"] == pytest.approx(y.mean(), rel=0.03)
    assert predictions["poisson"] == pytest.approx(y.mean(), rel=0.03)
    assert predictions["gamma"] == pytest.approx(y.mean(), rel=0.03)
    assert predictions["absolute_error"] == pytest.approx(np.median(y), rel=0.05)
    assert predictions["q90"] == pytest.approx(np.quantile(y, 0.9), rel=0.05)


def test_log_link_predictions_are_positive():
    X, y = counts_data()
    est = MultiTaskNetEstimator(tasks=[Task("y", "regression", loss="poisson")], **FAST)
    est.fit(X, y)
    assert (est.predict(X * 5) > 0).all()
    assert est.score_tasks(X, y, metrics={"y": "neg_mean_poisson_deviance"})["y"] < 0


def test_quantiles_predict_the_median_and_cover_the_band():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 2))
    y = X[:, 0] + rng.normal(size=1500)
    task = Task("y", "regression", quantiles=(0.1, 0.5, 0.9))
    est = MultiTaskNetEstimator(tasks=[task], **{**FAST, "max_epochs": 40}).fit(X, y)
    bands = est.predict_quantiles(X)["y"]
    assert bands.shape == (1500, 3) and (np.diff(bands, axis=1) > 0).all()
    np.testing.assert_allclose(est.predict(X), bands[:, 1])
    covered = np.mean((y >= bands[:, 0]) & (y <= bands[:, 2]))
    assert 0.72 < covered < 0.88  # nominal 0.8


def test_quantiles_with_a_loss_keep_a_point_output():
    X, y = counts_data()
    task = Task("y", "regression", loss="squared_error", quantiles=(0.1, 0.9))
    est = MultiTaskNetEstimator(tasks=[task], **FAST).fit(X, y)
    assert est.encoders_[0].n_outputs == 3
    raw = est._outputs(X)[0]
    np.testing.assert_allclose(est.predict(X), est.encoders_[0].decode(raw))
    assert est.predict_quantiles(X)["y"].shape == (len(X), 2)
    with pytest.raises(ValueError, match="No task of this model predicts quantiles"):
        MultiTaskNetEstimator(**FAST).fit(X, y).predict_quantiles(X)


def test_ordinal_task_predicts_labels_and_probabilities():
    X, y = ordered_data()
    est = MultiTaskNetEstimator(tasks=[Task("g", "ordinal")], **{**FAST, "max_epochs": 40})
    est.fit(X, y)
    assert est.classes_.tolist() == [3, 4, 5, 6, 7]
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, y) > 0.5  # five classes: chance is about 0.2
    assert skm.mean_absolute_error(y, est.predict(X)) < 0.6


def test_balanced_class_weight_matches_scikit_learn():
    X, y = ordered_data()
    est = MultiTaskNetEstimator(
        tasks=[Task("g", "multiclass", class_weight="balanced")], **{**FAST, "max_epochs": 1}
    ).fit(X, y)
    expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(est.encoders_[0].class_weight_, expected)


def test_class_weight_equals_the_same_sample_weight():
    """Weighing class 1 by 3 is the same fit as a sample weight of 3 on its rows."""
    X, y = counts_data()
    y = (y > 1).astype(int)
    params = {**FAST, "max_epochs": 5, "random_state": 0}
    weighted = MultiTaskNetEstimator(
        tasks=[Task("b", "binary", class_weight={1: 3.0})], **params
    ).fit(X, y)
    rows = MultiTaskNetEstimator(tasks=[Task("b", "binary")], **params).fit(
        X, y, sample_weight=np.where(y == 1, 3.0, 1.0)
    )
    np.testing.assert_allclose(weighted.predict_proba(X), rows.predict_proba(X), atol=1e-5)
    both = MultiTaskNetEstimator(tasks=[Task("b", "binary", class_weight={1: 3.0})], **params)
    both.fit(X, y, sample_weight=np.full(len(y), 2.0))  # multiplied: the same weighted mean
    np.testing.assert_allclose(both.predict_proba(X), rows.predict_proba(X), atol=1e-5)


def test_class_weight_raises_the_recall_of_the_rare_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=600) > 1.6).astype(int)  # about 7 % positive
    params = {**FAST, "max_epochs": 20, "random_state": 0}
    plain = MultiTaskNetEstimator(tasks=[Task("b", "binary")], **params).fit(X, y)
    balanced = MultiTaskNetEstimator(
        tasks=[Task("b", "binary", class_weight="balanced")], **params
    ).fit(X, y)
    assert skm.recall_score(y, balanced.predict(X)) > skm.recall_score(y, plain.predict(X))


def test_callable_loss_equals_the_builtin_loss():
    X, y = counts_data()
    params = {**FAST, "max_epochs": 5, "random_state": 0}
    builtin = MultiTaskNetEstimator(tasks=[Task("y", "regression")], **params).fit(X, y)
    custom = MultiTaskNetEstimator(tasks=[Task("y", "regression", loss=squared_error)], **params)
    custom.fit(X, y)
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X), rtol=1e-5, atol=1e-6)
    y_missing = y.copy()
    y_missing[::3] = np.nan  # masked rows never reach the loss's result
    custom.fit(X, y_missing)
    assert np.isfinite(custom.predict(X)).all()


def test_callable_loss_with_a_wrong_shape_raises():
    X, y = counts_data()
    task = Task("y", "regression", loss=lambda output, target, mask: output.sum())
    with pytest.raises(ValueError, match="The loss of task 'y' returned shape"):
        MultiTaskNetEstimator(tasks=[task], **FAST).fit(X, y)


# -- metrics -----------------------------------------------------------------------------
def test_task_metric_is_used_by_score_history_and_early_stopping():
    X, y = counts_data()
    y = np.column_stack([y, (y > 1).astype(int)])
    tasks = [
        Task("count", "regression", metric="neg_mean_absolute_error"),
        Task("flag", "binary", metric="roc_auc"),
    ]
    est = MultiTaskNetEstimator(tasks=tasks, early_stopping=True, n_iter_no_change=50, **FAST).fit(
        X, y
    )
    scores = est.score_tasks(X, y)
    mae = -skm.mean_absolute_error(y[:, 0], est.predict(X)[:, 0])
    auc = skm.roc_auc_score(y[:, 1], est.predict_proba(X)[0][:, 1])
    assert scores == pytest.approx({"count": mae, "flag": auc})
    assert est.score(X, y) == pytest.approx((mae + auc) / 2)
    last = est.history_[-1]
    assert last["valid_score_count"] < 0 and 0.5 < last["valid_score_flag"] <= 1.0
    assert last["valid_score"] == pytest.approx(
        (last["valid_score_count"] + last["valid_score_flag"]) / 2
    )


def test_epoch_scorer_agrees_with_task_score():
    X, y = counts_data()
    y = (y > 1).astype(int)
    est = MultiTaskNetEstimator(tasks=[Task("b", "binary")], **FAST).fit(X, y)
    encoder = est.encoders_[0]
    from sklearn_mtl._targets import as_target_table

    table = as_target_table(y)
    raw = est._outputs(X)[0]
    for metric in ("roc_auc", "balanced_accuracy", "f1", "neg_log_loss"):
        scorer = EncodedScorer(encoder, metric)
        expected = task_score(encoder, table, raw, metric)
        assert scorer(raw, encoder.encode(table), None) == pytest.approx(expected)


# -- persistence and model selection -------------------------------------------------------
def options_model():
    X, counts = counts_data(200)
    _, grades = ordered_data(200)
    y = np.column_stack([counts, grades, counts + 0.5, counts > 1]).astype(float)
    tasks = [
        Task("counts", "regression", loss="poisson", metric="neg_mean_poisson_deviance"),
        Task("grade", "ordinal", class_weight="balanced"),
        Task("level", "regression", quantiles=(0.1, 0.5, 0.9), loss="huber", huber_delta=0.5),
        Task("flag", "binary", class_weight={1.0: 2.0}, metric="roc_auc"),
    ]
    return MultiTaskNetEstimator(tasks=tasks, **FAST).fit(X, y), X


def test_options_survive_save_load_and_pickle(tmp_path):
    est, X = options_model()
    path = os.path.join(tmp_path, "model.mtl")
    est.save(path)
    for again in (MultiTaskNetEstimator.load(path), pickle.loads(pickle.dumps(est))):
        assert again.tasks_ == est.tasks_
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
        for a, b in zip(again.predict_proba(X), est.predict_proba(X), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(
            again.predict_quantiles(X)["level"], est.predict_quantiles(X)["level"]
        )
        for a, b in zip(again.encoders_, est.encoders_, strict=True):
            if b.class_weight_ is None:
                assert a.class_weight_ is None
            else:
                np.testing.assert_array_equal(a.class_weight_, b.class_weight_)


def test_callable_loss_pickles_but_cannot_be_saved_safely(tmp_path):
    X, y = counts_data(100)
    est = MultiTaskNetEstimator(tasks=[Task("y", "regression", loss=squared_error)], **FAST)
    est.fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    with pytest.raises(TypeError, match=r"task 'y' has a callable loss \(squared_error\)"):
        est.save(os.path.join(tmp_path, "model.mtl"))


def test_grid_search_over_tasks():
    X, y = counts_data(200)
    grid = GridSearchCV(
        MultiTaskNetEstimator(**FAST),
        {
            "tasks": [
                [Task("y", "regression")],
                [Task("y", "regression", loss="poisson")],
                [Task("y", "regression", loss="absolute_error")],
            ]
        },
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 3
    assert grid.best_estimator_.tasks_[0].loss == grid.best_params_["tasks"][0].loss


def test_every_kind_has_one_registered_class():
    assert list(KIND_CLASSES) == ["regression", "binary", "multiclass", "multilabel", "ordinal"]
    for name, cls in KIND_CLASSES.items():
        kind = kind_of(Task("t", name))
        assert isinstance(kind, cls) and kind.name == name
        assert kind.default_metric
