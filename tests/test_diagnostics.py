"""Single-task baselines, Delta_m, task affinities, task groups, MTRL."""

import copy
import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mixed
from scipy import stats
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import MTRL, MultiTaskNetEstimator, Task
from sklearn_mtl.diagnostics import (
    compare_single_task,
    delta_m,
    suggest_task_groups,
    task_affinity,
)
from sklearn_mtl.diagnostics._groups import _group_score
from sklearn_mtl.diagnostics._statistics import paired as _paired

FAST = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 8,
    "batch_size": 64,
    "lr": 0.01,
    "random_state": 0,
    # the diagnostics, not the default recipe: one run of a plain network (and soft
    # sharing shares no parameter only without the recipe's shared input embedding)
    "early_stopping": False,
    "numeric_embedding": None,
}


@pytest.fixture(scope="module")
def mixed_report():
    X, y = make_mixed(n_samples=150)
    est = MultiTaskNetEstimator(**FAST)
    baseline = {
        "regression": DummyRegressor(),
        "binary": DummyClassifier(strategy="prior"),
        "multiclass": DummyClassifier(strategy="most_frequent"),
    }
    report = compare_single_task(
        est, X, y, cv=KFold(3), baseline=baseline, scoring={"task1": "roc_auc"}
    )
    return X, y, est, report


# -- compare_single_task -------------------------------------------------------------------
def test_report_columns_and_summary(mixed_report):
    _, _, _, report = mixed_report
    assert list(report.index) == ["task0", "task1", "task2"]
    assert report.index.name == "task"
    assert report["kind"].tolist() == ["regression", "binary", "multiclass"]
    assert report["metric"].tolist() == ["r2", "roc_auc", "accuracy"]
    for column in ("multi_task", "single_task", "baseline", "difference", "p_value"):
        assert np.isfinite(report[column]).all(), column
    np.testing.assert_allclose(report["difference"], report["multi_task"] - report["single_task"])
    assert (report["significant"] == (report["p_value"] < 0.05)).all()
    expected = (report["difference"] < 0) & report["significant"]
    assert (report["negative_transfer"] == expected).all()
    attrs = report.attrs
    assert attrs["n_splits"] == 3 and attrs["test"] == "ttest"
    assert attrs["baseline_name"] == "DummyRegressor / DummyClassifier"
    assert attrs["fold_scores"]["multi"].shape == (3, 3)
    assert attrs["delta_m"] == pytest.approx(
        delta_m(report["multi_task"].to_numpy(), report["single_task"].to_numpy())
    )
    assert attrs["delta_m"] == pytest.approx(report["relative_improvement"].mean())
    assert np.isfinite(attrs["delta_m_se"])


def test_fold_scores_match_manual_fits(mixed_report):
    """The report's numbers are those of the documented protocol, fold by fold."""
    X, y, est, report = mixed_report
    train, test = next(iter(KFold(3).split(X)))
    multi = clone(est).fit(X[train], y[train]).score_tasks(X[test], y[test])
    np.testing.assert_allclose(
        report.attrs["fold_scores"]["multi"][0, [0, 2]], [multi["task0"], multi["task2"]]
    )
    single = clone(est).set_params(tasks=[Task("task2", "multiclass", columns=[0])])
    single.fit(X[train], y[train][:, [2]])
    assert report.attrs["fold_scores"]["single"][0, 2] == pytest.approx(
        single.score_tasks(X[test], y[test][:, [2]])["task2"]
    )


