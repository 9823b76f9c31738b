"""Behaviour of MultiTaskNetEstimator: learning, missing labels, weights, training options."""

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import make_mixed
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl._data import TaskData
from sklearn_mtl._losses import MultiTaskLoss, TaskLossSpec
from sklearn_mtl.weighting import FixedWeighting


def test_mixed_tasks_learn_and_decode_labels(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(**{**fast_params, "max_epochs": 60}).fit(X, y)
    assert [t.kind for t in est.tasks_] == ["regression", "binary", "multiclass"]
    prediction = est.predict(X)
    assert prediction.shape == y.shape and prediction.dtype == object
    assert set(prediction[:, 1]) <= {"no", "yes"}
    assert set(prediction[:, 2]) <= {0, 1, 2}
    scores = est.score_tasks(X, y)
    assert scores["task0"] > 0.8 and scores["task1"] > 0.8 and scores["task2"] > 0.6
    assert est.score(X, y) == pytest.approx(np.mean(list(scores.values())))
    binary, multiclass = est.predict_proba(X)
    assert binary.shape == (len(X), 2) and multiclass.shape == (len(X), 3)
    np.testing.assert_allclose(multiclass.sum(axis=1), 1.0, rtol=1e-6)
    assert est.classes_[0].tolist() == ["no", "yes"]


def test_numeric_y_predicts_float64(fast_params):
    X, y = make_mixed(missing=0)
    y = y.copy()
    y[:, 1] = (y[:, 1] == "yes").astype(float)
    est = MultiTaskNetEstimator(**fast_params).fit(X, y.astype(float))
    assert est.predict(X).dtype == np.float64


def test_missing_labels_are_left_out_of_the_loss():
    specs = [TaskLossSpec("r", "regression", 0, 1), TaskLossSpec("m", "multiclass", 1, 2)]
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(2)))
    outputs = {"r": torch.tensor([[1.0], [2.0], [5.0]]), "m": torch.zeros(3, 3)}
    targets = torch.tensor([[0.0, 0.0], [0.0, float("nan")], [float("nan"), 2.0]])
    losses, present = loss.task_losses(outputs, targets)
    torch.testing.assert_close(losses, torch.tensor([2.5, float(np.log(3))]))
    assert present.tolist() == [True, True]
    none_labelled = torch.full((3, 2), float("nan"))
    losses, present = loss.task_losses(outputs, none_labelled)
    assert present.tolist() == [False, False] and torch.isfinite(losses).all()


