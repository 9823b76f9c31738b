import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny networks: a second thread only adds synchronisation


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def make_mixed(n_samples=300, n_features=6, missing=0.1, seed=0):
    """Regression, binary and multiclass targets driven by shared latent factors."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    latent = X[:, :3] @ rng.normal(size=(3, 3))
    regression = latent[:, 0] + 0.1 * rng.normal(size=n_samples)
    binary = np.where(latent[:, 1] > 0, "yes", "no").astype(object)
    multiclass = np.digitize(latent[:, 2], [-0.7, 0.7]).astype(float)
    y = np.column_stack([regression, binary, multiclass]).astype(object)
    if missing:
        for j in range(3):
            y[rng.random(n_samples) < missing, j] = np.nan
    return X, y


@pytest.fixture
def mixed():
    return make_mixed()


@pytest.fixture
def fast_params():
    return {
        "hidden_layer_sizes": (16,),
        "max_epochs": 15,
        "batch_size": 64,
        "lr": 0.01,
        "random_state": 0,
    }
