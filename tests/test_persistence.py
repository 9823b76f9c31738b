"""Saving and loading without pickle: round trips, tampered files, versions, devices."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mixed
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._persistence import SavedVersionWarning
from sklearn_mtl.architectures import MMoE
from sklearn_mtl.weighting import DynamicWeightAverage

pytest.importorskip("safetensors")

FAST = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 4,
    "batch_size": 64,
    "lr": 0.01,
    "random_state": 0,
}


def _assert_same_model(a, b, X):
    prediction_a, prediction_b = a.predict(X), b.predict(X)
    if isinstance(prediction_a, pd.DataFrame):
        pd.testing.assert_frame_equal(prediction_a, prediction_b)
    else:
        np.testing.assert_array_equal(prediction_a, prediction_b)
    for name, tensor in a.net_.module_.state_dict().items():
        assert torch.equal(tensor, b.net_.module_.state_dict()[name]), name
    assert set(vars(a)) == set(vars(b))
    assert a.n_iter_ == b.n_iter_ and a.task_weights_ == b.task_weights_

    def without_time(history):
        return [{k: v for k, v in row.items() if k != "dur"} for row in history]

    assert without_time(a.history_) == without_time(b.history_)
    params_a, params_b = a.get_params(deep=False), b.get_params(deep=False)
    if isinstance(params_a["random_state"], np.random.RandomState):
        state_a, state_b = params_a.pop("random_state"), params_b.pop("random_state")
        np.testing.assert_array_equal(state_a.get_state()[1], state_b.get_state()[1])
    assert repr(params_a) == repr(params_b)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {
            "architecture": MMoE(n_experts=2, expert_layer_sizes=(6,)),
            "loss_weighting": "uncertainty",
        },
        {"architecture": "ple", "loss_weighting": DynamicWeightAverage(temperature=1.5)},
        {"loss_weighting": "dbmtl", "task_weights": {"task1": 0.5}, "optimizer": "sgd"},
        {"early_stopping": True, "n_iter_no_change": 2, "batch_norm": True, "dropout": 0.1},
        {
            "tasks": [Task("r", "regression"), Task("b", "binary"), Task("m", "multiclass")],
            "random_state": np.random.RandomState(3),
        },
    ],
    ids=["default", "mmoe-uncertainty", "ple-dwa", "dbmtl-sgd", "early-stopping", "tasks"],
)
def test_round_trip_predicts_the_same(tmp_path, params):
    X, y = make_mixed()
    est = MultiTaskNetEstimator(**{**FAST, **params}).fit(X, y)
    path = tmp_path / "model.mtl"
    assert est.save(path) is est
    loaded = MultiTaskNetEstimator.load(path)
    _assert_same_model(est, loaded, X)
    for a, b in zip(est.predict_proba(X), loaded.predict_proba(X), strict=True):
        np.testing.assert_array_equal(a, b)


def test_round_trip_dataframes_string_labels_and_multilabel(tmp_path):
    X, y = make_mixed(missing=0.2)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    Y = pd.DataFrame(
        {
            "spend": y[:, 0].astype(float),
            "bought": y[:, 1],
            "a": X["f0"] > 0,
            "b": (X["f1"] > 0).astype(int),
        }
    )
    tasks = [
        Task("spend", "regression"),
        Task("bought"),
        Task("prefs", "multilabel", columns=["a", "b"]),
    ]
    est = MultiTaskNetEstimator(
        tasks=tasks, task_relation="mtrl", head_layer_sizes=(4,), record_task_affinity=2, **FAST
    ).fit(X, Y)
    path = tmp_path / "model.mtl"
    loaded = MultiTaskNetEstimator.load(est.save(path) and path)
    _assert_same_model(est, loaded, X)
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    np.testing.assert_allclose(np.asarray(loaded.task_relation_), np.asarray(est.task_relation_))
    np.testing.assert_array_equal(np.asarray(loaded.task_affinity_), np.asarray(est.task_affinity_))
    y1 = y[:, 1]
    one = MultiTaskNetEstimator(**FAST).fit(X.to_numpy(), y1)  # 1-D y with string labels
    loaded = MultiTaskNetEstimator.load(one.save(tmp_path / "one.mtl") and tmp_path / "one.mtl")
    assert loaded.predict(X.to_numpy()).ndim == 1 and set(loaded.classes_) == {"no", "yes"}
    _assert_same_model(one, loaded, X.to_numpy())


def test_warm_start_after_load_continues_like_the_original(tmp_path):
    X, y = make_mixed()
    est = MultiTaskNetEstimator(**FAST).fit(X, y)
    loaded = MultiTaskNetEstimator.load(est.save(tmp_path / "m.mtl") and tmp_path / "m.mtl")
    # the optimizer state (Adam moments) travels in the file, so both continue alike
    for model in (est, loaded):
        model.set_params(warm_start=True, max_epochs=2).fit(X, y)
    _assert_same_model(est, loaded, X)


def test_load_leaves_the_global_random_state_alone(tmp_path):
    X, y = make_mixed()
    est = MultiTaskNetEstimator(**FAST).fit(X, y).save(tmp_path / "m.mtl")
    state = torch.get_rng_state()
    MultiTaskNetEstimator.load(tmp_path / "m.mtl")
    assert torch.equal(state, torch.get_rng_state())
    assert est.n_iter_ == 4


class _Evil:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _rewrite(path, meta=None, weights=None):
    with zipfile.ZipFile(path) as archive:
        old_meta = json.loads(archive.read("metadata.json"))
        old_weights = archive.read("weights.safetensors")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(meta if meta is not None else old_meta))
        archive.writestr("weights.safetensors", weights if weights is not None else old_weights)
    return old_meta


@pytest.fixture
def saved(tmp_path):
    X, y = make_mixed(n_samples=120)
    path = tmp_path / "model.mtl"
    MultiTaskNetEstimator(**FAST).fit(X, y).save(path)
    return path


def test_pickle_payload_in_the_weights_does_not_run(saved, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(marker))
    pickle.loads(payload)  # the payload works when unpickled ...
    assert marker.exists()
    marker.unlink()
    _rewrite(saved, weights=payload)
    with pytest.raises(ValueError, match="not a valid safetensors"):
        MultiTaskNetEstimator.load(saved)
    torch_payload = tmp_path / "torch.pt"
    torch.save({"module.trunk.0.0.weight": _Evil(marker)}, torch_payload)
    _rewrite(saved, weights=torch_payload.read_bytes())
    with pytest.raises(ValueError, match="not a valid safetensors"):
        MultiTaskNetEstimator.load(saved)
    assert not marker.exists()  # ... but loading never unpickled it


def test_a_pickle_or_joblib_file_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    for path in (tmp_path / "evil.pkl", tmp_path / "evil.joblib"):
        if path.suffix == ".pkl":
            path.write_bytes(pickle.dumps(_Evil(marker)))
        else:
            joblib.dump(_Evil(marker), path)
        with pytest.raises(ValueError, match="not an sklearn-mtl model file"):
            MultiTaskNetEstimator.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "tamper, match",
    [
        (
            lambda m: m["params"].update(
                architecture={"__architecture__": "os.system", "params": {"command": "touch x"}}
            ),
            "not one of sklearn-mtl's",
        ),
        (
            lambda m: m["params"].update(
                loss_weighting={"__weighting__": "subprocess.Popen", "params": {}}
            ),
            "not one of sklearn-mtl's",
        ),
        (
            lambda m: m["params"].update(optimizer={"__optimizer__": "builtins.eval"}),
            "not one of sklearn-mtl's",
        ),
        (
            lambda m: m["params"].update(tasks={"__task__": {"name": "a", "evil": 1}}),
            "not a valid task",
        ),
        (lambda m: m["fitted"].pop("encoders_"), "malformed"),
        (lambda m: m.update(format_version=99), "format version 99"),
        (lambda m: m.update(format="pickle"), "not an sklearn-mtl model file"),
    ],
    ids=[
        "architecture-path",
        "weighting-path",
        "optimizer-path",
        "task-fields",
        "missing",
        "newer-format",
        "format-tag",
    ],
)
def test_tampered_metadata_raises_value_error(saved, tamper, match):
    meta = _rewrite(saved)
    tamper(meta)
    _rewrite(saved, meta=meta)
    with pytest.raises(ValueError, match=match):
        MultiTaskNetEstimator.load(saved)


def test_weights_that_do_not_fit_the_network_are_refused(saved):
    from safetensors.torch import save as save_tensors

    _rewrite(saved, weights=save_tensors({"module.trunk.0.0.weight": torch.zeros(2, 2)}))
    with pytest.raises(ValueError, match=r"does not fit|the network described by the file has"):
        MultiTaskNetEstimator.load(saved)


def test_a_file_from_another_version_warns(saved):
    meta = _rewrite(saved)
    meta["versions"]["sklearn_mtl"] = "0.0.1"
    _rewrite(saved, meta=meta)
    with pytest.warns(SavedVersionWarning, match=r"written by sklearn-mtl 0\.0\.1"):
        MultiTaskNetEstimator.load(saved)


def test_custom_trunk_points_to_pickle(tmp_path):
    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(architecture=nn.Identity, **FAST).fit(X, y)
    with pytest.raises(TypeError, match="pickle or joblib"):
        est.save(tmp_path / "custom.mtl")
    assert not (tmp_path / "custom.mtl").exists()
    restored = pickle.loads(pickle.dumps(est))  # pickle stays supported
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


def test_callbacks_are_not_saved_and_a_warning_says_so(tmp_path):
    from skorch.callbacks import EpochTimer

    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(callbacks=[("timer", EpochTimer())], **FAST).fit(X, y)
    with pytest.warns(UserWarning, match="callbacks"):
        est.save(tmp_path / "m.mtl")
    assert MultiTaskNetEstimator.load(tmp_path / "m.mtl").callbacks is None


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MultiTaskNetEstimator().save(tmp_path / "m.mtl")


def _tensors_outside_modules(obj, path="", seen=None):
    """Paths of tensors reachable from obj's attributes, not inside a torch module."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, nn.Module | torch.optim.Optimizer):
        return []
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return [path]
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = vars(obj).items()
    else:
        return []
    found = []
    for key, value in items:
        found += _tensors_outside_modules(value, f"{path}.{key}", seen)
    return found