def test_rows_without_a_label_still_train_the_other_tasks(fast_params):
    X, y = make_mixed(missing=0)
    y = y.copy()
    y[: len(y) // 2, 0] = np.nan  # regression labels only on the second half
    y[len(y) // 2 :, 1] = None  # binary labels only on the first half
    est = MultiTaskNetEstimator(**{**fast_params, "max_epochs": 60}).fit(X, y)
    scores = est.score_tasks(X, y)
    assert scores["task0"] > 0.7 and scores["task1"] > 0.8


def test_scores_ignore_missing_labels(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(**fast_params).fit(X, y)
    labelled = ~pd.isna(y[:, 0])
    expected = est.score_tasks(X[labelled], y[labelled])["task0"]
    assert est.score_tasks(X, y)["task0"] == pytest.approx(expected)


def test_multilabel_task_with_missing_entries(fast_params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    labels = (X[:, :3] > 0).astype(float)
    labels[rng.random(labels.shape) < 0.1] = np.nan
    y = pd.DataFrame(labels, columns=["a", "b", "c"]).assign(amount=X[:, 3] * 2)
    tasks = [Task("prefs", "multilabel", columns=["a", "b", "c"]), Task("amount", "regression")]
    est = MultiTaskNetEstimator(tasks=tasks, **{**fast_params, "max_epochs": 60}).fit(X, y)
    prediction = est.predict(pd.DataFrame(X, index=np.arange(200) + 1000))
    assert list(prediction.columns) == ["a", "b", "c", "amount"]
    assert prediction.index[0] == 1000
    assert set(np.unique(prediction[["a", "b", "c"]])) <= {0, 1}
    assert est.score_tasks(X, y)["prefs"] > 0.85
    (proba,) = est.predict_proba(X)
    assert proba.shape == (200, 3)


def test_one_dimensional_y(fast_params):
    X, y = make_mixed(missing=0)
    est = MultiTaskNetEstimator(**fast_params).fit(X, y[:, 1])
    assert est.predict(X).shape == (len(X),)
    assert est.classes_.tolist() == ["no", "yes"]
    assert est.predict_proba(X).shape == (len(X), 2)


def test_task_weights_and_their_errors(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(task_weights={"task1": 0.0}, **{**fast_params, "max_epochs": 40})
    est.fit(X, y)
    assert est.task_weights_ == {"task0": 1.0, "task1": 0.0, "task2": 1.0}
    weighted = MultiTaskNetEstimator(**{**fast_params, "max_epochs": 40}).fit(X, y)
    assert weighted.score_tasks(X, y)["task1"] > est.score_tasks(X, y)["task1"] + 0.1
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['nope'\]"):
        MultiTaskNetEstimator(task_weights={"nope": 1.0}, **fast_params).fit(X, y)
    with pytest.raises(ValueError, match=r"task_weights\['task0'\] must be a finite non-negative"):
        MultiTaskNetEstimator(task_weights={"task0": -1.0}, **fast_params).fit(X, y)
    with pytest.raises(ValueError, match="all zero"):
        MultiTaskNetEstimator(
            task_weights=dict.fromkeys(["task0", "task1", "task2"], 0), **fast_params
        ).fit(X, y)


def test_set_params_per_task_weight_copies_the_dict():
    weights = {"a": 1.0}
    est = MultiTaskNetEstimator(task_weights=weights)
    est.set_params(task_weights__b=0.5, lr=0.01)
    assert est.task_weights == {"a": 1.0, "b": 0.5} and weights == {"a": 1.0}
    assert est.get_params()["task_weights__b"] == 0.5
    est.set_params(task_weights={"c": 2.0}, task_weights__d=3.0)
    assert est.task_weights == {"c": 2.0, "d": 3.0}


def test_score_does_not_depend_on_task_weights(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(**fast_params).fit(X, y)
    before = est.score(X, y)
    est.set_params(task_weights={"task0": 10.0})
    assert est.score(X, y) == before


def test_random_state_reproducible_and_global_rng_untouched(mixed, fast_params):
    X, y = mixed
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    first = MultiTaskNetEstimator(dropout=0.2, **fast_params).fit(X, y).predict_proba(X)
    assert torch.rand(1) == expected_draw
    second = MultiTaskNetEstimator(dropout=0.2, **fast_params).fit(X, y).predict_proba(X)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = MultiTaskNetEstimator(dropout=0.2, **{**fast_params, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.predict_proba(X)[0], first[0])


def test_early_stopping_stops_and_restores_the_best_epoch(mixed):
    X, y = mixed
    recorder = _StateRecorder()
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(64,),
        lr=0.05,
        max_epochs=300,
        n_iter_no_change=3,
        early_stopping=True,
        tol=0.0,
        random_state=0,
        callbacks=[("states", recorder)],
    ).fit(X, y)
    assert est.n_iter_ < 300
    scores = est.history_[:, "valid_score"]
    best = int(np.argmax(scores))
    assert len(scores) - 1 - best == 3  # stopped after 3 epochs without improvement
    states = dict(est.net_.callbacks_)["states"].states
    for name, value in est.net_.module_.state_dict().items():
        torch.testing.assert_close(value, states[best][name])


class _StateRecorder(Callback):
    def initialize(self):
        self.states = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states.append(copy.deepcopy(net.module_.state_dict()))


def test_history_records_per_task_losses_scores_and_weights(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(early_stopping=True, **fast_params).fit(X, y)
    record = est.history_[-1]
    for prefix in ("train", "valid"):
        for task in ("task0", "task1", "task2"):
            assert np.isfinite(record[f"{prefix}_loss_{task}"])
            assert np.isfinite(record[f"{prefix}_score_{task}"])
        assert np.isfinite(record[f"{prefix}_score"])
    assert record["weight_task0"] == 1.0
    assert est.n_iter_ == len(est.history_)


def test_validation_score_in_history_matches_score_tasks(fast_params):
    """The on-device running scores agree with scikit-learn's metrics."""
    X, y = make_mixed(missing=0.1)
    est = MultiTaskNetEstimator(**fast_params).fit(X, y)
    targets = np.concatenate([e.encode(est._table(y, len(X))) for e in est.encoders_], axis=1)
    data = TaskData(torch.from_numpy(X.astype(np.float32)), torch.from_numpy(targets))
    est.net_.run_single_epoch(
        est.net_.get_iterator(data),
        training=False,
        prefix="check",
        step_fn=est.net_.validation_step,
    )
    record = est.net_.history[-1]
    for task, score in est.score_tasks(X, y).items():
        assert record[f"check_score_{task}"] == pytest.approx(score, abs=1e-4)


def test_warm_start_and_partial_fit(mixed, fast_params):
    X, y = mixed
    params = {**fast_params, "max_epochs": 3}
    est = MultiTaskNetEstimator(warm_start=True, **params).fit(X, y)
    module = est.net_.module_
    est.fit(X, y)
    assert est.net_.module_ is module and est.n_iter_ == 6
    cold = MultiTaskNetEstimator(**params).fit(X, y)
    module = cold.net_.module_
    cold.fit(X, y)
    assert cold.net_.module_ is not module and cold.n_iter_ == 3

    online = MultiTaskNetEstimator(**params)
    classes = {"task1": ["no", "yes"], "task2": [0, 1, 2]}
    for start in range(0, 300, 100):
        online.partial_fit(X[start : start + 100], y[start : start + 100], classes=classes)
    assert online.n_iter_ == 3
    with pytest.raises(ValueError, match="X has 5 features"):
        online.partial_fit(X[:, :5], y)


def test_sample_weight_downweights_corrupted_rows(fast_params):
    X, y = make_mixed(missing=0)
    y = y.copy()
    corrupted = np.arange(len(y)) % 2 == 0
    y[corrupted, 1] = np.where(y[corrupted, 1] == "yes", "no", "yes")
    weight = np.where(corrupted, 0.0, 1.0)
    params = {**fast_params, "max_epochs": 40}
    clean = ~corrupted
    weighted = MultiTaskNetEstimator(**params).fit(X, y, sample_weight=weight)
    plain = MultiTaskNetEstimator(**params).fit(X, y)
    assert (
        weighted.score_tasks(X[clean], y[clean])["task1"]
        > plain.score_tasks(X[clean], y[clean])["task1"] + 0.2
    )
    with pytest.raises(ValueError, match="non-negative"):
        MultiTaskNetEstimator(**params).fit(X, y, sample_weight=-weight)


def test_sparse_X_trains_like_dense(mixed, fast_params):
    X, y = mixed
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = MultiTaskNetEstimator(**fast_params).fit(X, y)
    sparse = MultiTaskNetEstimator(**fast_params).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.predict_proba(X)[0], dense.predict_proba(X)[0], rtol=1e-5)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csc_matrix(X))[0], dense.predict_proba(X)[0], rtol=1e-5
    )


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda X, y: (np.where(X > 2, np.inf, X), y), "infinity"),
        (lambda X, y: (X, y[:-1]), "X has 300 rows but y has 299"),
        (lambda X, y: (X[:0], y[:0]), "0 sample"),
        (lambda X, y: (X, np.zeros((300, 2, 2))), "1-D or 2-D"),
    ],
)
def test_bad_input_at_fit(mixed, fast_params, make_bad, message):
    X, y = make_bad(*mixed)
    with pytest.raises(ValueError, match=message):
        MultiTaskNetEstimator(**fast_params).fit(X, y)


def test_bad_input_at_predict_and_bad_parameters(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(**fast_params).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 5 features, but MultiTaskNetEstimator is expecting 6"
    ):
        est.predict(X[:, :5])
    with pytest.raises(ValueError, match="y has 2 column"):
        est.score(X, y[:, :2])
    for params, message in [
        ({"batch_size": 0}, "'batch_size' parameter of MultiTaskNetEstimator must be an int"),
        ({"dropout": 1.5}, "'dropout' parameter of MultiTaskNetEstimator must be a float"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs' is not supported"),
        ({"activation": "swish"}, "activation='swish' is not supported"),
        ({"device": "tpu"}, "device='tpu'"),
        ({"loss_weighting": "magic"}, "loss_weighting='magic' is not supported"),
        ({"architecture": "magic"}, "architecture='magic' is not supported"),
        ({"hidden_layer_sizes": (8, 0)}, "'hidden_layer_sizes' parameter of .* must hold ints"),
    ]:
        with pytest.raises(ValueError, match=message):
            MultiTaskNetEstimator(**{**fast_params, **params}).fit(X, y)


def test_predict_fast_path_for_float_arrays_checks_what_validate_data_checks(mixed, fast_params):
    """A plain float ndarray skips validate_data in predict; the result and the errors
    are those of the full validation."""
    X, y = mixed
    est = MultiTaskNetEstimator(**fast_params).fit(X, y)
    X32 = X.astype(np.float32)
    expected = est.predict(X32.tolist())  # a list: the full validation
    for array in (X32, X.astype(np.float64), np.asfortranarray(X32)):
        np.testing.assert_array_equal(est.predict(array), expected)
    X_bad = X32.copy()
    X_bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"Input X contains infinity"):
        est.predict(X_bad)
    X_bad[3, 1] = np.nan  # imputed (tests/test_raw_tables.py)
    assert est.predict(X_bad).shape == expected.shape
    with pytest.raises(ValueError, match="X has 5 features"):
        est.predict(X32[:, :5])
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        est.predict(X32[:0])
    # Fitted with feature names: an array without them still gets sklearn's warning.
    frame = pd.DataFrame(X32, columns=[f"f{i}" for i in range(X.shape[1])])
    named = MultiTaskNetEstimator(**fast_params).fit(frame, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        named.predict(X32)


def test_inputs_are_never_modified(fast_params):
    X, y = make_mixed()
    X_frame = pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(6)])
    y_frame = pd.DataFrame(y, columns=["amount", "bought", "level"])
    weights = {"amount": 2.0}
    callbacks = [("count", _EpochCounter())]
    X_before, y_before = X_frame.copy(), y_frame.copy()
    est = MultiTaskNetEstimator(task_weights=weights, callbacks=callbacks, **fast_params)
    params_before = copy.deepcopy(est.get_params(deep=False))
    est.fit(X_frame, y_frame, sample_weight=np.ones(300))
    pd.testing.assert_frame_equal(X_frame, X_before)
    pd.testing.assert_frame_equal(y_frame, y_before)
    assert weights == {"amount": 2.0}
    assert callbacks[0][1].epochs == 0  # the user's callback object was copied, not used
    assert dict(est.net_.callbacks_)["count"].epochs == est.n_iter_
    assert est.get_params(deep=False).keys() == params_before.keys()
    assert list(est.feature_names_in_) == list(X_frame.columns)


