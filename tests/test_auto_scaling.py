"""numeric_scaling="auto": "squashing" for heavy-tailed columns, "standard" for the others."""

import copy
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import RobustScaler, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._input import InputEncoder
from sklearn_mtl._input_layer import InputLayer
from sklearn_mtl._scaling import AUTO_MAX_Z, is_heavy_tailed, resolve_auto

PARAMS = {
    "hidden_layer_sizes": (16,),
    "max_epochs": 3,
    "early_stopping": False,
    "random_state": 0,
    "numeric_scaling": "auto",
}


def heavy_table(n=600, seed=0):
    """Two heavy-tailed columns (a lognormal, a normal with one gross error), two clean
    ones (a normal, a uniform), a rare indicator and a string column."""
    rng = np.random.default_rng(seed)
    typo = rng.normal(50.0, 5.0, n)
    typo[3] = 5e4  # one value typed 1000 times too large
    X = pd.DataFrame(
        {
            "salary": rng.lognormal(10, 1.5, n),
            "hours": typo,
            "age": rng.normal(40, 10, n),
            "score": rng.uniform(0, 1, n),
            "rare": (rng.random(n) < 0.01).astype(float),
            "city": rng.choice(["paris", "lyon"], n),
        }
    )
    y = np.log(X["salary"]) + X["age"] / 10 + (X["city"] == "paris")
    return X, y.to_numpy()


# -- the rule --------------------------------------------------------------------------
def test_rule_flags_tails_and_outliers_only():
    rng = np.random.default_rng(0)
    assert not is_heavy_tailed(rng.normal(size=100_000))  # largest |z| about 4.5
    assert not is_heavy_tailed(rng.uniform(size=100_000))
    assert not is_heavy_tailed(rng.integers(0, 5, size=10_000).astype(float))
    assert is_heavy_tailed(rng.lognormal(0.0, 1.5, size=2_000))
    assert is_heavy_tailed(rng.pareto(1.5, size=2_000))
    assert is_heavy_tailed(np.r_[rng.normal(size=999), 1e3])  # one gross error
    rare = np.zeros(10_000)
    rare[:5] = 1.0  # |z| = 44.7, but an indicator has no tail
    assert not is_heavy_tailed(rare)
    assert not is_heavy_tailed(np.full(100, 3.0))  # constant
    # |z| cannot exceed (n - 1) / sqrt(n): no column of fewer than 66 rows is flagged
    assert not is_heavy_tailed(np.r_[np.zeros(32), np.ones(32), 1e9])  # 65 rows
    assert is_heavy_tailed(np.r_[np.zeros(35), np.ones(34), 1e9])  # 70 rows


def test_rule_threshold_is_the_standard_scaled_extreme():
    n = 10_000
    column = np.r_[np.linspace(-1.0, 1.0, n), 0.0]
    std = column.std()
    below, above = column.copy(), column.copy()
    below[-1] = (AUTO_MAX_Z - 0.5) * std  # the outlier moves the std little at this n
    above[-1] = (AUTO_MAX_Z + 0.5) * std
    assert not is_heavy_tailed(below)
    assert is_heavy_tailed(above)


def test_resolve_auto_keeps_other_methods_and_ignores_nan():
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.lognormal(0, 2, 500), rng.normal(size=500)] * 2)
    values[::5, 0] = np.nan
    missing = np.isnan(values)
    methods = ["auto", "auto", "robust", None]
    assert resolve_auto(values, missing, methods) == ["squashing", "standard", "robust", None]
    assert methods == ["auto", "auto", "robust", None]  # the input is left alone


