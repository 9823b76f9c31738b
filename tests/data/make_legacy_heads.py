"""Write the files of ``test_many_tasks.py::test_files_saved_before_the_fusion_load``.

Run from a checkout of sklearn-mtl before the task heads were fused (commit e337d0e),
``PYTHONPATH=. python tests/data/make_legacy_heads.py``: each architecture's model is
saved (separate ``task_heads.{k}.0.weight`` parameters and their optimizer state), with
its probabilities before and after one more ``partial_fit`` epoch.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from conftest import make_mixed  # noqa: E402

from sklearn_mtl import MultiTaskNetEstimator, Task  # noqa: E402


def main() -> None:
    X, y = make_mixed(n_samples=80, n_features=4)
    TASKS = [
        Task("r", "regression", columns=0),
        Task("b", "binary", columns=1),
        Task("m", "multiclass", columns=2, inputs_from=["r"]),
    ]
    for arch in ["hard", "mmoe"]:
        est = MultiTaskNetEstimator(
            architecture=arch,
            tasks=TASKS,
            hidden_layer_sizes=(6,),
            max_epochs=2,
            batch_size=32,
            random_state=0,
        ).fit(X, y)
        path = HERE / f"legacy_{arch}.mtl"
        est.save(path)
        loaded = est.predict_proba(X)[1]
        continued = MultiTaskNetEstimator.load(path).partial_fit(X, y)
        np.savez(
            HERE / f"legacy_{arch}.npz", loaded=loaded, continued=continued.predict_proba(X)[1]
        )


if __name__ == "__main__":  # not on import (pytest --doctest-modules imports it)
    main()
