"""Raw tables in: numbers of any scale, categories, strings, booleans and NaN in X."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, RobustScaler, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._input import InputEncoder
from sklearn_mtl._input_layer import InputLayer

PARAMS = {"hidden_layer_sizes": (32,), "max_epochs": 40, "random_state": 0, "batch_size": 64}


def make_table(n=400, seed=0):
    """Numbers on very different scales, a string, a category and a boolean column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),  # heavy tail, ~1e4-1e5
            "age": rng.integers(18, 90, n).astype(float),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
            "member": rng.random(n) > 0.5,
        }
    )
    signal = (
        np.log(X["income"])
        - 10
        + (X["age"] - 50) / 20
        + X["city"].map({"paris": 1.0, "lyon": 0.0, "nice": -1.0})
        + (X["plan"] == "pro")
        + 0.5 * X["member"]
    ).to_numpy(dtype=float)
    y = pd.DataFrame({"spend": signal + 0.1 * rng.normal(size=n), "churn": signal > 0.5})
    return X, y


def test_raw_dataframe_fits_predicts_and_scores():
    X, y = make_table()
    X_before = X.copy()
    est = MultiTaskNetEstimator(**PARAMS).fit(X.iloc[:300], y.iloc[:300])
    pd.testing.assert_frame_equal(X, X_before)  # the user's table is left alone
    assert list(est.feature_names_in_) == list(X.columns) and est.n_features_in_ == 5
    scores = est.score_tasks(X.iloc[300:], y.iloc[300:])
    assert scores["spend"] > 0.8 and scores["churn"] > 0.8
    assert list(est.predict(X.iloc[300:]).columns) == ["spend", "churn"]


def test_unscaled_numbers_are_scaled_inside():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = X @ [1.0, -1.0, 0.5, 0.0]
    raw = X * [1e4, 1e-3, 1.0, 1e6] + [1e5, 0.0, -50.0, 0.0]  # offsets and scales
    scores = {
        scaling: MultiTaskNetEstimator(**PARAMS, numeric_scaling=scaling)
        .fit(raw[:300], y[:300])
        .score(raw[300:], y[300:])
        for scaling in ("squashing", "robust", "standard", "quantile", None)
    }
    assert min(scores["squashing"], scores["robust"], scores["standard"]) > 0.9
    assert scores["quantile"] > 0.8
    assert scores[None] < 0.5  # what a user got before, with no scaler in front


def test_strings_and_categories_give_the_same_model():
    X, y = make_table()
    as_category = X.assign(city=X["city"].astype("category"))
    as_object = X.assign(plan=X["plan"].astype(object), member=X["member"].astype(object))
    first = MultiTaskNetEstimator(**PARAMS).fit(as_category, y).predict(as_category)
    second = MultiTaskNetEstimator(**PARAMS).fit(as_object, y).predict(as_object)
    pd.testing.assert_frame_equal(first, second)


def test_ten_percent_nan_fits_predicts_and_scores():
    X, y = make_table(seed=1)
    rng = np.random.default_rng(0)
    for column in ("income", "age"):
        X.loc[rng.random(len(X)) < 0.1, column] = np.nan
    X.loc[rng.random(len(X)) < 0.1, "city"] = None
    est = MultiTaskNetEstimator(**PARAMS).fit(X.iloc[:300], y.iloc[:300])
    assert est.input_encoder_.missing_.tolist() == [True, True]
    assert np.isfinite(est.predict(X.iloc[300:])["spend"]).all()
    scores = est.score_tasks(X.iloc[300:], y.iloc[300:])
    assert scores["spend"] > 0.6 and scores["churn"] > 0.7
    # A NaN where fit saw none is imputed too.
    X_new = X.iloc[300:].assign(member=X["member"].iloc[300:])
    X_new.iloc[0, X.columns.get_loc("age")] = np.nan
    assert np.isfinite(est.predict(X_new)["spend"]).all()


def test_numeric_array_with_nan_and_sparse_matrix():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * 100
    y = X[:, 0] > 0
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.1] = np.nan
    est = MultiTaskNetEstimator(**PARAMS).fit(X_nan, y)
    assert est.score(X_nan, y) > 0.8
    assert est.input_encoder_.missing_.all()
    est = MultiTaskNetEstimator(**PARAMS).fit(sp.csr_matrix(X), y)
    assert est.score(sp.csr_matrix(X), y) > 0.8
    with pytest.raises(ValueError, match="infinity"):
        MultiTaskNetEstimator(**PARAMS).fit(np.where(X > 250, np.inf, X), y)