def test_dummy_baselines_score_as_expected(mixed_report):
    X, y, _, report = mixed_report
    # a constant probability has no ranking ability: ROC AUC 0.5 in every fold
    np.testing.assert_allclose(report.attrs["fold_scores"]["baseline"][:, 1], 0.5)
    # the mean predictor has R² <= 0 on held-out rows
    assert (report.attrs["fold_scores"]["baseline"][:, 0] <= 0.0).all()
    # most frequent class of the training rows: its share among the labelled test rows
    train, test = next(iter(KFold(3).split(X)))
    labels_train = y[train, 2][~pd.isna(y[train, 2])].astype(float)
    labels_test = y[test, 2][~pd.isna(y[test, 2])].astype(float)
    values, counts = np.unique(labels_train, return_counts=True)
    expected = np.mean(labels_test == values[counts.argmax()])
    assert report.attrs["fold_scores"]["baseline"][0, 2] == pytest.approx(expected)
    assert (report["difference_baseline"] > 0).all()  # the network beats the dummies


def test_pipeline_dataframe_multilabel_groups_dict_output():
    X, y = make_mixed(n_samples=120, missing=0.0)
    Y = pd.DataFrame({"amount": y[:, 0].astype(float), "flag": y[:, 1]})
    Y["pref_a"] = (X[:, 0] > 0).astype(int)
    Y["pref_b"] = (X[:, 1] > 0).astype(int)
    tasks = [
        Task("amount"),
        Task("flag"),
        Task("prefs", "multilabel", columns=["pref_a", "pref_b"]),
    ]
    pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator(tasks=tasks, **FAST))
    groups = np.arange(len(Y)) % 6
    report = compare_single_task(
        pipe,
        pd.DataFrame(X),
        Y,
        cv=GroupKFold(3),
        groups=groups,
        as_frame=False,
        baseline={
            "prefs": DummyClassifier(),
            "amount": LinearRegression(),
            "flag": DummyClassifier(),
        },
        test="wilcoxon",
    )
    assert report["task"].tolist() == ["amount", "flag", "prefs"]
    assert report["kind"].tolist() == ["regression", "binary", "multilabel"]
    assert report["metric"][2] == "hamming_score"
    assert report["n_splits"] == 3 and report["test"] == "wilcoxon"
    assert report["baseline_name"] == "DummyClassifier / LinearRegression"
    assert np.isfinite(report["single_task"]).all()
    assert np.isfinite(report["baseline"]).all()
    assert report["baseline"][0] > 0.9  # a linear model on a near-linear target


def test_a_small_insignificant_loss_is_not_negative_transfer():
    """The issue's case: -0.0005 with p = 0.78 must not be flagged (nor painted red)."""
    from unittest import mock

    from sklearn_mtl.diagnostics import _single_task

    X, y = make_mixed(n_samples=60)
    fake = (np.array(-0.0005), np.array(0.01), np.array(0.78))
    with mock.patch.object(_single_task, "paired", return_value=fake):
        report = compare_single_task(
            MultiTaskNetEstimator(**{**FAST, "max_epochs": 2}), X, y, cv=KFold(2)
        )
    assert not report["negative_transfer"].any() and not report["significant"].any()
    assert report.attrs["baseline_name"] is None


