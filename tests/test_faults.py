"""Faults: non-finite losses, interrupted fits, checkpoints, and property-based tests."""

import os
import warnings

import numpy as np
import pytest
import torch
from conftest import make_mixed
from sklearn.model_selection import GridSearchCV, KFold
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._net_guard import NonFiniteLossError, copy_state

pytest.importorskip("safetensors")

FAST = {"hidden_layer_sizes": (8,), "batch_size": 64, "lr": 0.01, "random_state": 0}


def _weights(est):
    return {k: v.detach().clone() for k, v in est.net_.module_.state_dict().items()}


def _callback(est, name):
    return dict(est.net_.callbacks_)[name]


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


class Snapshots(Callback):
    """Keeps the module's weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, net, **kwargs):
        self.weights.append({k: v.detach().clone() for k, v in net.module_.state_dict().items()})


class PoisonHead(Callback):
    """Sets one task head's weights to NaN when epoch ``at`` begins."""

    def __init__(self, at, head):
        self.at, self.head = at, head

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.at:
            with torch.no_grad():
                net.module_.task_heads[self.head][0].weight.fill_(float("nan"))


def test_nan_loss_names_the_task_and_keeps_the_last_good_weights():
    X, y = make_mixed()
    est = MultiTaskNetEstimator(
        max_epochs=6, callbacks=[("poison", PoisonHead(3, 1)), ("snap", Snapshots())], **FAST
    )
    with pytest.raises(NonFiniteLossError, match=r"task\(s\) \['task1'\].*epoch 2 were restored"):
        est.fit(X, y)
    assert issubclass(NonFiniteLossError, ValueError)
    snapshots = _callback(est, "snap")  # the estimator's copy of the callback
    _assert_same_weights(_weights(est), snapshots.weights[1])  # the end of epoch 2
    assert est.n_iter_ == 2 and len(est.history_) == 2
    prediction = est.predict(X)
    assert prediction.shape == y.shape
    assert np.isfinite(prediction[:, 0].astype(float)).all()
    assert all(np.isfinite(p).all() for p in est.predict_proba(X))


def test_diverging_learning_rate_stops_with_a_clear_error():
    X, y = make_mixed(missing=0)
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(32,),
        optimizer="sgd",
        lr=1e12,
        max_epochs=20,
        batch_size=16,
        random_state=0,
    )
    with pytest.raises(NonFiniteLossError, match="Lower the learning rate"):
        est.fit(X * 1e3, y)
    assert np.isfinite(est.predict(X)[:, 0].astype(float)).all()


