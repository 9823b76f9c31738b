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

__all__ = ["LOADERS", "REPO", "Dataset", "data_dir"]


def data_dir(argument: str | None = None) -> Path:
    """The shared data folder, or exit with a clear message."""
    try:
        return find_data_dir(argument or _default())
    except FileNotFoundError as error:
        sys.exit(str(error))


def _default() -> str | None:
    beside = REPO.parent / "shared" / "data"
    return str(beside) if beside.is_dir() else None