def test_negative_transfer_is_flagged_for_a_bottleneck():
    """Two unrelated targets squeezed through one shared unit: sharing must hurt one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 2))
    y = np.column_stack([X[:, 0], X[:, 1]])
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(1,),
        activation="tanh",
        max_epochs=40,
        lr=0.03,
        batch_size=64,
        random_state=0,
    )
    report = compare_single_task(est, X, y, cv=3)
    assert report["negative_transfer"].any()
    assert report["difference"].min() < -0.2
    assert report.attrs["delta_m"] < 0


def test_parallel_jobs_give_the_same_report():
    X, y = make_mixed(n_samples=90)
    est = MultiTaskNetEstimator(**{**FAST, "max_epochs": 3})
    serial = compare_single_task(est, X, y, cv=2, n_jobs=1)
    # worker processes (loky): the threading backend would share torch's global random
    # state between concurrent fits, and they would not be reproducible
    parallel = compare_single_task(est, X, y, cv=2, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scoring": {"nope": "r2"}}, "unknown task"),
        ({"scoring": {"task0": "accuracy"}}, "does not apply to task 'task0'"),
        ({"test": "z"}, "test must be one of"),
        ({"alpha": 2}, "alpha must be in"),
        ({"baseline": DummyRegressor()}, "baseline for binary task 'task1' is a regressor"),
        ({"baseline": {"regression": DummyRegressor()}}, "no estimator for task 'task1'"),
    ],
)
def test_compare_single_task_errors(kwargs, match):
    X, y = make_mixed(n_samples=60)
    with pytest.raises(ValueError, match=match):
        compare_single_task(MultiTaskNetEstimator(**FAST), X, y, cv=2, **kwargs)


def test_paired_tests():
    a = np.array([0.8, 0.82, 0.79, 0.85, 0.81])
    b = np.array([0.78, 0.80, 0.80, 0.81, 0.79])
    mean, se, p = _paired(a, b, "ttest", 0.2)
    assert mean == pytest.approx((a - b).mean())
    assert se == pytest.approx((a - b).std(ddof=1) / np.sqrt(5))
    assert p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    _, _, corrected = _paired(a, b, "corrected_ttest", 0.2)
    assert corrected > p  # Nadeau-Bengio widens the variance
    _, _, wilcoxon = _paired(a, b, "wilcoxon", 0.2)
    assert wilcoxon == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert np.isnan(_paired(a[:1], b[:1], "ttest", 0.2)[2])


def test_delta_m():
    assert delta_m({"a": 0.9, "b": 0.5}, {"b": 0.5, "a": 0.8}) == pytest.approx(6.25)
    # lower-is-better metric: an error of 0.2 against 0.25 is a 20% improvement
    assert delta_m([0.2], [0.25], higher_is_better=False) == pytest.approx(20.0)
    # negated errors (higher is better, negative values) give the same number
    assert delta_m([-0.2], [-0.25]) == pytest.approx(20.0)
    assert delta_m([0.5, 0.7], [0.0, 0.7]) == pytest.approx(0.0)  # reference 0 left out
    with pytest.raises(ValueError, match="same tasks"):
        delta_m({"a": 1.0}, {"b": 1.0})


# -- task_affinity (TAG) ---------------------------------------------------------------------
def _related_data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.column_stack(
        [X[:, 0] + X[:, 1], X[:, 0] + X[:, 1] + 0.05 * rng.normal(size=n), np.sin(3 * X[:, 3])]
    )
    return X, y


def test_task_affinity_related_tasks_and_no_side_effect():
    X, y = _related_data()
    est = MultiTaskNetEstimator(**{**FAST, "max_epochs": 30})
    affinity = task_affinity(est, X, y)
    assert list(affinity.index) == ["task0", "task1", "task2"]
    assert (np.diag(affinity) > 0).all()  # a step on a task lowers its own loss
    assert affinity.loc["task0", "task1"] > 0
    assert affinity.loc["task0", "task1"] > affinity.loc["task0", "task2"]
    assert affinity.loc["task1", "task0"] > affinity.loc["task2", "task0"]
    # measuring does not change training: same predictions as a plain fit
    plain = clone(est).fit(X, y).predict(X)
    measured = clone(est)
    measured.set_params(callbacks=[])
    symmetric = task_affinity(measured, X, y, lookahead_lr=0.05, symmetric=True, every=2)
    np.testing.assert_allclose(symmetric.to_numpy(), symmetric.to_numpy().T)
    from sklearn_mtl.diagnostics._lookahead import LookaheadAffinity

    with_plugin = clone(est)
    with_plugin._extra_relationships = (("tag", LookaheadAffinity()),)
    with_plugin.fit(X, y)
    np.testing.assert_allclose(with_plugin.predict(X), plain)
    # the plugin is held by the criterion: its sums are in the state that is saved
    state = with_plugin.net_.criterion_.state_dict()
    assert state["plugins.tag.total.count"].sum() > 0
    np.testing.assert_allclose(
        with_plugin.net_.criterion_.plugins["tag"].matrix(with_plugin.history_),
        task_affinity(est, X, y).to_numpy(),
    )


def test_task_affinity_pipeline_and_errors():
    X, y = _related_data(n=80)
    pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator(**{**FAST, "max_epochs": 2}))
    assert task_affinity(pipe, X, y).shape == (3, 3)
    with pytest.raises(ValueError, match="declares none"):
        task_affinity(MultiTaskNetEstimator(architecture="soft", **FAST), X, y)
    with pytest.raises(ValueError, match="every must be"):
        task_affinity(MultiTaskNetEstimator(**FAST), X, y, every=0)


# -- suggest_task_groups ---------------------------------------------------------------------
def _brute_force(matrix, n_groups):
    n = matrix.shape[0]
    best = -np.inf
    for labels in itertools.product(range(n_groups), repeat=n):
        if len(set(labels)) != n_groups:
            continue
        groups = [[i for i in range(n) if labels[i] == g] for g in range(n_groups)]
        best = max(best, sum(_group_score(matrix, g) for g in groups))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exhaustive_groups_are_optimal_and_greedy_is_close(seed):
    matrix = np.random.default_rng(seed).normal(size=(6, 6))
    names = [f"t{i}" for i in range(6)]
    for n_groups in (2, 3):
        groups = suggest_task_groups(matrix, n_groups, task_names=names, method="exhaustive")
        assert sorted(t for g in groups for t in g) == names and len(groups) == n_groups
        index = [[names.index(t) for t in g] for g in groups]
        score = sum(_group_score(matrix, g) for g in index)
        assert score == pytest.approx(_brute_force(matrix, n_groups))
        greedy = suggest_task_groups(matrix, n_groups, task_names=names, method="greedy")
        assert sorted(t for g in greedy for t in g) == names and len(greedy) == n_groups


def test_groups_from_block_structure_and_errors():
    block = np.full((5, 5), -0.5)
    block[:3, :3] = block[3:, 3:] = 0.8
    frame = pd.DataFrame(block, index=list("abcde"), columns=list("abcde"))
    expected = [["a", "b", "c"], ["d", "e"]]
    assert suggest_task_groups(frame, 2) == expected
    assert suggest_task_groups(frame, 2, method="greedy") == expected
    assert suggest_task_groups(frame, 1) == [list("abcde")]
    assert suggest_task_groups(frame, 5) == [[t] for t in "abcde"]
    with pytest.raises(ValueError, match="n_groups must be"):
        suggest_task_groups(frame, 6)
    with pytest.raises(ValueError, match="square"):
        suggest_task_groups(np.zeros((2, 3)), 1)


# -- gradient affinity recorded during fit --------------------------------------------------------
def test_record_task_affinity():
    X, y = _related_data()
    est = MultiTaskNetEstimator(record_task_affinity=True, **FAST).fit(X, y)
    rows = [np.asarray(row["task_affinity"]) for row in est.history_]
    assert len(rows) == est.n_iter_ and rows[0].shape == (3, 3)
    affinity = est.task_affinity_.to_numpy()
    np.testing.assert_allclose(np.diag(affinity), 1.0, atol=1e-5)
    np.testing.assert_allclose(affinity, affinity.T, atol=1e-6)
    np.testing.assert_allclose(affinity, np.mean(rows, axis=0), atol=1e-9)
    # recording does not change training
    plain = MultiTaskNetEstimator(**FAST).fit(X, y)
    np.testing.assert_allclose(est.predict(X), plain.predict(X))
    assert not hasattr(plain, "task_affinity_")
    # refit without recording drops the attribute
    assert not hasattr(est.set_params(record_task_affinity=False).fit(X, y), "task_affinity_")


def test_gradient_affinity_cosines():
    """Known gradients: a, 2a, -a, b with a orthogonal to b; task 4 absent."""
    from sklearn_mtl._relationship import GradientAffinity

    p = torch.zeros(3, requires_grad=True)
    a, b = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.0, 0.0, 3.0])
    losses = torch.stack([p @ a, 2 * p @ a, -(p @ a), p @ b, 0 * p.sum()])
    present = torch.tensor([True, True, True, True, False])
    tracker = GradientAffinity(5, max_batches=2)
    tracker.begin_epoch(4)
    assert [tracker.wants_batch() for _ in range(4)] == [True, False, True, False]
    tracker.accumulate(losses, present, [p])
    tracker.accumulate(losses, present, [p])
    assert set(tracker.state_dict()) == {"pairs.sum", "pairs.count"}
    mean = tracker.pop_epoch()
    expected = np.array([[1, 1, -1, 0], [1, 1, -1, 0], [-1, -1, 1, 0], [0, 0, 0, 1]], float)
    np.testing.assert_allclose(mean[:4, :4], expected, atol=1e-6)
    assert np.isnan(mean[4]).all() and np.isnan(mean[:, 4]).all()
    assert np.isnan(tracker.pop_epoch()).all()  # reset after popping


def test_record_task_affinity_variants():
    X, y = make_mixed(n_samples=120)
    est = MultiTaskNetEstimator(record_task_affinity=1, architecture="soft", **FAST).fit(X, y)
    # soft sharing shares no parameter: the gradients on the representation are used, and
    # each task's part of it is its own, so distinct tasks are orthogonal
    off_diagonal = est.task_affinity_.to_numpy()[~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(off_diagonal, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="record_task_affinity"):
        MultiTaskNetEstimator(record_task_affinity=-1, **FAST).fit(X, y)


# -- multi-task relationship learning ------------------------------------------------------------
def test_mtrl_learns_signed_task_correlation_and_pickles():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = np.column_stack([X[:, 0], X[:, 0] + 0.1 * rng.normal(size=200), -X[:, 0], X[:, 3]])
    est = MultiTaskNetEstimator(
        task_relation=MTRL(strength=0.1),
        hidden_layer_sizes=(16,),
        max_epochs=60,
        lr=0.01,
        random_state=0,
    ).fit(X, y)
    relation = est.task_relation_.to_numpy()
    np.testing.assert_allclose(np.diag(relation), 1.0)
    assert relation[0, 1] > 0.5 and relation[0, 2] < -0.5
    assert abs(relation[0, 3]) < abs(relation[0, 1])
    assert est.score(X, y) > 0.9
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict(X), est.predict(X))
    assert est.get_params()["task_relation__strength"] == 0.1


def test_relationship_plugins_are_criterion_state(tmp_path):
    """Gradient affinity and MTRL are plugins of the criterion: their buffers are in its
    state (saved, loaded, pickled, moved with it), nothing is attached to the net."""
    X, y = _related_data(n=96)
    est = MultiTaskNetEstimator(
        task_relation="mtrl", head_layer_sizes=(4,), record_task_affinity=2, **FAST
    ).fit(X, y)
    criterion = est.net_.criterion_
    assert list(criterion.plugins) == ["gradient_affinity", "mtrl"]
    state = criterion.state_dict()
    omega = state["plugins.mtrl.omega"].clone()
    assert omega.dtype == torch.float64 and omega.shape == (3, 3)
    assert not torch.equal(omega, torch.eye(3, dtype=torch.float64) / 3)  # it was learned
    torch.testing.assert_close(state["plugins.mtrl.omega_inverse"], torch.linalg.inv(omega))
    assert not any("affinity" in name or "relation" in name for name in vars(est.net_))
    # moved with the criterion (the meta device: no memory, no GPU needed)
    moved = copy.deepcopy(criterion).to("meta")
    assert moved.plugins["mtrl"].omega.is_meta
    assert moved.plugins["gradient_affinity"].pairs.sum.is_meta
    again = pickle.loads(pickle.dumps(est))
    torch.testing.assert_close(again.net_.criterion_.state_dict()["plugins.mtrl.omega"], omega)
    np.testing.assert_allclose(again.task_relation_.to_numpy(), est.task_relation_.to_numpy())
    loaded = MultiTaskNetEstimator.load(est.save(tmp_path / "m.mtl") and tmp_path / "m.mtl")
    torch.testing.assert_close(loaded.net_.criterion_.state_dict()["plugins.mtrl.omega"], omega)
    np.testing.assert_allclose(loaded.task_affinity_.to_numpy(), est.task_affinity_.to_numpy())
    # warm start keeps the learned covariance and goes on from it
    est.set_params(warm_start=True, max_epochs=1).fit(X, y)
    assert not torch.equal(est.net_.criterion_.plugins["mtrl"].omega, omega)


def test_file_from_before_the_plugins_loads(tmp_path):
    """A file written when MTRL's covariance was metadata (no plugin tensors) loads."""
    from sklearn_mtl._safe_format import _read_archive, _write_archive

    X, y = _related_data(n=64)
    est = MultiTaskNetEstimator(task_relation="mtrl", head_layer_sizes=(4,), **FAST).fit(X, y)
    est.save(tmp_path / "new.mtl")
    meta, tensors = _read_archive(tmp_path / "new.mtl")
    omega = tensors.pop("criterion.plugins.mtrl.omega")
    del tensors["criterion.plugins.mtrl.omega_inverse"]
    meta["fitted"]["task_relation"] = omega.tolist()
    _write_archive(tmp_path / "old.mtl", meta, tensors)
    loaded = MultiTaskNetEstimator.load(tmp_path / "old.mtl")
    np.testing.assert_allclose(loaded.task_relation_.to_numpy(), est.task_relation_.to_numpy())
    np.testing.assert_allclose(loaded.predict(X), est.predict(X))