class InterruptAt(Callback):
    """Raises ``error`` at batch ``batch`` of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch, batch=2, error=KeyboardInterrupt):
        self.epoch, self.batch, self.error = epoch, batch, error
        self.count = 0

    def on_batch_end(self, net, training=True, **kwargs):
        if training and len(net.history) == self.epoch:
            self.count += 1
            if self.count == self.batch:
                raise self.error("interrupted")


def test_keyboard_interrupt_leaves_a_usable_estimator():
    X, y = make_mixed()
    est = MultiTaskNetEstimator(max_epochs=8, callbacks=[InterruptAt(3)], **FAST).fit(X, y)
    assert est.n_iter_ == 2 and len(est.history_) == 2  # the cut epoch is not recorded
    assert all("dur" in row for row in est.history_)
    assert set(est.task_weights_) == {"task0", "task1", "task2"}
    assert est.predict(X).shape == y.shape
    est.set_params(warm_start=True, callbacks=None, max_epochs=2).fit(X, y)
    assert est.n_iter_ == 4


def test_interrupt_before_the_first_epoch_ends():
    X, y = make_mixed()
    est = MultiTaskNetEstimator(max_epochs=3, callbacks=[InterruptAt(1)], **FAST).fit(X, y)
    assert est.n_iter_ == 0 and est.task_weights_ == {"task0": 1.0, "task1": 1.0, "task2": 1.0}
    assert est.predict(X).shape == y.shape


class Crash(Callback):
    """A crash (not an interrupt) when epoch ``at`` begins; counts the epochs run."""

    def __init__(self, at=None):
        self.at = at
        self.epochs = 0

    def on_epoch_begin(self, net, **kwargs):
        if self.at is not None and len(net.history) == self.at:
            raise RuntimeError("simulated crash")
        self.epochs += 1


@pytest.mark.parametrize(
    "params",
    [
        {"dropout": 0.2, "loss_weighting": "uncertainty", "early_stopping": False},
        {"early_stopping": True, "n_iter_no_change": 3, "loss_weighting": "dwa", "lr": 0.05},
        {
            "task_relation": "mtrl",
            "head_layer_sizes": (4,),
            "record_task_affinity": 2,
            "early_stopping": False,  # one run: the refit's resume has its own test
        },
    ],
    ids=["dropout-uncertainty", "early-stopping-dwa", "relationship-plugins"],
)
def test_interrupted_fit_resumes_to_the_same_weights(tmp_path, params):
    X, y = make_mixed()
    params = {**FAST, "max_epochs": 8, **params}
    reference = MultiTaskNetEstimator(**params).fit(X, y)

    crashed = MultiTaskNetEstimator(
        checkpoint_dir=tmp_path, callbacks=[("c", Crash(at=4))], **params
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(X, y)
    assert _callback(crashed, "c").epochs == 3
    (directory,) = os.listdir(tmp_path)
    assert os.listdir(tmp_path / directory) == ["checkpoint.mtl"]

    resumed = MultiTaskNetEstimator(checkpoint_dir=tmp_path, callbacks=[("c", Crash())], **params)
    resumed.fit(X, y)
    assert _callback(resumed, "c").epochs == reference.n_iter_ - 3  # only the epochs left ran
    assert resumed.n_iter_ == reference.n_iter_
    _assert_same_weights(_weights(resumed), _weights(reference))
    # the criterion's state too: the weighting's and the relationship plugins' buffers
    _assert_same_weights(
        resumed.net_.criterion_.state_dict(), reference.net_.criterion_.state_dict()
    )
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))

    # a finished fit run again returns at once, with the same model
    rerun = MultiTaskNetEstimator(checkpoint_dir=tmp_path, callbacks=[("c", Crash())], **params)
    rerun.fit(X, y)
    assert _callback(rerun, "c").epochs == 0
    _assert_same_weights(_weights(rerun), _weights(reference))


def test_interrupted_refit_resumes_to_the_same_model(tmp_path):
    """The default early_stopping="refit": a crash in the validated run resumes from the
    checkpoint, and the refit on every row then ends with the uninterrupted weights."""
    X, y = make_mixed()
    params = {**FAST, "max_epochs": 12, "n_iter_no_change": 3, "dropout": 0.2}
    reference = MultiTaskNetEstimator(**params).fit(X, y)
    crashed = MultiTaskNetEstimator(
        checkpoint_dir=tmp_path, callbacks=[("c", Crash(at=4))], **params
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(X, y)
    resumed = MultiTaskNetEstimator(checkpoint_dir=tmp_path, **params).fit(X, y)
    assert resumed.n_iter_ == reference.n_iter_
    _assert_same_weights(_weights(resumed), _weights(reference))
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))


def test_ctrl_c_in_the_validated_run_ends_the_fit_there():
    """With "refit", an interrupt of the first run does not start the refit: the model
    is the validated run's, usable, and its history holds the validation entries."""
    X, y = make_mixed()
    est = MultiTaskNetEstimator(max_epochs=8, callbacks=[InterruptAt(3)], **FAST).fit(X, y)
    assert est.n_iter_ == 2 and "valid_loss" in est.history_[-1]
    assert est.predict(X).shape == y.shape


def test_grid_search_fits_get_their_own_checkpoint_directories(tmp_path):
    X, y = make_mixed(n_samples=120)
    search = GridSearchCV(
        MultiTaskNetEstimator(max_epochs=2, checkpoint_dir=tmp_path, **FAST),
        {"task_weights__task1": [0.5, 2.0]},
        cv=KFold(2),
        refit=False,
    ).fit(X, y)
    assert len(os.listdir(tmp_path)) == 4  # 2 candidates x 2 folds
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# -- property-based tests --------------------------------------------------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KINDS = ("regression", "int_classes", "str_classes", "bool_classes", "float_classes")


