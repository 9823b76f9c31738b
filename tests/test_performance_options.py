"""The speed options: precision, compile, fused optimizers, mode switching, benchmarks."""

import importlib.util
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_mixed

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._net_speed import _can_fuse

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
FAST = {"hidden_layer_sizes": (8,), "max_epochs": 2, "batch_size": 64, "random_state": 0}


def test_bf16_on_cpu_trains_and_predicts():
    X, y = make_mixed(n_samples=200)
    est = MultiTaskNetEstimator(precision="bf16", **FAST).fit(X, y)
    assert est.net_.precision == "bf16"
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    probas = est.predict_proba(X)
    assert all(p.dtype.kind == "f" and np.isfinite(p).all() for p in probas)
    assert est.predict(X).shape == (200, 3)


def test_bf16_predictions_close_to_float32():
    X, y = make_mixed(n_samples=200)
    est = MultiTaskNetEstimator(**FAST).fit(X, y)
    full = est.predict_proba(X)[0]
    est.net_.precision = "bf16"
    half = est.predict_proba(X)[0]
    np.testing.assert_allclose(half, full, atol=0.05)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"precision": "fp8"}, "'precision' parameter of MultiTaskNetEstimator must be"),
        ({"precision": "fp16", "optimizer": torch.optim.LBFGS, "alpha": 0.0}, "optimizer=LBFGS"),
        ({"compile": "yes"}, "'compile' parameter of MultiTaskNetEstimator must be"),
    ],
)
def test_invalid_options_raise(params, message):
    X, y = make_mixed(n_samples=50)
    with pytest.raises(ValueError, match=message):
        MultiTaskNetEstimator(**FAST, **params).fit(X, y)


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "pcgrad", "mgda", "dbmtl"])
def test_fp16_on_cpu_with_every_kind_of_weighting(weighting):
    """fp16 autocast and the gradient scaler on the CPU (torch has both): gradient-level
    methods take their per-task gradients through the scaler."""
    X, y = make_mixed(n_samples=200)
    params = {**FAST, "max_epochs": 4, "loss_weighting": weighting, "lr": 0.01}
    half = MultiTaskNetEstimator(precision="fp16", **params).fit(X, y)
    full = MultiTaskNetEstimator(**params).fit(X, y)
    assert isinstance(half.net_.grad_scaler_, torch.amp.GradScaler)
    losses = half.history_[:, "train_loss"]
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses, full.history_[:, "train_loss"], rtol=0.05)
    assert all(np.isfinite(list(half.task_weights_.values())))
    restored = pickle.loads(pickle.dumps(half))
    assert restored.net_.grad_scaler_ is None  # rebuilt by the next fp16 step
    np.testing.assert_array_equal(restored.predict(X), half.predict(X))


def _pcgrad_step(scaler, autocast):
    from sklearn_mtl.weighting import BackwardContext, get_weighting

    torch.manual_seed(0)
    trunk, heads = torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)
    X, target = torch.randn(32, 4), torch.randn(32, 3)
    with torch.autocast("cpu", dtype=torch.float16, enabled=autocast):
        z = torch.tanh(trunk(X))
        out = heads(z)
    losses = ((out.float() - target) ** 2).mean(dim=0)
    module = get_weighting("mgda").build(torch.ones(3))
    context = BackwardContext(list(trunk.parameters()), z, scaler)
    return module.step(losses, torch.ones(3, dtype=torch.bool), context)


def test_gradient_level_step_unscales_and_skips_overflow():
    plain = _pcgrad_step(None, autocast=False)
    scaled = _pcgrad_step(torch.amp.GradScaler("cpu", init_scale=1024.0), autocast=False)
    assert not scaled.skipped
    torch.testing.assert_close(scaled.weights, plain.weights)  # unscaled before combining
    torch.testing.assert_close(scaled.objective, plain.objective)
    # float16 gradients of losses scaled by 2^60 overflow: the step is skipped
    huge = _pcgrad_step(torch.amp.GradScaler("cpu", init_scale=2.0**60), autocast=True)
    assert huge.skipped and torch.isnan(huge.objective)
    assert torch.isfinite(huge.loss)


def test_fp16_fit_skips_overflowing_steps_and_backs_off():
    X, y = make_mixed(n_samples=200)
    params = {**FAST, "max_epochs": 1, "loss_weighting": "pcgrad", "precision": "fp16"}
    est = MultiTaskNetEstimator(**params).fit(X, y)
    est.net_.grad_scaler_ = torch.amp.GradScaler("cpu", init_scale=2.0**60)
    before = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    est.partial_fit(X[:64], y[:64])  # one batch: its per-task gradients overflow
    after = est.net_.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the step was skipped
    assert est.net_.grad_scaler_.get_scale() < 2.0**60  # and the scale backed off
    assert np.isfinite(est.history_[-1, "train_loss"])