def test_no_tensor_outside_modules_is_pickled():
    """A CUDA tensor outside a module would not unpickle without a GPU: keep none."""
    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(
        record_task_affinity=True,
        task_relation="mtrl",
        head_layer_sizes=(4,),
        early_stopping=True,
        **FAST,
    ).fit(X, y)
    state = est.net_.__getstate__()
    cuda_dependent = [
        k
        for k in state
        if k.endswith("_") and k.rstrip("_") in ("module", "criterion", "optimizer")
    ]
    for key in cuda_dependent:
        state.pop(key)
    state.pop("__cuda_dependent_attributes__")
    assert _tensors_outside_modules(state) == []
    est_state = {k: v for k, v in vars(est).items() if k != "net_"}
    assert _tensors_outside_modules(est_state) == []


_LOAD_ON_CPU = textwrap.dedent(
    """
    import sys, warnings, joblib, numpy as np, torch
    from sklearn_mtl import MultiTaskNetEstimator
    assert not torch.cuda.is_available()
    X = np.load(sys.argv[1] + "/X.npy")
    expected = np.load(sys.argv[1] + "/expected.npy", allow_pickle=True)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        loaded = MultiTaskNetEstimator.load(sys.argv[1] + "/model.mtl")
    unpickled = joblib.load(sys.argv[1] + "/model.joblib")
    for model in (loaded, unpickled):
        np.testing.assert_allclose(model.predict(X).astype(float), expected.astype(float),
                                   rtol=1e-4, atol=1e-4)
    print("ok")
    """
)


@pytest.mark.gpu
def test_a_model_fitted_on_a_gpu_loads_on_a_cpu_only_machine(tmp_path):
    X, y = make_mixed(missing=0)
    y = y.copy()
    y[:, 1] = (y[:, 1] == "yes").astype(float)
    y = y.astype(float)
    est = MultiTaskNetEstimator(device="cuda", record_task_affinity=True, **FAST).fit(X, y)
    est.save(tmp_path / "model.mtl")
    joblib.dump(est, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", est.predict(X))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_ON_CPU, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