@st.composite
def problems(draw):
    n_samples = draw(st.integers(2, 30))
    n_features = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = (rng.normal(size=(n_samples, n_features)) * 3).astype(dtype)
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    columns = []
    for kind in kinds:
        n_classes = draw(st.integers(1, 4))
        if kind == "regression":
            column = rng.normal(size=n_samples).astype(object)
        elif kind == "int_classes":
            column = rng.integers(0, n_classes, size=n_samples).astype(object)
        elif kind == "str_classes":
            column = np.array([f"c{v}" for v in rng.integers(0, n_classes, n_samples)], object)
        elif kind == "bool_classes":
            column = (rng.random(n_samples) < 0.5).astype(object)
        else:
            column = (rng.integers(0, n_classes, size=n_samples) + 0.5).astype(object)
        missing = draw(st.sampled_from(["none", "some", "all_but_one", "all"]))
        if missing == "some":
            column[rng.random(n_samples) < 0.3] = np.nan
        elif missing == "all_but_one":
            column[1:] = None
        elif missing == "all":
            column[:] = np.nan
        columns.append(column)
    one_d = len(columns) == 1 and draw(st.booleans())
    y = columns[0] if one_d else np.column_stack(columns)
    return X, y


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(problems())
def test_fit_predict_work_or_raise_value_or_type_error(problem):
    X, y = problem
    est = MultiTaskNetEstimator(hidden_layer_sizes=(3,), max_epochs=1, batch_size=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except (ValueError, TypeError):
            return
        prediction = est.predict(X)
    y2 = y[:, None] if y.ndim == 1 else y
    assert prediction.shape == y.shape
    prediction2 = prediction[:, None] if prediction.ndim == 1 else prediction
    for encoder in est.encoders_:
        (position,) = encoder.positions
        column = prediction2[:, position]
        if encoder.kind == "regression":
            assert np.isfinite(column.astype(float)).all()
        else:
            assert set(column.tolist()) <= set(encoder.classes_.tolist())
            labelled = [v for v in y2[:, position] if v is not None and v == v]
            assert set(encoder.classes_.tolist()) == set(labelled)
    probas = [] if all(e.kind == "regression" for e in est.encoders_) else est.predict_proba(X)
    probas = [probas] if isinstance(probas, np.ndarray) else probas
    for proba in probas:
        assert proba.shape[0] == X.shape[0]
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


# -- data larger than memory -----------------------------------------------------------
class RowsOnDisk:
    """A row-sliceable array that records how many rows each read asks for."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.largest_read = 0

    def __getitem__(self, index):
        rows = self.array[index]
        self.largest_read = max(self.largest_read, len(rows))
        return rows


def test_memmap_and_row_sliceable_X_are_read_batch_by_batch(tmp_path, monkeypatch):
    X, y = make_mixed(n_samples=400)
    memmap = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="w+", shape=X.shape)
    memmap[:] = X
    params = {**FAST, "max_epochs": 3, "early_stopping": True, "n_iter_no_change": 5}
    in_memory = MultiTaskNetEstimator(**params).fit(X, y)
    streamed = MultiTaskNetEstimator(**params).fit(memmap, y)
    np.testing.assert_array_equal(streamed.predict(memmap), in_memory.predict(X))
    monkeypatch.setattr("sklearn_mtl._data._CHECK_ROWS", 40)  # the finiteness check's chunks
    disk = RowsOnDisk(X)
    est = MultiTaskNetEstimator(**{**params, "batch_size": 32}).fit(disk, y)
    assert disk.largest_read <= 40  # chunks and batches (the last may take one more row)
    np.testing.assert_array_equal(est.predict(disk), est.predict(X))
    memmap[5, 2] = np.nan
    with pytest.raises(ValueError, match="row 5"):
        MultiTaskNetEstimator(**params).fit(memmap, y)
    with pytest.raises(ValueError, match="expecting 6 features"):
        streamed.predict(np.memmap(tmp_path / "X2.f64", dtype=np.float64, mode="w+", shape=(4, 3)))


def test_copy_state_copies_in_place_only_into_the_same_layout():
    state = {"w": torch.ones(2, 3), "steps": torch.tensor(4)}
    kept = copy_state(state)
    assert kept["w"].data_ptr() != state["w"].data_ptr()  # a copy, not the live tensor
    state["w"] += 1
    assert copy_state(state, kept) is kept and kept["w"].eq(2).all()
    for changed in ({"w": torch.ones(3, 2), "steps": torch.tensor(4)}, {"w": torch.ones(2, 3)}):
        fresh = copy_state(changed, kept)  # another shape, or other names: cloned anew
        assert fresh is not kept and list(fresh) == list(changed)
        assert kept["w"].eq(2).all()  # the earlier copy is left as it was
