"""TaskOffsets' per-task slopes (``task_slopes``) for tasks on disjoint rows (issue 18)."""

import numpy as np
import pytest
import torch

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec, TaskOffsets

SMALL = {"hidden_layer_sizes": (8,), "max_epochs": 4, "batch_size": 32, "random_state": 0}


def core(estimator):
    """The architecture's module, inside the input encoding layer and the recipe's
    wrapper (numeric embedding) when there are."""
    return estimator.net_.module_.unwrap()[0]


def slopes_data(n_tasks=6, rows=40, seed=0):
    """Tasks on disjoint rows whose slopes differ: a shared slope and one of each task's own."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_tasks * rows, 3))
    task = np.repeat(np.arange(n_tasks), rows)
    fixed = np.random.default_rng(7)  # the same tasks for every seed
    own = fixed.normal(size=(n_tasks, 3))
    y = np.full((len(X), n_tasks), np.nan)
    y[np.arange(len(X)), task] = np.einsum("ij,ij->i", X, [1.0, -1.0, 0.5] + own[task])
    return X, y, task


def test_task_offsets_slopes_start_at_zero_and_belong_to_their_task():
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 2)]
    config = NetworkConfig(hidden_layer_sizes=(8,))
    torch.manual_seed(0)
    with_slopes = TaskOffsets(task_slopes=True).build(4, tasks, config)
    torch.manual_seed(0)
    without = TaskOffsets(task_slopes=False).build(4, tasks, config)
    assert with_slopes.heads_read_input and not without.heads_read_input
    X = torch.randn(5, 4)
    for name in ("a", "b"):  # zero slopes: the same outputs as without them
        torch.testing.assert_close(with_slopes(X)[name], without(X)[name])
    # the slopes are no shared parameter (gradient weighting leaves them alone); a
    # task's loss reaches its scale, shift and the slopes layer
    shared = {id(p) for p in with_slopes.shared_parameters()}
    slopes = {id(p) for p in with_slopes.slopes.parameters()}
    assert shared.isdisjoint(slopes)
    assert slopes <= {id(p) for p in with_slopes.task_parameters("b", X)}
    with_slopes.slopes.weight.data[0] = 1.0  # task a's column only
    torch.testing.assert_close(with_slopes(X)["b"], without(X)["b"])
    assert not torch.allclose(with_slopes(X)["a"], without(X)["a"])


def test_task_slopes_fit_tasks_whose_slopes_differ(tmp_path):
    """Tasks on disjoint rows with slopes of their own: TaskOffsets with task slopes
    fits them better than with a scale and a shift alone."""
    X, y, _ = slopes_data(n_tasks=6, rows=40)
    X_test, y_test, task_test = slopes_data(n_tasks=6, rows=40, seed=1)
    truth = y_test[np.arange(len(X_test)), task_test]
    scores = {}
    for slopes in (True, False):
        est = MultiTaskNetEstimator(
            architecture=TaskOffsets(task_slopes=slopes),
            hidden_layer_sizes=(16,),
            max_epochs=40,
            batch_size=32,
            lr=1e-2,
            early_stopping=False,
            numeric_embedding=None,
            random_state=0,
        ).fit(X, y)
        own = np.asarray(est.predict(X_test))[np.arange(len(X_test)), task_test]
        scores[slopes] = 1 - np.mean((own - truth) ** 2) / np.var(truth)
        if slopes:  # the slopes are saved and loaded with the network
            est.save(tmp_path / "slopes.mtl")
            loaded = MultiTaskNetEstimator.load(tmp_path / "slopes.mtl")
            np.testing.assert_array_equal(loaded.predict(X_test), est.predict(X_test))
    assert scores[True] > 0.9
    assert scores[True] > scores[False] + 0.05


def test_auto_picks_task_slopes_and_a_smaller_step_for_regression_on_disjoint_rows(tmp_path):
    """architecture="auto" gives regression tasks on disjoint rows their own slopes, and
    lr="auto" trains them at 3e-4; classification tasks on disjoint rows keep two
    numbers per task and 1e-3; an explicit lr or architecture is kept."""
    X, y, _ = slopes_data(n_tasks=4, rows=20)
    est = MultiTaskNetEstimator(**SMALL).fit(X, y)
    assert core(est).slopes is not None
    assert est.get_params()["lr"] == "auto"
    assert [group["lr"] for group in est.net_.optimizer_.param_groups] == [3e-4, 3e-4]
    path = tmp_path / "model.mtl"
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    assert core(loaded).slopes is not None
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))

    explicit = MultiTaskNetEstimator(**SMALL, lr=1e-3).fit(X, y)
    assert core(explicit).slopes is not None
    assert explicit.net_.optimizer_.param_groups[0]["lr"] == 1e-3
    plain = MultiTaskNetEstimator(**SMALL, architecture="task_offsets").fit(X, y)
    assert core(plain).slopes is None
    assert plain.net_.optimizer_.param_groups[0]["lr"] == 1e-3

    labels = np.where(np.isnan(y), np.nan, (y > 0).astype(float))
    tasks = {f"t{i}": "binary" for i in range(4)}
    classes = MultiTaskNetEstimator(**SMALL, tasks=tasks).fit(X, labels)
    assert core(classes).slopes is None
    assert classes.net_.optimizer_.param_groups[0]["lr"] == 1e-3


def test_a_file_saved_before_auto_task_slopes_loads_without_them(tmp_path, monkeypatch):
    """Files saved before architecture="auto" gave regression tasks slopes (no
    ``_disjoint_slopes`` attribute, lr=1e-3) load as the plain task offsets they hold."""
    from sklearn_mtl._estimator_build import _NetBuilding

    X, y, _ = slopes_data(n_tasks=4, rows=20)
    with monkeypatch.context() as patch:  # the code of that time
        patch.setattr(_NetBuilding, "_offsets_with_slopes", lambda self: False)
        old = MultiTaskNetEstimator(**SMALL, lr=1e-3).fit(X, y)
        del old._disjoint_slopes
        path = tmp_path / "old.mtl"
        old.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    assert core(loaded).slopes is None
    np.testing.assert_array_equal(loaded.predict(X), old.predict(X))


def test_lr_must_be_positive_or_auto():
    X, y, _ = slopes_data(n_tasks=2, rows=10)
    for bad in ("fast", 0.0):
        with pytest.raises(ValueError, match="'lr' parameter"):
            MultiTaskNetEstimator(**SMALL, lr=bad).fit(X, y)


def test_task_slopes_must_be_a_bool():
    with pytest.raises(ValueError, match="task_slopes"):
        TaskOffsets(task_slopes="yes").build(
            3, [TaskHeadSpec("a", 1)], NetworkConfig(hidden_layer_sizes=(4,))
        )
