"""Data-parallel training (torch's DistributedDataParallel) over two CPU processes
(gloo on 127.0.0.1), and the NCCL form on two GPUs."""

import pickle
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import make_mixed
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, fit_distributed
from sklearn_mtl._net import MultiTaskNet

PARAMS = {
    "hidden_layer_sizes": (16,),
    "max_epochs": 5,
    "batch_size": 64,
    "lr": 0.01,
    "random_state": 0,
    "loss_weighting": "uncertainty",
}


# a gradient-level method with the relationship plugins: every rank must still agree
GRADIENT = {
    **PARAMS,
    "loss_weighting": "pcgrad",
    "record_task_affinity": 2,
    "task_relation": "mtrl",
    "head_layer_sizes": (4,),
}


class _SeesDDP(Callback):
    """Records the type of the module the training step's forward went through."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training and net.data_parallel_ is not None:
            self.wrapper_ = type(net.data_parallel_.ddp).__name__


def _data():
    X, y = make_mixed(n_samples=256, missing=0)  # equal halves, no gap: exact averaging
    return X, y


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank, world_size, port, out):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=__import__("datetime").timedelta(60),
    )
    try:
        X, y = _data()
        est = MultiTaskNetEstimator(**PARAMS, callbacks=[("sees", _SeesDDP())])
        fit_distributed(est, X, y)
        sees = dict(est.net_.callbacks_)["sees"]  # the estimator's copy of the callback
        est.set_params(callbacks=None)
        est.net_.callbacks_ = [(n, cb) for n, cb in est.net_.callbacks_ if n != "sees"]
        gradient = fit_distributed(MultiTaskNetEstimator(**GRADIENT), X, y)
        with open(f"{out}/rank{rank}.pkl", "wb") as handle:
            pickle.dump((est, gradient, sees.wrapper_), handle)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(
        _worker, args=(2, _free_port(), str(out)), nprocs=2, join=False, start_method="spawn"
    )
    try:
        while not context.join(timeout=120):
            pass
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    runs = [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    assert [run[2] for run in runs] == ["DistributedDataParallel"] * 2
    return runs


def _assert_same_state(first, second):
    for part in ("module_", "criterion_"):
        a, b = (getattr(est.net_, part).state_dict() for est in (first, second))
        assert list(a) == list(b)
        for name in a:
            assert torch.equal(a[name], b[name]), (part, name)
    assert first.history_[-1]["train_loss"] == second.history_[-1]["train_loss"]


def test_parameters_are_identical_across_ranks(ranks):
    _assert_same_state(ranks[0][0], ranks[1][0])


def test_gradient_level_method_and_plugins_agree_across_ranks(ranks):
    first, second = ranks[0][1], ranks[1][1]
    _assert_same_state(first, second)
    np.testing.assert_array_equal(first.task_affinity_, second.task_affinity_)
    np.testing.assert_array_equal(first.task_relation_, second.task_relation_)
    # the affinity's epoch sums were summed over the processes: each sampled batch of
    # each rank counted (2 batches of 64 rows sampled per epoch, on each of 2 ranks)
    assert np.isfinite(first.task_affinity_.to_numpy()).all()
    weights = [first.history_[-1][f"weight_{task.name}"] for task in first.tasks_]
    assert all(np.isfinite(weights))


def test_distributed_fit_predicts_like_a_single_process_fit(ranks):
    X, y = _data()
    single = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    distributed = ranks[0][0]
    np.testing.assert_allclose(
        distributed.predict(X)[:, 0].astype(float),
        single.predict(X)[:, 0].astype(float),
        rtol=1e-3,
        atol=1e-3,
    )
    for a, b in zip(distributed.predict_proba(X), single.predict_proba(X), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert distributed.n_iter_ == single.n_iter_
    np.testing.assert_allclose(
        distributed.history_[-1]["train_loss"], single.history_[-1]["train_loss"], rtol=1e-3
    )


def test_the_fitted_estimator_is_a_plain_one(ranks):
    est = ranks[0][0]
    assert type(est.net_) is MultiTaskNet
    assert est.callbacks is None and est.device == "cpu"
    assert "data_parallel" not in dict(est.net_.callbacks_)
    assert est.net_.data_parallel_ is None and "data_parallel_" not in vars(est.net_)
    X, _ = _data()
    assert est.predict(X).shape[0] == X.shape[0]  # every row, nothing padded


def test_fit_distributed_needs_an_int_random_state():
    with pytest.raises(ValueError, match="int random_state"):
        fit_distributed(MultiTaskNetEstimator(), *_data())


def _nccl_worker(rank, world_size, port, out):
    dist.init_process_group(
        "nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        X, y = _data()
        est = fit_distributed(MultiTaskNetEstimator(**{**PARAMS, "device": "cuda"}), X, y)
        torch.save(est.net_.module_.state_dict(), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.gpu
def test_nccl_on_two_gpus(tmp_path):
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    mp.start_processes(
        _nccl_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn"
    )
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for name in first:
        assert torch.equal(first[name], second[name]), name


def _nccl_single_worker(rank, port, out):
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        X, y = _data()
        for name, params in (("loss", PARAMS), ("gradient", GRADIENT)):
            est = fit_distributed(MultiTaskNetEstimator(**{**params, "device": "cuda"}), X, y)
            np.save(f"{out}/{name}.npy", est.predict(X)[:, 0].astype(float))
    finally:
        dist.destroy_process_group()


@pytest.mark.gpu
def test_nccl_process_group_on_one_gpu(tmp_path):
    """The NCCL form (DDP with a CUDA device) in one process: the fit a plain CUDA
    fit gives, for a loss-level and a gradient-level method with the plugins."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    mp.start_processes(
        _nccl_single_worker, args=(_free_port(), str(tmp_path)), nprocs=1, start_method="spawn"
    )
    X, y = _data()
    for name, params in (("loss", PARAMS), ("gradient", GRADIENT)):
        single = MultiTaskNetEstimator(**{**params, "device": "cuda"}).fit(X, y)
        np.testing.assert_allclose(
            np.load(tmp_path / f"{name}.npy"),
            single.predict(X)[:, 0].astype(float),
            rtol=1e-4,
            atol=1e-4,
        )


def test_fit_distributed_passes_groups_to_the_holdout(monkeypatch):
    """In a process group of one, the groups reach early stopping's holdout."""
    import sklearn_mtl._estimator_fit as estimator_fit

    seen = []
    original = estimator_fit.holdout_rows

    def recording(*args, **kwargs):
        seen.append(args[4] if len(args) > 4 else kwargs.get("groups"))
        return original(*args, **kwargs)

    monkeypatch.setattr(estimator_fit, "holdout_rows", recording)
    X, y = _data()
    groups = np.arange(len(X)) // 8
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        est = MultiTaskNetEstimator(**{**PARAMS, "max_epochs": 2, "early_stopping": True})
        fit_distributed(est, X, y, groups=groups)
    finally:
        dist.destroy_process_group()
    assert len(seen) == 1 and seen[0] is not None and len(seen[0]) == len(X)
