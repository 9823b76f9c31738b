"""Hostile and odd-but-legal inputs (issue #16): a right answer or a clear error, never
a silently wrong model or a raw torch/skorch/numpy exception."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._net_guard import NonFiniteLossError
from sklearn_mtl.metrics import UnseenLabelWarning, make_task_scorer

# Cheap, and explicit about the parameters whose defaults may change.
TINY = {
    "hidden_layer_sizes": (4,),
    "max_epochs": 2,
    "batch_size": 16,
    "random_state": 0,
    "early_stopping": False,
    "architecture": "hard",
    "numeric_embedding": None,
}


def _X(n=40, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3))


# -- 1. mixed-type label lists -----------------------------------------------------------
def test_a_list_mixing_numbers_and_strings_is_not_stringified():
    X = _X()
    with pytest.raises(ValueError, match="mixed types"):
        MultiTaskNetEstimator(**TINY).fit(X, [1, 2, "a", "b"] * 10)
    rows = [[float(i) / 7, "a" if i % 2 else "b"] for i in range(40)]
    rows[3][0] = np.nan
    est = MultiTaskNetEstimator(**TINY).fit(X, rows)
    assert [t.kind for t in est.tasks_] == ["regression", "binary"]
    assert est.classes_[0].tolist() == ["a", "b"]
    assert rows[3][0] != rows[3][0] and isinstance(rows[0][1], str)  # unchanged


def test_a_list_of_rows_with_strings_is_read_as_the_same_object_array():
    X = _X(12)
    rows = [[float(v), "a" if i % 2 else "b"] for i, v in enumerate(X[:, 0])]
    y = X[:, 1]
    from_list = MultiTaskNetEstimator(**TINY).fit(rows, y)  # numbers stay numbers
    assert [c.kind for c in from_list.input_encoder_.columns_] == ["number", "string"]
    from_array = MultiTaskNetEstimator(**TINY).fit(np.array(rows, dtype=object), y)
    np.testing.assert_array_equal(from_list.predict(rows), from_array.predict(rows))
    assert isinstance(rows[0][0], float)  # unchanged
    with pytest.raises(ValueError, match="Column 0 holds complex numbers"):
        MultiTaskNetEstimator(**TINY).fit(np.array([[1 + 1j, "a"]] * 12, dtype=object), y)


def test_datetime_arrays_are_refused_and_predict_reads_numbers_as_fit_did():
    X = _X(12)
    dates = np.datetime64("2020-01-01") + np.arange(24).reshape(12, 2).astype("timedelta64[D]")
    with pytest.raises(ValueError, match=r"X holds datetimes \(dtype datetime64\[D\]\)"):
        MultiTaskNetEstimator(**TINY).fit(dates, X[:, 0])  # numpy would cast them to days
    with pytest.raises(ValueError, match="X holds durations"):
        MultiTaskNetEstimator(**TINY).fit(dates - dates[0, 0], X[:, 0])
    est = MultiTaskNetEstimator(**TINY).fit(X, X[:, 0])  # fitted on numbers
    np.testing.assert_array_equal(est.predict(X.astype(object)), est.predict(X))
    with pytest.raises(ValueError, match="X: could not convert string to float: 'a'"):
        est.predict(np.array([["a", 1.0, 2.0]] * 3, dtype=object))


# -- 2. early stopping and the first epoch -----------------------------------------------
class FailIn(Callback):
    def __init__(self, error):
        self.error = error

    def on_batch_begin(self, net, **kwargs):
        raise self.error


def test_non_finite_loss_in_epoch_one_with_early_stopping():
    X = _X()
    y = X[:, 0] * 1e30
    est = MultiTaskNetEstimator(**{**TINY, "early_stopping": True, "lr": 1e30})
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        est.fit(X * 1e30, y)
    assert est.n_iter_ == 0 and len(est.history_) == 0
    assert est.predict(X).shape == (40,)


def test_interrupt_in_epoch_one_with_early_stopping():
    X = _X()
    est = MultiTaskNetEstimator(
        **{**TINY, "early_stopping": True, "callbacks": [FailIn(KeyboardInterrupt())]}
    ).fit(X, X[:, 0])
    assert est.n_iter_ == 0 and len(est.history_) == 0
    assert np.isfinite(est.predict(X)).all()


# -- 4. float64 beyond float32 -------------------------------------------------------------
def test_predict_rejects_float64_beyond_float32_as_fit_does():
    X = _X()
    est = MultiTaskNetEstimator(**TINY).fit(X, X[:, 0])
    big = X.copy()
    big[0, 0] = 1e300
    with pytest.raises(ValueError, match="too large") as fit_error:
        MultiTaskNetEstimator(**TINY).fit(big, X[:, 0])
    with pytest.raises(ValueError, match="too large") as predict_error:
        est.predict(big)
    assert str(fit_error.value) == str(predict_error.value)
    assert big[0, 0] == 1e300


# -- 5. labels beyond int64, infinite labels -----------------------------------------------
def test_class_labels_beyond_int64_are_kept_exactly():
    X = _X()
    est = MultiTaskNetEstimator(**TINY).fit(X, np.array([1e20, 2e20] * 20))
    assert est.classes_.tolist() == [1e20, 2e20]
    assert set(est.predict(X).tolist()) <= {1e20, 2e20}
    big = np.array([2**64 - 1, 2**64 - 2] * 20, dtype=np.uint64)
    est = MultiTaskNetEstimator(**TINY).fit(X, big)
    assert est.classes_.tolist() == [2**64 - 2, 2**64 - 1]
    assert est.score(X, big) >= 0


@pytest.mark.parametrize("kind", [None, "binary", "multiclass", "regression"])
def test_infinite_labels_are_refused_naming_the_column(kind):
    X = _X()
    y = np.column_stack([X[:, 0], np.array([0, 1, np.inf, 0] * 10)])
    tasks = None if kind is None else {"a": "regression", "b": kind}
    with pytest.raises(ValueError, match="column 1 holds infinite values"):
        MultiTaskNetEstimator(tasks=tasks, **TINY).fit(X, y)


# -- 7. raw dependency errors ------------------------------------------------------------
def test_batch_norm_with_one_row_batches_is_a_clear_error():
    X = _X()
    with pytest.raises(ValueError, match="batch_norm=True needs batches of at least 2"):
        MultiTaskNetEstimator(batch_norm=True, **TINY).fit(X[:1], X[:1, 0])
    with pytest.raises(ValueError, match="batch_size=1"):
        MultiTaskNetEstimator(batch_norm=True, **{**TINY, "batch_size": 1}).fit(X, X[:, 0])


def test_score_with_sample_weight_of_the_wrong_length():
    X = _X()
    est = MultiTaskNetEstimator(**TINY).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="sample_weight"):
        est.score(X, X[:, 0], sample_weight=np.ones(3))


def test_a_task_whose_labelled_rows_all_weigh_zero():
    X = _X()
    y = np.column_stack([X[:, 0], np.where(np.arange(40) < 20, X[:, 1] > 0, np.nan)])
    weight = np.where(np.arange(40) < 20, 0.0, 1.0)
    with pytest.raises(ValueError, match="Task 'task1': every row with a label has sample_w"):
        MultiTaskNetEstimator(**TINY).fit(X, y, sample_weight=weight)


# -- 8. unseen labels at scoring ---------------------------------------------------------
def test_unseen_labels_count_as_wrong_predictions():
    X = _X()
    y = np.array([0, 1] * 20)
    est = MultiTaskNetEstimator(**TINY).fit(X, y)
    predicted = est.predict(X)
    unseen = y.copy()
    unseen[:10] = 7
    with pytest.warns(UnseenLabelWarning, match=r"Task 'task0'.*\['7'\].*wrong"):
        score = est.score(X, unseen)
    expected = np.mean((predicted == unseen)[10:]) * 30 / 40
    assert score == pytest.approx(expected)
    # f1 only looks at the positive class: an unseen label is a negative row
    with pytest.warns(UnseenLabelWarning):
        f1 = make_task_scorer("task0", "f1")(est, X, unseen)
    from sklearn.metrics import f1_score

    assert f1 == pytest.approx(f1_score(np.where(unseen == 1, 1, 0), predicted))
    with pytest.raises(ValueError, match="not seen in fit; 'roc_auc' needs probabilities"):
        make_task_scorer("task0", "roc_auc")(est, X, unseen)


def test_grid_search_on_a_table_sorted_by_class_gives_finite_scores():
    from sklearn.model_selection import GridSearchCV

    X = _X(60)
    y = np.repeat([0, 1, 2], 20)
    X[:, 0] += y
    search = GridSearchCV(
        MultiTaskNetEstimator(**TINY), {"lr": [1e-3, 1e-2]}, cv=3, error_score="raise"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenLabelWarning)
        search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# -- 7/11. parameters: one validation, numpy scalars welcome ---------------------------
def _two_tasks():
    X = _X()
    return X, np.column_stack([X[:, 0], X[:, 1] + X[:, 2]])


@pytest.mark.parametrize(
    "params",
    [
        {"loss_weighting": "mgda_object_np_int"},
        {"lr": np.float32(0.01), "batch_size": np.int64(16), "max_epochs": np.int32(1)},
        {"hidden_layer_sizes": np.arange(3, 5), "dropout": np.float64(0.1)},
        {"architecture": "mmoe_np"},
    ],
    ids=["mgda-max_iter", "estimator-scalars", "arange-sizes", "mmoe-n_experts"],
)
def test_numpy_scalars_are_accepted_everywhere(params):
    from sklearn_mtl.architectures import MMoE
    from sklearn_mtl.weighting import MGDA, GradNorm

    params = dict(params)
    if params.get("loss_weighting") == "mgda_object_np_int":
        params["loss_weighting"] = MGDA(max_iter=np.int64(100))
    if params.get("architecture") == "mmoe_np":
        params["architecture"] = MMoE(n_experts=np.int64(2), expert_layer_sizes=np.array([3]))
    X, y = _two_tasks()
    est = MultiTaskNetEstimator(**{**TINY, **params}).fit(X, y)
    assert est.predict(X).shape == y.shape
    MultiTaskNetEstimator(loss_weighting=GradNorm(alpha=np.float32(1.5)), **TINY).fit(X, y)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: {"hidden_layer_sizes": None}, "hidden_layer_sizes"),
        (lambda: {"hidden_layer_sizes": (4, 2.5)}, "hidden_layer_sizes"),
        (lambda: {"head_layer_sizes": "8"}, "head_layer_sizes"),
        (lambda: {"callbacks": [1]}, "callbacks"),
        (lambda: {"callbacks": [("name", object())]}, "callbacks"),
        (lambda: {"batch_size": 2.0}, "batch_size"),
        (lambda: {"lr": float("nan")}, "lr"),
        (lambda: {"lr": 0}, "lr"),
        (lambda: {"alpha": float("inf")}, "alpha"),
        (lambda: {"dropout": 1.0}, "dropout"),
        (lambda: {"precision": "fp8"}, "precision"),
        (lambda: {"random_state": "zero"}, "random_state"),
        (lambda: {"early_stopping": "yes"}, "early_stopping"),
        (lambda: _arch("MMoE", n_experts=2.7), "n_experts"),
        (lambda: _arch("MMoE", n_experts="four"), "n_experts"),
        (lambda: _arch("MMoE", expert_layer_sizes=[4, 0]), "expert_layer_sizes"),
        (lambda: _arch("PLE", n_levels=0), "n_levels"),
        (lambda: _arch("CrossStitch", self_weight=1.5), "self_weight"),
        (lambda: _arch("TaskAttention", layers="some"), "layers"),
        (lambda: _weighting("MGDA", max_iter=2.5), "max_iter"),
        (lambda: _weighting("DBMTL", beta=1.0), "beta"),
        (lambda: _weighting("GradNorm", gradient_on="weights"), "gradient_on"),
        (lambda: _weighting("RandomLossWeighting", distribution="beta"), "distribution"),
        (lambda: {"task_relation": _mtrl(strength=-1.0)}, "strength"),
    ],
)
def test_bad_parameters_name_themselves(make, name):
    X, y = _two_tasks()
    with pytest.raises((ValueError, TypeError), match=name) as error:
        MultiTaskNetEstimator(**{**TINY, **make()}).fit(X, y)
    assert type(error.value).__module__.split(".")[0] in {"sklearn", "sklearn_mtl", "builtins"}


def _arch(name, **params):
    from sklearn_mtl import architectures

    return {"architecture": getattr(architectures, name)(**params)}


def _weighting(name, **params):
    from sklearn_mtl import weighting

    return {"loss_weighting": getattr(weighting, name)(**params)}


def _mtrl(**params):
    from sklearn_mtl import MTRL

    return MTRL(**params)


# -- 6. threads -----------------------------------------------------------------------------
def test_seeded_fits_are_reproducible_in_threads_and_leave_torch_global_state_alone():
    from joblib import Parallel, delayed, parallel_backend

    X, y = _two_tasks()
    params = {**TINY, "dropout": 0.3, "loss_weighting": "rlw", "max_epochs": 3}

    def fit(seed):
        return MultiTaskNetEstimator(**{**params, "random_state": seed}).fit(X, y).predict(X)

    before = torch.get_rng_state()
    sequential = [fit(seed) for seed in (0, 1, 0, 1)]
    assert torch.equal(before, torch.get_rng_state())
    with parallel_backend("threading", n_jobs=4):
        threaded = Parallel()(delayed(fit)(seed) for seed in (0, 1, 0, 1))
    for a, b in zip(sequential, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sequential[0], sequential[1])


class NoisyTrunk(torch.nn.Module):
    """A user's trunk whose random operations take no generator (global generator)."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 6)
        self.drop = torch.nn.AlphaDropout(0.2)

    def forward(self, X):
        hidden = torch.nn.functional.dropout(self.linear(X), 0.3, self.training)
        if self.training:
            hidden = hidden + 0.1 * torch.randn_like(hidden)
        return self.drop(torch.relu(hidden))


