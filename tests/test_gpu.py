"""Device handling. Tests marked ``gpu`` need CUDA and are skipped without it (CI has none)."""

import pickle

import numpy as np
import pytest
import torch
from conftest import make_mixed

from sklearn_mtl import MultiTaskNetEstimator

PARAMS = {"hidden_layer_sizes": (16,), "max_epochs": 5, "lr": 0.01, "random_state": 0}
_MODEL_STATE = ("module_", "criterion_", "optimizer_")


def _loose_tensors(value) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, list | tuple):
        return any(_loose_tensors(v) for v in value)
    if isinstance(value, dict):
        return any(_loose_tensors(v) for v in value.values())
    return False


def test_no_tensor_outside_modules_after_fit():
    """What makes a GPU-fitted model unpickle on a CPU machine: skorch remaps the module,
    criterion and optimizer; a tensor in any other attribute would stay a CUDA tensor."""
    X, y = make_mixed()
    est = MultiTaskNetEstimator(early_stopping=True, **PARAMS).fit(X, y)
    loose = [k for k, v in vars(est.net_).items() if k not in _MODEL_STATE and _loose_tensors(v)]
    loose += [k for k, v in vars(est).items() if k != "net_" and _loose_tensors(v)]
    assert loose == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    X, y = make_mixed()
    with pytest.raises(ValueError, match="CUDA is not available"):
        MultiTaskNetEstimator(device="cuda", **PARAMS).fit(X, y)


@pytest.mark.gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "auto"])
def test_fit_and_predict_on_the_gpu(device):
    X, y = make_mixed()
    est = MultiTaskNetEstimator(device=device, **PARAMS).fit(X, y)
    assert next(est.net_.module_.parameters()).is_cuda
    cpu = MultiTaskNetEstimator(device="cpu", **PARAMS).fit(X, y)
    assert est.score(X, y) == pytest.approx(cpu.score(X, y), abs=0.1)


@pytest.mark.gpu
def test_gpu_model_unpickles_and_predicts_without_cuda(monkeypatch):
    X, y = make_mixed()
    est = MultiTaskNetEstimator(device="cuda", **PARAMS).fit(X, y)
    expected = est.predict_proba(X)
    blob = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA"):
        restored = pickle.loads(blob)
    assert str(restored.net_.device) == "cpu"
    for got, want in zip(restored.predict_proba(X), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