def test_unseen_category_goes_to_the_unknown_bucket():
    X, y = make_table()
    est = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    new = X.iloc[[0] * 5].copy()  # one customer, five cities
    new["city"] = ["rome", "berlin", None, "paris", "oslo"]
    encoded = est.input_encoder_.transform(new)
    city = est.input_encoder_.columns_[2]
    assert city.categories == ["lyon", "nice", "paris"] and not city.has_nan
    assert encoded[:, 2].tolist() == [0, 0, 0, 3, 0]  # numbers first, then the codes
    predictions = est.predict(new)
    assert predictions.shape == (5, 2)
    # The unknown bucket is all zeros: rome and berlin predict the same.
    assert predictions["spend"].iloc[0] == pytest.approx(predictions["spend"].iloc[1], abs=1e-6)


def test_nan_is_its_own_category():
    X, _ = make_table()
    X.loc[::5, "city"] = np.nan
    encoder = InputEncoder().fit(X)
    city = encoder.columns_[2]
    assert city.has_nan and city.n_codes == 5  # unknown, three cities, NaN
    assert set(encoder.transform(X)[::5, 2]) == {4.0}


@pytest.mark.parametrize("declared", [["age"], [1], np.array([False, True, False, False, False])])
def test_categorical_features_declares_integer_columns(declared):
    X, y = make_table()
    X["age"] = (X["age"] // 10).astype(int)
    encoder = InputEncoder(categorical_features=declared).fit(X)
    assert encoder.columns_[1].categories == sorted(X["age"].unique().tolist())
    est = MultiTaskNetEstimator(**PARAMS, categorical_features=declared).fit(X, y)
    assert est.score(X, y) > 0.7


def test_integer_categories_in_a_numeric_array():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 40, 300)])
    y = X[:, 0] + (X[:, 1] % 3 == 0)
    est = MultiTaskNetEstimator(**PARAMS, categorical_features=[1], one_hot_max_categories=8)
    est.fit(X, y)
    assert isinstance(est.net_.module_.input.embeddings[0], torch.nn.Embedding)
    assert est.net_.module_.input.embeddings[0].num_embeddings == 41  # 40 values + unknown
    assert est.score(X, y) > 0.5


def test_one_hot_below_and_embedding_above_the_threshold():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"few": rng.choice(list("abc"), n), "many": rng.choice(list("abcdefghij"), n)})
    y = (X["few"] == "a").astype(float) + (X["many"] < "e")
    est = MultiTaskNetEstimator(**PARAMS, one_hot_max_categories=5).fit(X, y)
    layer = est.net_.module_.input
    assert layer.one_hot_width == 3 and len(layer.embeddings) == 1
    assert layer.out_features == 3 + layer.embeddings[0].embedding_dim
    assert est.score(X, y) > 0.8


@pytest.mark.parametrize(
    "column, match",
    [
        (pd.Series([np.nan] * 50), "'bad' has no value at all"),
        (pd.Series(pd.date_range("2020", periods=50)), "datetimes.*dt.year"),
        (pd.Series(pd.to_timedelta(np.arange(50), "s")), "durations.*total_seconds"),
        (pd.Series([1 + 2j] * 50), "complex"),
        (pd.Series([None] * 50, dtype=object), "'bad' has no value at all"),
    ],
)
def test_unusable_columns_are_named(column, match):
    X = pd.DataFrame({"good": np.arange(50.0), "bad": column})
    with pytest.raises(ValueError, match=match):
        MultiTaskNetEstimator(**PARAMS).fit(X, np.arange(50.0))


def test_dtype_change_and_reordered_columns_raise():
    X, y = make_table(n=100)
    est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 2}).fit(X, y)
    with pytest.raises(ValueError, match="'age' held number values in fit but holds string"):
        est.predict(X.assign(age=X["age"].astype(str)))
    with pytest.raises(ValueError, match="'city' held string values in fit but holds number"):
        est.predict(X.assign(city=1.0))
    with pytest.raises(ValueError, match="same order"):
        est.predict(X[X.columns[::-1]])
    est.predict(X.assign(city=X["city"].astype("category")))  # labels either way


