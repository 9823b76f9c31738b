"""The estimator inside scikit-learn's machinery, with real objects."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl.metrics import make_task_scorer

PARAMS = {"hidden_layer_sizes": (16,), "max_epochs": 10, "lr": 0.01, "random_state": 0}


def shop_data():
    """A shop table: numbers and a category in, spend (regression) and bought (binary) out."""
    rng = np.random.default_rng(0)
    n = 240
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n).astype(float),
            "visits": rng.poisson(3, n).astype(float),
            "channel": rng.choice(["web", "app", "shop"], n),
        }
    )
    boost = X["channel"].map({"web": 0.0, "app": 1.0, "shop": -1.0})
    spend = 2.0 * X["visits"] + 5.0 * boost + rng.normal(size=n)
    bought = np.where(X["visits"] + boost + rng.normal(size=n) > 3, "yes", "no")
    y = pd.DataFrame({"spend": spend, "bought": bought})
    y.loc[rng.random(n) < 0.1, "spend"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def shop():
    return shop_data()


def make_pipe(**params):
    encode = make_column_transformer(
        (OneHotEncoder(sparse_output=False), ["channel"]), (StandardScaler(), ["age", "visits"])
    )
    return make_pipeline(encode, MultiTaskNetEstimator(**{**PARAMS, **params}))


def test_pipeline_with_column_transformer_and_pandas(shop):
    X, y = shop
    pipe = make_pipe(max_epochs=60).fit(X, y)
    prediction = pipe.predict(X)
    assert list(prediction.columns) == ["spend", "bought"]
    assert prediction["spend"].dtype == np.float64
    assert set(prediction["bought"]) <= {"yes", "no"}
    scores = pipe[-1].score_tasks(pipe[:-1].transform(X), y)
    assert scores["spend"] > 0.7 and scores["bought"] > 0.7


def test_pipeline_with_pandas_output(shop):
    X, y = shop
    pipe = make_pipe()
    pipe.set_output(transform="pandas")
    pipe.fit(X, y)
    assert pipe[-1].feature_names_in_[0].startswith("onehotencoder__channel")
    assert pipe.predict(X).shape == (len(X), 2)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_one_task_weight_in_a_pipeline(shop, n_jobs):
    X, y = shop
    grid = {"multitasknetestimator__task_weights__bought": [0.0, 1.0]}
    search = GridSearchCV(make_pipe(max_epochs=60), grid, cv=KFold(3), n_jobs=n_jobs).fit(X, y)
    assert search.cv_results_["params"] == [
        {"multitasknetestimator__task_weights__bought": 0.0},
        {"multitasknetestimator__task_weights__bought": 1.0},
    ]
    assert search.best_estimator_[-1].task_weights == {"bought": 1.0}
    assert search.best_params_["multitasknetestimator__task_weights__bought"] == 1.0


def test_grid_search_over_whole_weight_dicts(shop):
    X, y = shop
    Xt = make_pipe()[:-1].fit_transform(X)
    grid = {"task_weights": [{"spend": 1.0}, {"spend": 0.5, "bought": 2.0}]}
    search = GridSearchCV(MultiTaskNetEstimator(**PARAMS), grid, cv=2).fit(Xt, y)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_cross_validate_with_per_task_scorers(shop):
    X, y = shop
    scoring = {
        "spend_r2": make_task_scorer("spend"),
        "spend_mae": make_task_scorer("spend", "neg_mean_absolute_error"),
        "bought_auc": make_task_scorer("bought", "roc_auc"),
    }
    result = cross_validate(make_pipe(max_epochs=40), X, y, cv=3, scoring=scoring)
    assert np.all(result["test_bought_auc"] > 0.6)
    assert np.all(result["test_spend_mae"] < 0)
    search = GridSearchCV(
        make_pipe(),
        {"multitasknetestimator__lr": [0.01]},
        cv=2,
        scoring=scoring,
        refit="bought_auc",
    ).fit(X, y)
    assert 0.5 < make_task_scorer("bought", "roc_auc")(search, X, y) <= 1.0


def test_clone_pickle_and_joblib_round_trips(shop, tmp_path):
    X, y = shop
    pipe = make_pipe().fit(X, y)
    expected = pipe[-1].predict_proba(pipe[:-1].transform(X))[0]
    restored = pickle.loads(pickle.dumps(pipe))
    pd.testing.assert_frame_equal(restored.predict(X), pipe.predict(X))
    np.testing.assert_array_equal(restored[-1].predict_proba(pipe[:-1].transform(X))[0], expected)
    joblib.dump(pipe, tmp_path / "model.joblib")
    pd.testing.assert_frame_equal(
        joblib.load(tmp_path / "model.joblib").predict(X), pipe.predict(X)
    )
    buffer = io.BytesIO()
    joblib.dump(pipe, buffer)
    cloned = clone(pipe)
    assert not hasattr(cloned[-1], "net_")
    assert cloned[-1].get_params() == pipe[-1].get_params()


def test_sample_weight_with_metadata_routing(shop):
    X, y = shop
    weight = np.ones(len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskNetEstimator(**PARAMS).set_fit_request(sample_weight=True)
        est.set_score_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        encode = make_column_transformer(
            (OneHotEncoder(), ["channel"]), (scaler, ["age", "visits"])
        )
        pipe = make_pipeline(encode, est)
        search = GridSearchCV(pipe, {"multitasknetestimator__task_weights__spend": [1.0]}, cv=2)
        search.fit(X, y, sample_weight=weight)
        assert search.score(X, y, sample_weight=weight) > 0
        unrequested = make_pipeline(encode, MultiTaskNetEstimator(**PARAMS))
        with pytest.raises(
            ValueError, match=r"\[sample_weight\] are passed.*MultiTaskNetEstimator"
        ):
            unrequested.fit(X, y, sample_weight=weight)
