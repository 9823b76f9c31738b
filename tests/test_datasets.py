"""The real-data loaders: shapes, tasks and splits as the datasets' READMEs describe.

They read the project's shared data folder (the ``SKLEARN_MTL_DATA`` environment variable);
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

needs_data = pytest.mark.skipif(
    DATA is None,
    reason="the shared data folder is absent: set SKLEARN_MTL_DATA to the folder of the "
    "real datasets to run these tests",
)

EXPECTED = {
    "wine-quality": (6497, 11, ["colour", "quality"]),
    "student-performance": (382, 30, ["G3_mat", "G3_por", "pass_mat"]),
    "energy-efficiency": (768, 8, ["heating", "cooling"]),
    "abalone": (4177, 7, ["sex", "rings"]),
    "parkinsons-telemonitoring": (5875, 18, ["motor_UPDRS", "total_UPDRS"]),
    "emotions-multilabel": (593, 72, ["emotions"]),
    "scene-multilabel": (2407, 294, ["scene"]),
    "bike-sharing": (731, 11, ["casual", "registered"]),
    "sarcos": (4449, 21, [f"torque{j}" for j in range(7)]),
    "diamonds": (53940, 8, ["log_price", "cut"]),
    "school": (15362, 27, [f"school_{t:03d}" for t in range(139)]),
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
    assert dataset.X.shape == (rows, features)
    assert [task.name for task in dataset.task_list] == tasks
    assert [c for task in dataset.task_list for c in task.columns] == list(dataset.y.columns)
    train, test = dataset.splits()[-1]  # the one fold of a time split that uses all rows
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


@needs_data
@pytest.mark.parametrize("name", ["emotions-multilabel", "scene-multilabel"])
def test_multilabel_loaders(name):
    dataset = DATASETS[name](DATA)
    (task,) = dataset.task_list
    assert task.kind == "multilabel" and len(task.columns) == 6
    assert set(np.unique(dataset.y.to_numpy())) == {0, 1}
    assert not set(task.columns) & set(dataset.X.columns)
    splits = dataset.splits()
    if name == "scene-multilabel":  # the official split, one fold
        assert [(len(train), len(test)) for train, test in splits] == [(1211, 1196)]
    else:  # no official split: 5 shuffled folds covering every row once
        assert len(splits) == 5
        assert sorted(np.concatenate([test for _, test in splits])) == list(range(593))
        assert not all(np.all(np.diff(test) == 1) for _, test in splits)
    small = dataset.subsample(100)  # a predefined split follows the rows kept
    assert all(len(train) + len(test) == 100 for train, test in small.splits())


@needs_data
def test_bike_sharing_is_split_in_time_without_leaks():
    dataset = DATASETS["bike-sharing"](DATA)
    assert dataset.tasks == {"casual": "regression", "registered": "regression"}
    assert not {"cnt", "casual", "registered", "dteday", "instant"} & set(dataset.X.columns)
    splits = dataset.splits()
    assert len(splits) == 5
    for train, test in splits:  # train on the past, test on the days that follow
        assert train.max() < test.min() and np.all(np.diff(test) == 1)


@needs_data
def test_sarcos_folds_are_contiguous_blocks():
    dataset = DATASETS["sarcos"](DATA)
    assert set(dataset.tasks.values()) == {"regression"} and len(dataset.tasks) == 7
    assert not set(dataset.y.columns) & set(dataset.X.columns)
    splits = dataset.splits()
    assert len(splits) == 5
    assert [test.min() for _, test in splits] == sorted(test.min() for _, test in splits)
    assert all(np.all(np.diff(test) == 1) for _, test in splits)


@needs_data
def test_diamonds_tasks_and_no_price_in_inputs():
    dataset = DATASETS["diamonds"](DATA)
    assert dataset.tasks == {"log_price": "regression", "cut": "multiclass"}
    assert not {"price", "cut", "log_price"} & set(dataset.X.columns)
    assert dataset.categorical == ["color", "clarity"]
    assert dataset.y["cut"].nunique() == 5
    assert np.allclose(np.exp(dataset.y["log_price"]).min(), 326)
    assert len(dataset.splits()) == 5


@needs_data
def test_school_has_one_task_per_school_on_disjoint_rows():
    dataset = DATASETS["school"](DATA)
    assert dataset.X.shape == (15362, 27) and dataset.y.shape == (15362, 139)
    assert len(dataset.tasks) == 139 and set(dataset.tasks.values()) == {"regression"}
    labelled = dataset.y.notna().to_numpy()
    assert np.all(labelled.sum(axis=1) == 1)  # each student scored in their school only
    assert np.array_equal(labelled.argmax(axis=1), dataset.stratify)
    assert not np.any(dataset.X.nunique() == 1)  # the constant bias column is dropped
    counts = np.bincount(dataset.stratify)
    assert counts.min() == 22 and counts.max() == 251
    splits = dataset.splits()
    assert len(splits) == 10
    for train, test in splits[:3]:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 15362
        share = np.bincount(dataset.stratify[test], minlength=139) / counts
        assert np.all(np.abs(share - 0.25) < 0.05)  # about a quarter of each school
    assert not np.array_equal(splits[0][1], splits[1][1])  # random repetitions


def test_skip_reason_names_the_environment_variable():
    assert "SKLEARN_MTL_DATA" in needs_data.kwargs["reason"]


def test_make_shop_is_a_small_mixed_table_with_missing_labels():
    pytest.importorskip("pandas")
    from sklearn_mtl.datasets import make_shop

    X, Y = make_shop(n_samples=200, missing=0.25, random_state=1)
    assert X.shape == (200, 3) and Y.shape == (200, 4)
    assert set(X["channel"]) == {"web", "app", "store"}
    assert Y["bought"].isna().sum() == 50
    assert (Y["pref_books"].isna() == Y["pref_music"].isna()).all()
    assert Y["spend"].notna().all()
    X2, Y2 = make_shop(n_samples=200, missing=0.25, random_state=1)
    assert X.equals(X2) and Y.equals(Y2)
    with pytest.raises(ValueError, match=r"missing must be in \[0, 1\); got 1.5"):
        make_shop(missing=1.5)


@needs_data
def test_census_income_loader():
    from sklearn_mtl.datasets import load_census_income

    census = load_census_income(DATA)
    assert census.X.shape == (99762, 39)
    assert list(census.y.columns) == ["income_50k", "never_married"]
    assert not {"instance_weight", "income_50k", "marital_stat"} & set(census.X.columns)
    assert abs(census.y["income_50k"].mean() - 0.062) < 0.001  # the README's 6.2 %
    assert abs(census.y["never_married"].mean() - 0.432) < 0.001
    ((train, test),) = census.splits()
    assert abs(len(train) - len(test)) <= 1 and not np.intersect1d(train, test).size


def test_no_folder_given_names_the_environment_variable(tmp_path, monkeypatch):
    """The installed library assumes no layout of its own: data_dir or SKLEARN_MTL_DATA."""
    monkeypatch.delenv("SKLEARN_MTL_DATA", raising=False)
    (tmp_path / "shared" / "data" / "abalone").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "shared")  # ../shared/data exists from here: not used
    with pytest.raises(FileNotFoundError, match=r"no data folder was given.*SKLEARN_MTL_DATA"):
        DATASETS["abalone"]()