def test_categorical_features_errors():
    X, y = make_table(n=60)
    cases = [
        (None, "'city' holds string values.*categorical_features=None"),
        ("auto", "'categorical_features' parameter"),
        (["nope"], "names 'nope', which is not a column"),
        ([7], "index 7 is out of range"),
        ([True, False], "boolean mask of 2 values but X has 5"),
    ]
    for declared, match in cases:
        with pytest.raises(ValueError, match=match):
            MultiTaskNetEstimator(**PARAMS, categorical_features=declared).fit(X, y)
    with pytest.raises(ValueError, match="no column names"):
        MultiTaskNetEstimator(**PARAMS, categorical_features=["a"]).fit(np.ones((5, 2)), [1.0] * 5)
    with pytest.raises(ValueError, match="'numeric_scaling' parameter"):
        MultiTaskNetEstimator(**PARAMS, numeric_scaling="minmax").fit(np.ones((5, 2)), [1.0] * 5)
    with pytest.raises(ValueError, match="'one_hot_max_categories' parameter"):
        MultiTaskNetEstimator(**PARAMS, one_hot_max_categories=-1).fit(X, y)


def test_object_array_of_strings():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=100).astype(object), rng.choice(["u", "v"], 100)])
    y = (X[:, 1] == "u").astype(float)
    est = MultiTaskNetEstimator(**{**PARAMS, "batch_size": 16}).fit(X, y)
    assert est.n_features_in_ == 2 and not hasattr(est, "feature_names_in_")
    assert est.score(X, y) > 0.9


def test_pipeline_with_pandas_output_upstream():
    X, y = make_table()
    columns = make_column_transformer(
        (StandardScaler(), ["income", "age"]), remainder="passthrough"
    ).set_output(transform="pandas")
    pipe = make_pipeline(columns, MultiTaskNetEstimator(**PARAMS)).fit(X, y)
    assert pipe[-1].feature_names_in_[0] == "standardscaler__income"
    assert pipe.score(X, y) > 0.8


def test_save_load_and_pickle_keep_the_encoding(tmp_path):
    X, y = make_table()
    X.loc[::7, "income"] = np.nan
    X.loc[::9, "city"] = None
    X["zip"] = np.random.default_rng(0).choice([f"z{i}" for i in range(30)], len(X))
    est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 5}, one_hot_max_categories=10)
    est.fit(X, y)
    new = X.iloc[:20].assign(city="unseen")
    expected = est.predict(new)
    path = tmp_path / "model.mtl"
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    pd.testing.assert_frame_equal(loaded.predict(new), expected)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(est)).predict(new), expected)
    columns = loaded.input_encoder_.columns_
    assert [c.name for c in columns] == list(X.columns)
    with pytest.raises(ValueError, match="held number values in fit"):
        loaded.predict(new.assign(age="old"))


# -- the input layer against scikit-learn's scalers ---------------------------------------
def _layer_output(X, scaling):
    encoder = InputEncoder(numeric_scaling=scaling).fit(X)
    layer = InputLayer(encoder, one_hot_max_categories=16)
    with torch.no_grad():
        return layer(torch.from_numpy(X.astype(np.float32))).numpy()


def test_scalings_match_scikit_learn():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.lognormal(size=500), rng.normal(size=500) * 50 + 3])
    np.testing.assert_allclose(
        _layer_output(X, "standard"), StandardScaler().fit_transform(X), atol=1e-4
    )
    np.testing.assert_allclose(
        _layer_output(X, "robust"), RobustScaler().fit_transform(X), rtol=1e-4, atol=1e-4
    )
    quantile = QuantileTransformer(n_quantiles=256, output_distribution="normal")
    np.testing.assert_allclose(  # float32 probabilities round differently beyond 5
        np.clip(_layer_output(X, "quantile"), -5, 5),
        np.clip(quantile.fit_transform(X), -5, 5),
        atol=2e-3,
    )
    squashed = _layer_output(X, "squashing")
    robust = RobustScaler().fit_transform(X)
    np.testing.assert_allclose(squashed, robust / np.sqrt(1 + (robust / 3) ** 2), atol=1e-4)
    assert np.abs(squashed).max() < 3


def test_robust_scale_falls_back_to_the_range():
    X = np.zeros((100, 2))
    X[:10, 0] = 4.0  # interquartile range 0: half the range (2) instead
    X[:, 1] = 7.0  # constant: centred, scale 1
    out = _layer_output(X, "robust")
    assert out[0, 0] == pytest.approx(2.0) and np.all(out[:, 1] == 0)


