"""The real-data loaders: shapes, tasks and splits as the datasets' READMEs describe.

They read the project's shared data folder (``SKLEARN_MTL_DATA`` or ``../shared/data``);
without it, the tests check the clear error and skip the rest.
"""

import numpy as np
import pytest

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.datasets import DATASETS, find_data_dir

try:
    DATA = find_data_dir()
except FileNotFoundError:
    DATA = None

needs_data = pytest.mark.skipif(DATA is None, reason="the shared data folder is absent")

EXPECTED = {
    "wine-quality": (6497, 11, ["colour", "quality"]),
    "student-performance": (382, 30, ["G3_mat", "G3_por", "pass_mat"]),
    "energy-efficiency": (768, 8, ["heating", "cooling"]),
    "abalone": (4177, 7, ["sex", "rings"]),
    "parkinsons-telemonitoring": (5875, 18, ["motor_UPDRS", "total_UPDRS"]),
}


def test_missing_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SKLEARN_MTL_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"\['abalone'\] not found .*SKLEARN_MTL_DATA"):
        DATASETS["abalone"](tmp_path / "nowhere")


@needs_data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_loader_shapes_tasks_and_split(name):
    dataset = DATASETS[name](DATA)
    rows, features, tasks = EXPECTED[name]
    assert dataset.X.shape == (rows, features) and list(dataset.y.columns) == tasks
    assert list(dataset.tasks) == tasks
    train, test = dataset.splits()[0]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == rows
    if dataset.groups is not None:  # patients never straddle the split
        assert not set(dataset.groups[train]) & set(dataset.groups[test])
    small = dataset.subsample(50)
    assert len(small.X) == len(small.y) == 50


@needs_data
def test_a_loader_feeds_the_estimator():
    dataset = DATASETS["energy-efficiency"](DATA).subsample(200)
    X = dataset.X.drop(columns=dataset.categorical).to_numpy()
    est = MultiTaskNetEstimator(tasks=dataset.tasks, hidden_layer_sizes=(8,), max_epochs=2)
    assert est.fit(X, dataset.y).predict(X).shape == (200, 2)