# -- the encoder and the input layer ------------------------------------------------------
def test_auto_scales_heavy_columns_by_squashing_and_clean_ones_by_standard():
    X, _ = heavy_table()
    encoder = InputEncoder(numeric_scaling="auto").fit(X)
    assert encoder.column_scalings_ == {
        "salary": "squashing",
        "hours": "squashing",
        "age": "standard",
        "score": "standard",
        "rare": "standard",
    }
    layer = InputLayer(encoder, one_hot_max_categories=16)
    with torch.no_grad():
        out = layer(torch.from_numpy(encoder.transform(X))).numpy()
    numbers = X.drop(columns="city").to_numpy()
    robust = RobustScaler().fit_transform(numbers[:, :2])
    np.testing.assert_allclose(out[:, :2], robust / np.sqrt(1 + (robust / 3) ** 2), atol=1e-4)
    standard = StandardScaler().fit_transform(numbers[:, 2:])
    np.testing.assert_allclose(out[:, 2:5], standard, atol=1e-4)
    assert np.abs(out[:, :2]).max() < 3  # the outlier and the tail are bounded
    # the bulk of "hours" keeps its spread: standard scaling would squeeze it to ~0.005
    assert np.std(np.delete(out[:, 1], 3)) > 0.5


def test_auto_in_a_dict_and_on_arrays():
    X, _ = heavy_table()
    encoder = InputEncoder(numeric_scaling={"salary": "auto", "age": "auto"}).fit(X)
    assert encoder.scalings_ == ["squashing", "standard", "standard", "standard", "standard"]
    array = X.drop(columns="city").to_numpy()
    encoder = InputEncoder(numeric_scaling="auto").fit(array)
    assert encoder.column_scalings_ == {
        0: "squashing", 1: "squashing", 2: "standard", 3: "standard", 4: "standard"
    }  # fmt: skip


# -- the estimator -------------------------------------------------------------------------
def test_auto_leaves_what_it_is_given_unmodified():
    X, y = heavy_table()
    X_before, y_before = X.copy(), y.copy()
    est = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    assert est.numeric_scaling == "auto"
    assert est.input_encoder_.scalings_ == ["squashing", "squashing"] + ["standard"] * 3
    spec = {"salary": "auto", "score": None}
    given = copy.deepcopy(spec)
    est = MultiTaskNetEstimator(**{**PARAMS, "numeric_scaling": spec}).fit(X, y)
    assert est.numeric_scaling is spec and spec == given
    assert est.input_encoder_.scalings_ == ["squashing", "standard", "standard", None, "standard"]
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


def test_auto_is_refit_on_each_fit():
    X, y = heavy_table()
    est = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    assert est.input_encoder_.column_scalings_["hours"] == "squashing"
    clean = X.drop(index=3)  # without its gross error, "hours" is a normal column
    est.fit(clean, y[clean.index])
    assert est.input_encoder_.column_scalings_["hours"] == "standard"


def test_auto_survives_save_load_and_pickle(tmp_path):
    X, y = heavy_table()
    X.loc[::7, "salary"] = np.nan
    est = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    expected = est.predict(X)
    path = tmp_path / "model.mtl"
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    assert loaded.numeric_scaling == "auto"
    assert loaded.input_encoder_.scalings_ == est.input_encoder_.scalings_
    np.testing.assert_array_equal(loaded.predict(X), expected)
    unpickled = pickle.loads(pickle.dumps(est))
    assert unpickled.input_encoder_.column_scalings_ == est.input_encoder_.column_scalings_
    np.testing.assert_array_equal(unpickled.predict(X), expected)


def test_a_saved_unresolved_auto_is_refused(tmp_path):
    X, y = heavy_table(n=200)
    path = tmp_path / "model.mtl"
    MultiTaskNetEstimator(**PARAMS).fit(X, y).save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    text = files["metadata.json"].decode()
    assert text.count('"squashing"') >= 1
    files["metadata.json"] = text.replace('"squashing"', '"auto"').encode()
    json.loads(files["metadata.json"])
    tampered = tmp_path / "tampered.mtl"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="a saved column scaling must be one of"):
        MultiTaskNetEstimator.load(tampered)


def test_old_encoder_state_without_auto_still_loads():
    """A state saved before "auto" (numeric_scaling "standard", no "auto" anywhere)."""
    X, _ = heavy_table(n=200)
    encoder = InputEncoder(numeric_scaling="standard").fit(X)
    meta, arrays = encoder.state()
    old = {key: value for key, value in meta.items() if key != "scalings_"}  # older still
    for state in (meta, old):
        again = InputEncoder.from_state(json.loads(json.dumps(state)), arrays)
        assert again.scalings_ == ["standard"] * 5