def test_mtrl_head_shapes_and_errors():
    X, y = make_mixed(n_samples=90)
    with pytest.raises(ValueError, match="head_layer_sizes"):
        MultiTaskNetEstimator(task_relation="mtrl", **FAST).fit(X, y)
    est = MultiTaskNetEstimator(task_relation="mtrl", head_layer_sizes=(4,), **FAST).fit(X, y)
    assert est.task_relation_.shape == (3, 3)
    with pytest.raises(ValueError, match="task_relation="):
        MultiTaskNetEstimator(task_relation="bogus", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="strength"):
        MultiTaskNetEstimator(task_relation=MTRL(strength=-1.0), **FAST).fit(X, y)


def test_compare_single_task_passes_the_fold_groups_to_the_networks(monkeypatch):
    """With ``groups``, every network's early-stopping holdout keeps whole groups of its
    training rows (the splitter's groups, restricted to the fold)."""
    from sklearn.model_selection import GroupKFold

    import sklearn_mtl._estimator_fit as estimator_fit

    seen = []
    original = estimator_fit.holdout_rows

    def recording(*args, **kwargs):
        train, valid = original(*args, **kwargs)
        seen.append(args[4] if len(args) > 4 else kwargs.get("groups"))
        return train, valid

    monkeypatch.setattr(estimator_fit, "holdout_rows", recording)
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 5)
    X = rng.normal(size=(60, 3)) + rng.normal(size=(12, 3))[groups]
    y = np.column_stack([X @ rng.normal(size=3), X @ rng.normal(size=3)])
    est = MultiTaskNetEstimator(
        tasks={"a": "regression", "b": "regression"},
        hidden_layer_sizes=(8,),
        max_epochs=3,
        batch_size=16,
        random_state=0,
        early_stopping=True,
    )
    report = compare_single_task(est, X, y, cv=GroupKFold(3), groups=groups)
    assert len(report) == 2
    assert len(seen) == 3 * 3  # 3 folds x (multi + 2 single)
    for codes in seen:
        assert codes is not None and len(codes) == 40  # the fold's training rows