# -- numeric_scaling per column -------------------------------------------------------------
def test_per_column_scaling_matches_each_method():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.lognormal(size=500), rng.normal(size=500) * 50 + 3])
    X = np.column_stack([X, rng.standard_t(2, size=500), rng.normal(size=500) * 1e4])
    table = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    spec = {"a": "quantile", 1: "squashing", "c": None}  # "d" is not named: "standard"
    encoder = InputEncoder(numeric_scaling=spec).fit(table)
    assert encoder.scalings_ == ["quantile", "squashing", None, "standard"]
    layer = InputLayer(encoder, one_hot_max_categories=16)
    with torch.no_grad():
        mixed = layer(torch.from_numpy(encoder.transform(table))).numpy()
    for j, method in enumerate(encoder.scalings_):  # each column as if scaled alone
        alone = _layer_output(X[:, [j]], method)[:, 0]
        np.testing.assert_allclose(mixed[:, j], alone, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mixed[:, 2], X[:, 2].astype(np.float32))
    np.testing.assert_allclose(
        mixed[:, 3], StandardScaler().fit_transform(X[:, [3]])[:, 0], atol=1e-4
    )


def test_per_column_scaling_fits_saves_and_pickles(tmp_path):
    X, y = make_table()
    X.loc[::7, "income"] = np.nan
    for spec in ({"income": "quantile", "age": None}, {0: "squashing", 1: "robust"}):
        est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 5}, numeric_scaling=spec)
        expected = est.fit(X, y).predict(X)
        assert est.numeric_scaling == spec  # the parameter is left as given
        est.save(tmp_path / "model.mtl")
        loaded = MultiTaskNetEstimator.load(tmp_path / "model.mtl")
        assert loaded.numeric_scaling == spec
        assert loaded.input_encoder_.scalings_ == est.input_encoder_.scalings_
        pd.testing.assert_frame_equal(loaded.predict(X), expected)
        pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(est)).predict(X), expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_per_column_scaling_is_searchable():
    from sklearn.model_selection import GridSearchCV

    X, y = make_table(n=120)
    grid = {"numeric_scaling": ["standard", {"income": "quantile"}]}
    est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 2}, tasks={"spend": "regression"})
    search = GridSearchCV(est, grid, cv=2).fit(X, y[["spend"]])
    assert search.best_params_["numeric_scaling"] in grid["numeric_scaling"]
    assert search.best_estimator_.input_encoder_.scalings_[0] in ("standard", "quantile")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"salary": "robust"}, r"names 'salary', which is not a column of X; the columns are"),
        ({"city": "robust"}, r"numeric_scaling\['city'\]: column 'city' is categorical"),
        ({"income": "log"}, r"numeric_scaling\['income'\] must be one of \['auto', 'standard'"),
        ({7: "robust"}, "numeric_scaling index 7 is out of range for X with 5 columns"),
        ({"income": "robust", 0: None}, "names column 'income' twice"),
        ({1.5: "robust"}, r"keys must be column names \(str\) or indices \(int\); got 1.5"),
        ({True: "robust"}, r"keys must be column names \(str\) or indices \(int\); got True"),
    ],
)
def test_per_column_scaling_errors_name_the_column(spec, match):
    X, y = make_table(n=50)
    with pytest.raises(ValueError, match=match):
        MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 1}, numeric_scaling=spec).fit(X, y)


def test_per_column_scaling_by_name_needs_names():
    X = np.random.default_rng(0).normal(size=(50, 2))
    est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 1}, numeric_scaling={"a": "robust"})
    with pytest.raises(ValueError, match="X has no column names; use column indices"):
        est.fit(X, X[:, 0])
    est.set_params(numeric_scaling={-1: "robust"}).fit(X, X[:, 0])
    assert est.input_encoder_.scalings_ == ["standard", "robust"]


def test_saved_dict_with_index_keys_round_trips_and_tampering_is_refused():
    from sklearn_mtl._safe_format import _decode, _encode

    value = {0: "robust", "age": None}
    assert _decode(_encode(value, "numeric_scaling"), "numeric_scaling") == value
    for bad in ({"__mapping__": [[[0], "robust"]]}, {"__mapping__": "robust"}):
        with pytest.raises(ValueError, match="pairs with str or int keys expected"):
            _decode(bad, "numeric_scaling")
