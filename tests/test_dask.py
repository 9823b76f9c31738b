"""Grid search on a dask.distributed cluster through joblib's dask backend."""

import signal
from contextlib import contextmanager

import joblib
import numpy as np
import pytest
from conftest import make_mixed
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mtl import MultiTaskNetEstimator

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install sklearn-mtl[dask])"
)

TIME_LIMIT = 240  # seconds for the whole test, cluster start and stop included


@contextmanager
def _time_limit(seconds):
    def expire(signum, frame):
        raise TimeoutError(f"the dask test ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _search():
    return GridSearchCV(
        MultiTaskNetEstimator(
            hidden_layer_sizes=(8,), max_epochs=5, batch_size=32, lr=0.01, random_state=0
        ),
        {"task_weights__task1": [0.5, 2.0]},
        cv=KFold(2),
    )


def test_grid_search_on_a_local_cluster_matches_the_sequential_run():
    X, y = make_mixed(n_samples=120)
    sequential = _search().fit(X, y)
    with _time_limit(TIME_LIMIT):
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                worker_dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.wait_for_workers(2, timeout=120)
            with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
                on_cluster = _search().fit(X, y)
            workers = {task["worker"] for task in stream.data}
            threads = client.run(lambda: __import__("torch").get_num_threads())
        assert cluster.status.name == "closed"
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(
            on_cluster.cv_results_[key], sequential.cv_results_[key], rtol=1e-6
        )
    assert on_cluster.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(on_cluster.predict(X), sequential.predict(X))
    assert len(workers) == 2, f"the fits ran on {workers}; expected two distinct workers"
    assert set(threads.values()) == {1}  # each worker gives torch one thread