class _EpochCounter(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def test_verbose_prints_tasks_and_progress(mixed, fast_params, capsys):
    X, y = mixed
    MultiTaskNetEstimator(**{**fast_params, "max_epochs": 2}).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    MultiTaskNetEstimator(verbose=2, **{**fast_params, "max_epochs": 2}).fit(X, y)
    out = capsys.readouterr().out
    assert "tasks: task0 (regression), task1 (binary), task2 (multiclass)" in out
    assert "epoch    2 | train loss task0=" in out and " task1=" in out
    MultiTaskNetEstimator(verbose=1, **{**fast_params, "max_epochs": 2}).fit(X, y)
    assert "2/2" in capsys.readouterr().err  # the progress bar


def test_device_auto_and_optimizer_class(mixed, fast_params):
    X, y = mixed
    est = MultiTaskNetEstimator(device="auto", optimizer=torch.optim.SGD, **fast_params).fit(X, y)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert str(est.net_.device).startswith(expected)


def test_weight_decay_spares_biases(mixed, fast_params):
    X, y = mixed
    # the network's own layers (the periodic input embedding: tests/test_recipe.py)
    est = MultiTaskNetEstimator(alpha=0.5, numeric_embedding=None, **fast_params).fit(X, y)
    groups = est.net_.optimizer_.param_groups
    assert groups[0]["weight_decay"] == 0.5 and all(p.ndim == 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])