@pytest.mark.parametrize("weighting", ["fixed", "pcgrad"])
def test_compile_without_code_generation(weighting):
    # aot_eager traces with dynamo and AOTAutograd but generates no C++ code: fast, and
    # it checks that the shared representation stays differentiable (pcgrad needs it).
    X, y = make_mixed(n_samples=120)
    params = {**FAST, "loss_weighting": weighting}
    plain = MultiTaskNetEstimator(**params).fit(X, y)
    compiled = MultiTaskNetEstimator(compile={"backend": "aot_eager"}, **params).fit(X, y)
    assert compiled.net_.compiled_parts_ is not None
    np.testing.assert_allclose(
        compiled.predict_proba(X)[0], plain.predict_proba(X)[0], rtol=1e-4, atol=1e-5
    )
    restored = pickle.loads(pickle.dumps(compiled))
    assert not hasattr(restored.net_, "compiled_parts_")
    np.testing.assert_array_equal(restored.predict(X), compiled.predict(X))


@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="torch.compile's default backend needs a C++ compiler on a CPU",
)
@pytest.mark.skipif(
    os.environ.get("SKLEARN_MTL_TEST_COMPILE") != "1",
    reason="inductor's first compilation takes 15-60 s on a CPU; set SKLEARN_MTL_TEST_COMPILE=1",
)
def test_compile_true_inductor_tiny():
    X, y = make_mixed(n_samples=40, n_features=3)
    params = {**FAST, "max_epochs": 1, "batch_size": 40, "hidden_layer_sizes": (4,)}
    est = MultiTaskNetEstimator(compile=True, **params).fit(X, y)
    assert np.isfinite(est.predict_proba(X)[0]).all()


def test_compile_failure_is_explained(monkeypatch):
    class BackendFailed(Exception):  # stands for torch._dynamo's BackendCompilerFailed
        pass

    BackendFailed.__module__ = "torch._dynamo.exc"

    def broken(function, **options):
        def call(*args):
            raise BackendFailed("no C++ compiler found")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    X, y = make_mixed(n_samples=50)
    with pytest.raises(RuntimeError, match=r"compile=True: torch\.compile could not compile"):
        MultiTaskNetEstimator(compile=True, **FAST).fit(X, y)


def test_fused_optimizers():
    cpu = torch.device("cpu")
    assert _can_fuse(torch.optim.Adam, {"lr": 1e-3}, cpu)
    assert _can_fuse(torch.optim.AdamW, {}, torch.device("cuda"))
    assert not _can_fuse(torch.optim.RMSprop, {}, cpu)  # no fused kernel
    assert not _can_fuse(torch.optim.Adam, {"foreach": True}, cpu)  # the user chose
    assert not _can_fuse(lambda params, lr: None, {}, cpu)
    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(**FAST).fit(X, y)
    assert est.net_.optimizer_.defaults["fused"] is True
    rms = MultiTaskNetEstimator(optimizer="rmsprop", **FAST).fit(X, y)
    assert not rms.net_.optimizer_.defaults.get("fused")


def test_training_mode_restored_after_predict():
    X, y = make_mixed(n_samples=80)
    est = MultiTaskNetEstimator(dropout=0.5, **FAST).fit(X, y)
    est.predict(X)
    assert not est.net_.module_.training
    seen = []
    step = est.net_.train_step_single

    def spy(batch, **kwargs):
        out = step(batch, **kwargs)
        seen.append(est.net_.module_.training and est.net_.criterion_.training)
        return out

    est.net_.train_step_single = spy
    est.partial_fit(X, y)
    assert seen and all(seen)


def _load_common():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("_bench_common", BENCHMARKS / "_common.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_benchmark_loop_has_the_estimators_network():
    # The hand-written loop of the benchmarks must train the same network as the estimator.
    common = _load_common()
    X, y = common.make_data(300, n_features=7)
    est = common.estimator((12, 6), 64, 1).fit(X, y)
    hand = common.PlainNet(7, (12, 6))
    module = est.net_.module_
    trunk = [tuple(p.shape) for p in module.trunk.parameters()]
    assert trunk == [tuple(p.shape) for p in hand.trunk.parameters()]
    # The estimator's three linear heads are one fused matrix: the same values.
    heads = [layer for head in module.task_heads for layer in head]
    assert [tuple(h.weight.shape) for h in heads] == [tuple(h.weight.shape) for h in hand.heads()]
    assert sum(p.numel() for p in module.parameters()) == sum(p.numel() for p in hand.parameters())
    times = common.hand_loop(X, y, hidden=(12, 6), batch_size=64, epochs=2)
    assert len(times) == 2 and all(t > 0 for t in times)


def test_smoke_runner_finds_every_benchmark():
    spec = importlib.util.spec_from_file_location("_run_smoke", BENCHMARKS / "run_smoke.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    names = {path.name for path in runner.scripts()}
    assert {"training_speed.py", "prediction_speed.py", "method_cost.py"} <= names
    assert {"memory_scale.py", "gpu.py", "many_tasks.py"} <= names
    assert not any(name.startswith("_") or name == "run_smoke.py" for name in names)


@pytest.mark.gpu
@pytest.mark.parametrize("weighting", ["fixed", "pcgrad"])
@pytest.mark.parametrize("precision", [None, "bf16", "fp16"])
def test_precisions_on_cuda(precision, weighting):
    X, y = make_mixed(n_samples=200)
    est = MultiTaskNetEstimator(
        device="cuda", precision=precision, loss_weighting=weighting, **FAST
    ).fit(X, y)
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    assert np.isfinite(est.predict_proba(X)[0]).all()
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
