"""Data-parallel training over two CPU processes (gloo on 127.0.0.1)."""

import pickle
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import make_mixed

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._distributed import fit_distributed
from sklearn_mtl._net import MultiTaskNet

PARAMS = {
    "hidden_layer_sizes": (16,),
    "max_epochs": 5,
    "batch_size": 64,
    "lr": 0.01,
    "random_state": 0,
    "loss_weighting": "uncertainty",
}


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
        est = fit_distributed(MultiTaskNetEstimator(**PARAMS), X, y)
        with open(f"{out}/rank{rank}.pkl", "wb") as handle:
            pickle.dump(est, handle)
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
    return [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]


def test_parameters_are_identical_across_ranks(ranks):
    first, second = (est.net_.module_.state_dict() for est in ranks)
    for name in first:
        assert torch.equal(first[name], second[name]), name
    for a, b in zip(
        ranks[0].net_.criterion_.state_dict().values(),
        ranks[1].net_.criterion_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert ranks[0].history_[-1]["train_loss"] == ranks[1].history_[-1]["train_loss"]


def test_distributed_fit_predicts_like_a_single_process_fit(ranks):
    X, y = _data()
    single = MultiTaskNetEstimator(**PARAMS).fit(X, y)
    distributed = ranks[0]
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
    est = ranks[0]
    assert type(est.net_) is MultiTaskNet
    assert est.callbacks is None and est.device == "cpu"
    assert "data_parallel" not in dict(est.net_.callbacks_)
    assert not hasattr(est.net_, "shard_")
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
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    mp.start_processes(
        _nccl_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn"
    )
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for name in first:
        assert torch.equal(first[name], second[name]), name
