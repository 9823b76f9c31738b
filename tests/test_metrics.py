"""Per-task scores agree with scikit-learn's metrics on the labelled rows."""

import numpy as np
import pytest
from conftest import make_mixed
from sklearn import metrics as skm

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.metrics import METRICS, make_task_scorer


@pytest.fixture(scope="module")
def fitted():
    X, y = make_mixed(missing=0.15)
    rng = np.random.default_rng(1)
    labels = (X[:, 3:6] > 0).astype(float)
    labels[rng.random(labels.shape) < 0.1] = np.nan
    y = np.column_stack([y, labels]).astype(object)
    tasks = [
        Task("amount"),
        Task("bought"),
        Task("level"),
        Task("prefs", "multilabel", columns=[3, 4, 5]),
    ]
    est = MultiTaskNetEstimator(
        tasks=tasks, hidden_layer_sizes=(16,), max_epochs=20, lr=0.01, random_state=0
    ).fit(X, y)
    return est, X, y


def labelled(y, column):
    values = y[:, column]
    return np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) for v in values])


@pytest.mark.parametrize(
    "task, column, metric, reference",
    [
        ("amount", 0, "r2", skm.r2_score),
        ("amount", 0, "neg_mean_squared_error", lambda t, p: -skm.mean_squared_error(t, p)),
        ("bought", 1, "accuracy", skm.accuracy_score),
        ("bought", 1, "f1", lambda t, p: skm.f1_score(t, p, pos_label="yes")),
        ("level", 2, "balanced_accuracy", skm.balanced_accuracy_score),
        ("level", 2, "f1_macro", lambda t, p: skm.f1_score(t, p, average="macro")),
    ],
)
def test_prediction_metrics_match_sklearn(fitted, task, column, metric, reference):
    est, X, y = fitted
    rows = labelled(y, column)
    truth = y[rows, column]
    prediction = est.predict(X[rows])[:, column]
    if task == "amount":
        truth, prediction = truth.astype(float), prediction.astype(float)
    if task == "level":
        truth, prediction = truth.astype(int), prediction.astype(int)
    expected = reference(truth, prediction)
    assert make_task_scorer(task, metric)(est, X, y) == pytest.approx(expected)


def test_probability_metrics_match_sklearn(fitted):
    est, X, y = fitted
    rows = labelled(y, 1)
    proba = est.predict_proba(X[rows])[0]
    expected = skm.roc_auc_score(y[rows, 1] == "yes", proba[:, 1])
    assert make_task_scorer("bought", "roc_auc")(est, X, y) == pytest.approx(expected)
    rows = labelled(y, 2)
    proba = est.predict_proba(X[rows])[1]
    expected = -skm.log_loss(y[rows, 2].astype(int), proba, labels=[0, 1, 2])
    assert make_task_scorer("level", "neg_log_loss")(est, X, y) == pytest.approx(expected)


def test_multilabel_hamming_score_counts_labelled_entries_only(fitted):
    est, X, y = fitted
    truth = y[:, 3:6].astype(float)
    prediction = est.predict(X)[:, 3:6].astype(float)
    present = ~np.isnan(truth)
    expected = (prediction[present] == truth[present]).mean()
    assert est.score_tasks(X, y)["prefs"] == pytest.approx(expected)
    complete = present.all(axis=1)
    expected = skm.f1_score(truth[complete], prediction[complete], average="samples")
    assert make_task_scorer("prefs", "f1_samples")(est, X, y) == pytest.approx(expected)


def test_every_metric_runs_on_every_kind_it_declares(fitted):
    est, X, y = fitted
    kinds = {encoder.task_.name: encoder.kind_ for encoder in est.encoders_}
    # deviances and log errors need positive targets: "amount" has negative ones
    positive_only = {
        "neg_mean_poisson_deviance",
        "neg_mean_gamma_deviance",
        "neg_mean_squared_log_error",
    }
    for metric, spec in METRICS.items():
        for task, kind in kinds.items():
            if spec.applies_to(kind) and metric not in positive_only:
                assert np.isfinite(make_task_scorer(task, metric)(est, X, y)), (metric, task)


def test_metric_errors_name_task_and_kind(fitted):
    est, X, y = fitted
    with pytest.raises(ValueError, match="Metric 'roc_auc' does not apply to task 'amount'"):
        make_task_scorer("amount", "roc_auc")(est, X, y)
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        make_task_scorer("amount", "auc")
    with pytest.raises(ValueError, match=r"Unknown task\(s\) \['nope'\]"):
        make_task_scorer("nope")(est, X, y)
    with pytest.raises(TypeError, match="not a fitted MultiTaskNetEstimator"):
        make_task_scorer("amount")(object(), X, y)