@pytest.mark.parametrize("architecture", ["mmoe", "ple", "cross_stitch"])
def test_weight_decay_spares_what_modules_declare(architecture, mixed, fast_params):
    """Expert biases (2-D) and cross-stitch mixing matrices are not decayed."""
    from sklearn_mtl.architectures import ARCHITECTURES

    if architecture != "cross_stitch":  # two expert layers: stacked 2-D biases
        architecture = ARCHITECTURES[architecture](expert_layer_sizes=(8, 4))
    X, y = mixed
    est = MultiTaskNetEstimator(alpha=0.5, architecture=architecture, **fast_params).fit(X, y)
    decayed = {id(p) for p in est.net_.optimizer_.param_groups[0]["params"]}
    exempt = [
        p
        for module in est.net_.module_.modules()
        if hasattr(module, "no_weight_decay")
        for p in module.no_weight_decay()
    ]
    assert exempt and all(p.ndim == 2 for p in exempt)
    assert not decayed & {id(p) for p in exempt}
    spared = {id(p) for p in est.net_.optimizer_.param_groups[1]["params"]}
    assert {id(p) for p in exempt} <= spared


@pytest.mark.parametrize("batch_norm", [False, True])
def test_architecture_options(mixed, fast_params, batch_norm):
    X, y = mixed
    est = MultiTaskNetEstimator(
        batch_norm=batch_norm,
        dropout=0.1,
        head_layer_sizes=(8,),
        activation="tanh",
        **{**fast_params, "batch_size": 33},  # 270 training rows: a final batch of 6 rows
    ).fit(X, y)
    assert est.score(X, y) > 0.5