def test_seeded_fits_of_a_user_module_drawing_from_the_global_generator_in_threads():
    from joblib import Parallel, delayed, parallel_backend

    X, y = _two_tasks()
    params = {**TINY, "architecture": NoisyTrunk, "max_epochs": 3}

    def fit(seed):
        return MultiTaskNetEstimator(**{**params, "random_state": seed}).fit(X, y).predict(X)

    before = torch.get_rng_state()
    sequential = [fit(seed) for seed in (0, 1, 0, 1)]
    assert torch.equal(before, torch.get_rng_state())  # forked and restored
    np.testing.assert_array_equal(sequential[0], sequential[2])
    assert not np.array_equal(sequential[0], sequential[1])
    with parallel_backend("threading", n_jobs=4):
        threaded = Parallel()(delayed(fit)(seed) for seed in (0, 1, 0, 1))
    for a, b in zip(sequential, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_which_modules_draw_from_the_global_generator():
    from sklearn_mtl._random import draws_from_global_rng, use_generator_dropout

    plain = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    assert not draws_from_global_rng(use_generator_dropout(plain.append(torch.nn.Dropout())))
    assert draws_from_global_rng(torch.nn.Sequential(torch.nn.Dropout2d()))
    assert draws_from_global_rng(torch.nn.Sequential(torch.nn.RReLU()))
    assert draws_from_global_rng(NoisyTrunk(2))


def test_grid_search_with_threads_scores_as_with_one_job():
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = _two_tasks()
    est = MultiTaskNetEstimator(**{**TINY, "dropout": 0.2, "loss_weighting": "pcgrad"})
    grid = {"lr": [1e-3, 1e-2], "alpha": [0.0, 1e-3]}
    one = GridSearchCV(est, grid, cv=2).fit(X, y).cv_results_["mean_test_score"]
    with parallel_backend("threading", n_jobs=4):
        threaded = GridSearchCV(est, grid, cv=2, n_jobs=4).fit(X, y)
    np.testing.assert_array_equal(one, threaded.cv_results_["mean_test_score"])


# -- 3. safe save/load ---------------------------------------------------------------------
def _saved(tmp_path, **params):
    X, y = _two_tasks()
    est = MultiTaskNetEstimator(**{**TINY, **params}).fit(X, y)
    path = tmp_path / "model.mtl"
    est.save(path)
    return est, path, X


def test_bf16_model_loads_with_its_precision(tmp_path):
    est, path, X = _saved(tmp_path, precision="bf16")
    loaded = MultiTaskNetEstimator.load(path)
    assert loaded.net_.precision == "bf16"
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


_CHANGED_AFTER_FIT = [
    {"tasks": {"x": "regression", "y": "regression"}, "task_weights": {"x": 2.0}},
    {"hidden_layer_sizes": (7, 3), "activation": "tanh"},
    {"architecture": "mmoe", "head_layer_sizes": (3,)},
    {"numeric_embedding": "periodic", "ensemble_size": 2, "wide": True},
    {"loss_weighting": "uncertainty", "batch_norm": True, "dropout": 0.5},
    {"precision": "bf16", "categorical_features": [0], "numeric_scaling": None},
]


@pytest.mark.parametrize("changed", _CHANGED_AFTER_FIT)
def test_save_writes_the_fitted_network_after_set_params(tmp_path, changed):
    est, path, X = _saved(tmp_path, tasks={"a": "regression", "b": "regression"})
    predicted = est.predict(X)
    est.set_params(**changed)
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    np.testing.assert_array_equal(loaded.predict(X), predicted)
    assert repr(loaded.get_params()) == repr(est.get_params())  # the parameters set since
    loaded.save(tmp_path / "again.mtl")  # and again, from the loaded model
    again = MultiTaskNetEstimator.load(tmp_path / "again.mtl")
    np.testing.assert_array_equal(again.predict(X), predicted)
    assert repr(again.get_params()) == repr(est.get_params())
    refit = loaded.fit(X, predicted)  # a new fit takes the parameters set since
    assert [t.name for t in refit.tasks_] == list(changed.get("tasks", ["a", "b"]))


def _rewrite(path, edit_meta=None, edit_tensors=None, raw_meta=None):
    import json
    import zipfile

    from safetensors.torch import load, save

    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
        tensors = load(archive.read("weights.safetensors"))
    if edit_meta is not None:
        edit_meta(meta)
    if edit_tensors is not None:
        edit_tensors(tensors)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", raw_meta or json.dumps(meta))
        archive.writestr("weights.safetensors", save(tensors))


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def _retype(tensors):
    import torch

    for key in list(tensors):
        if key.startswith("module."):
            tensors[key] = tensors[key].to(torch.int64)


def _reshape(tensors):
    key = next(k for k in tensors if k.startswith("module.") and tensors[k].ndim == 2)
    tensors[key] = tensors[key].T.contiguous()


def _drop(tensors):
    del tensors[next(k for k in tensors if k.startswith("module."))]


_HUGE = {"__tuple__": [100_000, 100_000, 100_000]}
_TAMPERED = {
    "positions": {"edit_meta": _set("fitted", "encoders_", 0, "positions", [5])},
    "duplicate-positions": {"edit_meta": _set("fitted", "encoders_", 1, "positions", [0])},
    "random-state": {
        "edit_meta": _set("params", "random_state", {"__random_state__": ["MT19937", [2**40]]})
    },
    "deep-json": {"raw_meta": '{"a":' * 50_000 + "1" + "}" * 50_000},
    "huge-hidden-layers": {"edit_meta": _set("params", "hidden_layer_sizes", _HUGE)},
    "huge-n-features": {"edit_meta": _set("fitted", "n_features_in_", 10**9)},
    "huge-mmoe": {
        "edit_meta": _set(
            "params", "architecture", {"__architecture__": "MMoE", "params": {"n_experts": 10**9}}
        )
    },
    "int64-tensors": {"edit_tensors": _retype},
    "transposed-tensor": {"edit_tensors": _reshape},
    "missing-tensor": {"edit_tensors": _drop},
    "scale-string": {"edit_meta": _set("fitted", "encoders_", 0, "scale_", "x")},
    "scale-zero": {"edit_meta": _set("fitted", "encoders_", 0, "scale_", 0.0)},
    "history-string": {"edit_meta": _set("fitted", "history_", "x")},
    "target-columns": {"edit_meta": _set("fitted", "_n_target_columns", 7)},
    "hidden-layers-none": {"edit_meta": _set("params", "hidden_layer_sizes", None)},
    "set-after-fit-unknown": {"edit_meta": _set("params_set_after_fit", {"nope": 1})},
    "set-after-fit-list": {"edit_meta": _set("params_set_after_fit", [1])},
    "unknown-kind": {
        "edit_meta": _set("fitted", "encoders_", 0, "task_", "__task__", "kind", "ordinal?")
    },
}


@pytest.mark.parametrize("tamper", sorted(_TAMPERED))
def test_every_tampered_file_is_a_value_error_at_load(tmp_path, tamper):
    _, path, _ = _saved(tmp_path)
    _rewrite(path, **_TAMPERED[tamper])
    with pytest.raises(ValueError, match=r"malformed|not a valid|do not fit"):
        MultiTaskNetEstimator.load(path)


# -- 12. checkpoint key --------------------------------------------------------------------
def test_checkpoint_key_is_stable_across_processes_and_covers_all_rows(tmp_path):
    import subprocess
    import sys
    import textwrap

    (tmp_path / "trunk_module.py").write_text(
        textwrap.dedent(
            """
            import numpy as np, torch
            from sklearn_mtl import MultiTaskNetEstimator
            from sklearn_mtl._checkpoint import _fit_key

            def trunk(n_features):
                return torch.nn.Linear(n_features, 4)

            def key(row=None):
                X = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
                if row is not None:
                    X[row, 0] += 1.0
                est = MultiTaskNetEstimator(architecture=trunk, random_state=0)
                targets = torch.zeros(500, 1)
                return _fit_key(est, X, targets, None)
            """
        )
    )
    code = "import trunk_module; print(trunk_module.key())"
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{__import__('os').getcwd()}"}
    keys = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(keys) == 1
    sys.path.insert(0, str(tmp_path))
    try:
        import trunk_module
    finally:
        sys.path.remove(str(tmp_path))
    assert trunk_module.key() in keys
    assert trunk_module.key(row=3) != trunk_module.key()  # a row the old 64-row sample missed


# -- 9/10. compare_single_task folds, folds without labels ---------------------------------
def _sorted_table(n=90):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    colour = np.repeat(["red", "white"], n // 2).astype(object)  # sorted, as wine is
    X[:, 0] += colour == "red"
    amount = np.arange(n) % 21 + 0.0  # 21 integer values: regression, from all of y
    y = np.column_stack([colour, amount]).astype(object)
    return X, y


def test_compare_single_task_on_a_class_sorted_table_and_with_a_stratified_cv():
    from sklearn.model_selection import StratifiedKFold

    from sklearn_mtl.diagnostics import compare_single_task

    X, y = _sorted_table()
    est = MultiTaskNetEstimator(**TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenLabelWarning)
        report = compare_single_task(est, X, y, cv=3, as_frame=False)
    assert list(report["kind"]) == ["binary", "regression"]  # 21 integers: regression
    assert np.isfinite(report["multi_task"]).all() and np.isfinite(report["single_task"]).all()
    report = compare_single_task(est, X, y, cv=StratifiedKFold(3), as_frame=False)
    assert report["n_splits"] == 3 and list(report["metric"]) == ["accuracy", "r2"]


def test_a_fold_without_labels_for_a_task_is_named():
    from sklearn.model_selection import KFold

    from sklearn_mtl.diagnostics import compare_single_task
    from sklearn_mtl.metrics import TaskWithoutLabelWarning

    X, y = _two_tasks()
    y = y.astype(object)
    y[:14, 1] = np.nan  # the first fold's test rows have no label of task1
    est = MultiTaskNetEstimator(**TINY)
    with pytest.warns(UserWarning, match=r"task 'task1' has no score in fold\(s\) \[0\]"):
        report = compare_single_task(est, X, y, cv=KFold(3), as_frame=False)
    assert np.isfinite(report["multi_task"]).all()
    from sklearn_mtl.model_selection import LabelledKFold

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*has no score in fold")
        compare_single_task(est, X, y, cv=LabelledKFold(3, random_state=0), as_frame=False)
    scorer = make_task_scorer("task1")
    with pytest.warns(TaskWithoutLabelWarning, match="'task1' has no score on this fold of 14"):
        assert np.isnan(scorer(est.fit(X[14:], y[14:]), X[:14], y[:14]))
    with pytest.warns(TaskWithoutLabelWarning, match=r"\['task1'\].*LabelledKFold"):
        assert np.isfinite(est.score(X[:14], y[:14]))  # the mean of the other task


def test_grid_search_ranking_on_folds_without_labels_of_a_task():
    from sklearn.model_selection import GridSearchCV, KFold

    from sklearn_mtl.metrics import TaskWithoutLabelWarning
    from sklearn_mtl.model_selection import LabelledKFold

    X, y = _two_tasks()
    y = y.astype(object)
    y[:14, 1] = np.nan  # KFold(3)'s first test fold has no label of task1
    est = MultiTaskNetEstimator(**{**TINY, "max_epochs": 4})
    grid = {"lr": [1e-4, 3e-2]}
    search = GridSearchCV(est, grid, cv=KFold(3), scoring=make_task_scorer("task1"))
    with pytest.warns(TaskWithoutLabelWarning, match="LabelledKFold"):
        search.fit(X, y)
    # the documented limit of a plain KFold: every mean is NaN, every rank 1
    assert np.isnan(search.cv_results_["mean_test_score"]).all()
    # folds with labels of every task: finite scores, a meaningful ranking
    labelled = GridSearchCV(
        est, grid, cv=LabelledKFold(3, random_state=0), scoring=make_task_scorer("task1")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", TaskWithoutLabelWarning)
        labelled.fit(X, y)
    assert np.isfinite(labelled.cv_results_["mean_test_score"]).all()
    assert sorted(labelled.cv_results_["rank_test_score"]) == [1, 2]
    # the default score averages the tasks with labels in each fold: finite, ranked
    default = GridSearchCV(est, grid, cv=KFold(3))
    with pytest.warns(TaskWithoutLabelWarning, match=r"\['task1'\]"):
        default.fit(X, y)
    assert sorted(default.cv_results_["rank_test_score"]) == [1, 2]


def _losing_a_class(n=30):
    """A table sorted by class: unshuffled KFold(5)'s last fold holds every 'c' (and
    every positive of the binary task), which its training rows then lack."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    level = np.array(["a"] * 12 + ["b"] * 12 + ["c"] * 6, dtype=object)
    flag = (np.arange(n) >= 24).astype(float)
    return X, np.column_stack([X[:, 0], level, flag]).astype(object)


def test_compare_single_task_when_a_training_fold_loses_a_class():
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold

    from sklearn_mtl.diagnostics import compare_single_task

    X, y = _losing_a_class()
    est = MultiTaskNetEstimator(**TINY)
    # LogisticRegression needs two classes: for the binary task, it fails in fold 4
    baseline = {"regression": Ridge(), "multiclass": LogisticRegression()}
    baseline["binary"] = LogisticRegression()
    scoring = {"task1": "neg_log_loss", "task2": "accuracy"}
    with pytest.warns(UserWarning, match="baseline model of task 'task2' failed in fold 4"):
        report = compare_single_task(
            est, X, y, cv=KFold(5), scoring=scoring, baseline=baseline, as_frame=False
        )
    multi, single = report["fold_scores"]["multi"], report["fold_scores"]["single"]
    # every class of all of y is known to every fold's networks: probabilities of 'c'
    # exist in fold 4 and the multi-task and single-task models are scored alike
    assert np.isfinite(multi).all() and np.isfinite(single).all()
    assert np.isnan(report["fold_scores"]["baseline"][4, 2])
    assert np.isfinite(report["fold_scores"]["baseline"][:4]).all()
    assert np.isfinite(report["p_value"]).all()


def test_compare_single_task_when_a_metric_has_no_value_in_a_fold():
    from sklearn.model_selection import KFold

    from sklearn_mtl.diagnostics import compare_single_task

    X, y = _losing_a_class()
    est = MultiTaskNetEstimator(**TINY)
    # ROC AUC of a test fold with one class is undefined: folds 0-3 for task2
    with pytest.warns(UserWarning, match=r"task 'task2' has no score in fold\(s\) \[0, 1, 2, 3"):
        report = compare_single_task(
            est, X, y, cv=KFold(5), scoring={"task2": "roc_auc"}, as_frame=False
        )
    assert np.isnan(report["fold_scores"]["multi"][:, 2]).all()
    assert np.isfinite(report["multi_task"][:2]).all()


def test_compare_single_task_raises_when_every_fold_fails():
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.model_selection import KFold

    from sklearn_mtl.diagnostics import compare_single_task

    class Refuses(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            raise ValueError("this baseline refuses every fold")

    X, y = _two_tasks()
    with pytest.raises(ValueError, match="refuses every fold"):
        compare_single_task(
            MultiTaskNetEstimator(**TINY), X, y, cv=KFold(2), baseline=Refuses(), as_frame=False
        )


def test_fit_classes_declares_labels_absent_from_y():
    X, y = _losing_a_class()
    est = MultiTaskNetEstimator(**TINY)
    est.fit(X[:24], y[:24], classes={"task1": ["a", "b", "c"], "task2": [0.0, 1.0]})
    assert est.classes_[0].tolist() == ["a", "b", "c"] and est.classes_[1].tolist() == [0, 1]
    assert est.predict_proba(X)[0].shape == (30, 3)
    with pytest.raises(ValueError, match=r"classes names unknown task\(s\) \['nope'\]"):
        est.fit(X, y, classes={"nope": [1, 2]})
    with pytest.raises(TypeError, match="classes must be a dict"):
        est.fit(X, y, classes=["a", "b"])
    with pytest.raises(ValueError, match=r"labels \['c'\] are not among the classes"):
        est.fit(X, y, classes={"task1": ["a", "b"]})


@pytest.mark.parametrize("bad", ["datetime column", "all-NaN column", "one-class task", "rows"])
def test_a_failed_fit_leaves_the_former_model(bad):
    """A fit that raises changes nothing: the estimator predicts with its former model
    (not a new input encoder beside the former network), and one never fitted stays
    unfitted."""
    pd = pytest.importorskip("pandas")
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60) * 1e3, "c": rng.choice(["x", "y"], 60)})
    y = pd.DataFrame({"r": rng.normal(size=60), "k": rng.choice(["p", "q"], 60)})
    bad_X, bad_y = {
        "datetime column": (X.assign(a=pd.date_range("2020", periods=60)), y),
        "all-NaN column": (X.assign(a=np.nan), y),
        "one-class task": (X, y.assign(k="p")),
        "rows": (X.iloc[:5], y),
    }[bad]
    est = MultiTaskNetEstimator(
        tasks={"r": "regression", "k": "binary"}, hidden_layer_sizes=(4,), max_epochs=2,
        early_stopping=False, random_state=0,
    ).fit(X, y)  # fmt: skip
    before = est.predict(X)
    attributes = sorted(vars(est))
    with pytest.raises(ValueError):
        est.fit(bad_X, bad_y)
    assert sorted(vars(est)) == attributes
    assert est.predict(X).equals(before)
    fresh = MultiTaskNetEstimator(tasks={"r": "regression", "k": "binary"}, max_epochs=2)
    with pytest.raises(ValueError):
        fresh.fit(bad_X, bad_y)
    with pytest.raises(NotFittedError):
        fresh.predict(X)
