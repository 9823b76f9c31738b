"""The benchmarks' access to the real datasets: the package's loaders, script-friendly.

``LOADERS`` and ``Dataset`` are :mod:`sklearn_mtl.datasets`'s ``DATASETS`` and
``MultiTaskDataset``; :func:`data_dir` exits with the loader's message when the data
folder is absent (``--data-dir``, else ``$SKLEARN_MTL_DATA``, else ``../shared/data``
beside the repository).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn_mtl.datasets import DATASETS as LOADERS
from sklearn_mtl.datasets import MultiTaskDataset as Dataset
from sklearn_mtl.datasets import find_data_dir

REPO = Path(__file__).resolve().parent.parent

__all__ = ["LOADERS", "REPO", "Dataset", "data_dir", "load_one_column_tasks"]


def data_dir(argument: str | None = None) -> Path:
    """The shared data folder, or exit with a clear message."""
    try:
        return find_data_dir(argument or _default())
    except FileNotFoundError as error:
        sys.exit(str(error))


def _default() -> str | None:
    beside = REPO.parent / "shared" / "data"
    return str(beside) if beside.is_dir() else None


def load_one_column_tasks(name: str, root: Path) -> Dataset:
    """Dataset ``name``, or exit where a task spans several columns (multilabel), which
    the benchmarks with per-kind single-task references do not handle."""
    dataset = LOADERS[name](root)
    if any(len(task.columns) > 1 for task in dataset.task_list):
        sys.exit(
            f"{name}: a task spans several columns (multilabel), which this benchmark "
            "does not handle; benchmarks/defaults.py does."
        )
    return dataset