def test_complete_label_fast_path_equals_the_masked_losses():
    """Without missing labels or row weights the loss takes plain means: same values."""
    specs = [
        TaskLossSpec("r", "regression", 0, 1),
        TaskLossSpec("m", "multiclass", 1, 2),
        TaskLossSpec("l", "multilabel", 2, 5),
    ]
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(3)))
    generator = torch.Generator().manual_seed(0)
    outputs = {
        "r": torch.randn(7, 1, generator=generator),
        "m": torch.randn(7, 4, generator=generator),
        "l": torch.randn(7, 3, generator=generator),
    }
    targets = torch.cat(
        [
            torch.randn(7, 1, generator=generator),
            torch.randint(0, 4, (7, 1), generator=generator).float(),
            torch.randint(0, 2, (7, 3), generator=generator).float(),
        ],
        dim=1,
    )
    masked_stats, fast_stats = torch.zeros(3, 5), torch.zeros(3, 5)
    masked, masked_present = loss.task_losses(outputs, targets, stats=masked_stats)
    loss.complete_labels = True
    fast, fast_present = loss.task_losses(outputs, targets, stats=fast_stats)
    torch.testing.assert_close(fast, masked)
    torch.testing.assert_close(fast_stats, masked_stats)
    assert fast_present.tolist() == masked_present.tolist() == [True, True, True]


