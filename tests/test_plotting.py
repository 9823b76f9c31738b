"""sklearn_mtl.plotting: every function draws and returns its Axes (Agg backend)."""

import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import make_mixed

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.plotting import (
    plot_learning_curves,
    plot_single_task_comparison,
    plot_task_affinity,
    plot_task_weights,
)

FAST = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 6,
    "batch_size": 64,
    "lr": 0.01,
    "random_state": 0,
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    X, y = make_mixed(n_samples=150)
    return MultiTaskNetEstimator(
        early_stopping=True, loss_weighting="dwa", record_task_affinity=2, **FAST
    ).fit(X, y)


def test_learning_curves(fitted):
    ax = plot_learning_curves(fitted)
    assert isinstance(ax, Axes)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == [
        "task0 (train)",
        "task0 (valid)",
        "task1 (train)",
        "task1 (valid)",
        "task2 (train)",
        "task2 (valid)",
        f"best epoch ({fitted.best_epoch_}), kept",
    ]
    np.testing.assert_allclose(
        ax.get_lines()[0].get_ydata(), fitted.history_[:, "train_loss_task0"]
    )
    assert ax.get_lines()[1].get_linestyle() == "--"
    _, given = plt.subplots()
    ax = plot_learning_curves(fitted, tasks=["task1"], kind="score", ax=given)
    assert ax is given and len(ax.get_lines()) == 3
    assert ax.get_lines()[-1].get_xdata()[0] == fitted.best_epoch_
    with pytest.raises(ValueError, match="Unknown task"):
        plot_learning_curves(fitted, tasks=["nope"])
    with pytest.raises(ValueError, match="kind must be"):
        plot_learning_curves(fitted, kind="accuracy")


def test_learning_curves_through_a_pipeline():
    X, y = make_mixed(n_samples=80)
    pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator(**FAST)).fit(X, y)
    assert len(plot_learning_curves(pipe).get_lines()) == 3  # no validation curves
    with pytest.raises(ValueError, match="fitted MultiTaskNetEstimator"):
        plot_learning_curves(StandardScaler())


def test_task_weights(fitted):
    ax = plot_task_weights(fitted)
    assert [line.get_label() for line in ax.get_lines()] == ["task0", "task1", "task2"]
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), fitted.history_[:, "weight_task2"])


def test_task_affinity_heatmap(fitted):
    ax = plot_task_affinity(fitted)  # the estimator's task_affinity_
    assert [t.get_text() for t in ax.get_yticklabels()] == ["task0", "task1", "task2"]
    np.testing.assert_allclose(ax.images[0].get_array(), fitted.task_affinity_.to_numpy())
    assert len(ax.texts) == 9
    ax = plot_task_affinity(np.array([[1.0, np.nan], [-0.5, 1.0]]), annotate=True)
    assert len(ax.texts) == 3  # NaN cells are left blank
    assert ax.images[0].get_clim() == (-1.0, 1.0)  # centred on 0
    with pytest.raises(ValueError, match="square"):
        plot_task_affinity(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="task names"):
        plot_task_affinity(np.eye(2), task_names=["a"])


def test_score_curves_name_each_task_metric(fitted):
    ax = plot_learning_curves(fitted, kind="score")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:6] == [
        "task0, r2 (train)",
        "task0, r2 (valid)",
        "task1, accuracy (train)",
        "task1, accuracy (valid)",
        "task2, accuracy (train)",
        "task2, accuracy (valid)",
    ]
    assert "greater is better" in ax.get_ylabel()
    # a bare history has no tasks to name the metrics of
    labels = [line.get_label() for line in plot_learning_curves(fitted.history_).get_lines()]
    assert labels[0] == "task0 (train)"


def test_task_affinity_of_a_model_that_recorded_none_is_a_clear_error():
    X, y = make_mixed(n_samples=60)
    est = MultiTaskNetEstimator(**{**FAST, "max_epochs": 2})
    with pytest.raises(ValueError, match="unfitted MultiTaskNetEstimator; fit it with record_"):
        plot_task_affinity(est)
    est.fit(X, y)
    with pytest.raises(ValueError, match="recorded no task affinity: it has neither task_aff"):
        plot_task_affinity(est)
    with pytest.raises(ValueError, match="record_task_affinity=True"):
        plot_task_affinity(make_pipeline(StandardScaler(), est).fit(X, y))


def _report():
    return pd.DataFrame(
        {
            "metric": ["r2", "accuracy"],
            "multi_task": [0.8, 0.9],
            "multi_task_se": [0.02, 0.01],
            "single_task": [0.7, 0.92],
            "single_task_se": [0.03, 0.01],
            "baseline": [0.75, 0.85],
            "baseline_se": [0.01, 0.02],
            "difference": [0.1, -0.02],
            "difference_se": [0.02, 0.01],
        },
        index=pd.Index(["a", "b"], name="task"),
    )


def test_single_task_comparison_bars():
    ax = plot_single_task_comparison(_report())
    assert len(ax.patches) == 6  # 2 tasks x (multi, single, baseline)
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == [0.7, 0.75, 0.8, 0.85, 0.9, 0.92]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "multi-task",
        "single-task",
        "baseline: user model",
    ]
    report = _report()
    report.attrs["baseline_name"] = "HistGradientBoosting"
    ax = plot_single_task_comparison(report)
    assert ax.get_legend().get_texts()[2].get_text() == "baseline: HistGradientBoosting"
    # without a test's verdict, no bar is painted as a gain or as negative transfer
    ax = plot_single_task_comparison(_report(), relative=True)
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors == [matplotlib.colors.to_hex("tab:grey")] * 2
    tested = _report().assign(significant=[True, False], negative_transfer=[False, False])
    ax = plot_single_task_comparison(tested, relative=True)
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors == [matplotlib.colors.to_hex("tab:green"), matplotlib.colors.to_hex("tab:grey")]
    tested = tested.assign(significant=[True, True], negative_transfer=[False, True])
    ax = plot_single_task_comparison(tested, relative=True)
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors == [matplotlib.colors.to_hex("tab:green"), matplotlib.colors.to_hex("tab:red")]
    with pytest.raises(TypeError, match="compare_single_task"):
        plot_single_task_comparison([1, 2])


def test_missing_matplotlib_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_task_affinity(np.eye(2))