def test_fit_takes_the_fast_path_only_for_complete_unweighted_data(fast_params):
    X, y = make_mixed(missing=0)
    seen = []

    class Spy(Callback):
        def on_batch_end(self, net, **kwargs):
            seen.append(net.criterion_.complete_labels)

    MultiTaskNetEstimator(callbacks=[Spy()], **{**fast_params, "max_epochs": 1}).fit(X, y)
    assert seen and all(seen)
    seen.clear()
    MultiTaskNetEstimator(callbacks=[Spy()], **{**fast_params, "max_epochs": 1}).fit(
        X, y, sample_weight=np.ones(len(X))
    )
    assert seen and not any(seen)
    X, y = make_mixed(missing=0.1)
    seen.clear()
    est = MultiTaskNetEstimator(callbacks=[Spy()], **{**fast_params, "max_epochs": 1}).fit(X, y)
    assert seen and not any(seen)
    assert est.net_.criterion_.complete_labels is False


def test_gradient_callbacks_and_closure_optimizers_still_work(mixed, fast_params):
    """The direct training step notifies on_grad_computed listeners and keeps LBFGS's closure."""
    from skorch.callbacks import GradientNormClipping

    X, y = mixed
    seen = []

    class GradSpy(Callback):
        def on_grad_computed(self, net, named_parameters, **kwargs):
            seen.append(sum(1 for _ in named_parameters))

    est = MultiTaskNetEstimator(  # one run (no refit), so that one history counts the batches
        callbacks=[GradSpy(), GradientNormClipping(1.0)],
        **{**fast_params, "max_epochs": 1, "early_stopping": False},
    ).fit(X, y)
    assert len(seen) == est.history_[-1]["train_batch_count"] and seen[0] > 0
    # the closure of a plain network (LBFGS at lr=0.1 diverges on the periodic embedding)
    params = {**fast_params, "max_epochs": 2, "lr": 0.1, "numeric_embedding": None}
    lbfgs = MultiTaskNetEstimator(optimizer=torch.optim.LBFGS, alpha=0.0, **params)
    assert np.isfinite(lbfgs.fit(X, y).score(X, y))
    with pytest.raises(ValueError, match="LBFGS supports no weight decay: set alpha=0"):
        MultiTaskNetEstimator(optimizer=torch.optim.LBFGS, **params).fit(X, y)


def test_epoch_statistics_do_not_depend_on_the_chunking():
    from sklearn_mtl._losses import EpochPredictions

    specs = [TaskLossSpec("r", "regression", 0, 1), TaskLossSpec("m", "multiclass", 1, 2)]
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(2)))
    generator = torch.Generator().manual_seed(0)
    recorder = EpochPredictions(20, 2, torch.device("cpu"), weighted=True)
    for _ in range(2):
        outputs = {
            "r": torch.randn(10, 1, generator=generator),
            "m": torch.randn(10, 3, generator=generator),
        }
        targets = torch.cat(
            [
                torch.randn(10, 1, generator=generator),
                torch.randint(0, 3, (10, 1), generator=generator).float(),
            ],
            1,
        )
        targets[::4, 0] = float("nan")
        recorder.add(loss, outputs, targets, torch.rand(10, generator=generator))
    torch.testing.assert_close(recorder.statistics(loss, chunk_rows=3), recorder.statistics(loss))


def test_history_rows_hold_no_empty_batch_records(mixed, fast_params):
    """skorch opens a record per batch; empty ones are dropped (save() writes the history),
    those a callback wrote to are kept."""
    from skorch.callbacks import Callback

    class BatchSize(Callback):
        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            if training:
                net.history.record_batch("rows", len(batch[1]))

    X, y = mixed
    params = {**fast_params, "batch_size": 16, "max_epochs": 2}
    est = MultiTaskNetEstimator(**params).fit(X, y)
    assert all(row["batches"] == [] for row in est.history_)
    est = MultiTaskNetEstimator(callbacks=[BatchSize()], **params).fit(X, y)
    rows = [batch["rows"] for batch in est.history_[-1]["batches"]]
    assert sum(rows) == len(X) and len(rows) == -(-len(X) // 16)
