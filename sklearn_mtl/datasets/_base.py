"""What every loader returns (:class:`MultiTaskDataset`) and where it reads (``find_data_dir``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import (
    PredefinedSplit,
)

from ..tasks import Task


@dataclass
class MultiTaskDataset:
    """A multi-task table with the tasks and the split its source prescribes.

    Attributes
    ----------
    name : str
        Folder name of the dataset.
    X : pandas.DataFrame
        Features; categorical columns hold strings.
    y : pandas.DataFrame
        One column per task (several for a multilabel task).
    tasks : dict of str to str, or list of Task
        Task kinds by name, for ``MultiTaskNetEstimator(tasks=...)``; a list of
        :class:`~sklearn_mtl.Task` where a task spans several columns (multilabel).
    cv : cross-validation splitter
        The split the dataset's README asks for.
    groups : ndarray or None
        Groups for ``cv`` (rows of one subject stay together).
    stratify : ndarray or None
        Labels to stratify ``cv`` on.
    description : str
        How the tasks were built from the files.
    """

    name: str
    X: Any
    y: Any
    tasks: dict[str, str] | list[Task]
    cv: Any
    groups: np.ndarray | None = None
    stratify: np.ndarray | None = None
    description: str = field(default="")

    @property
    def task_list(self) -> list[Task]:
        """``tasks`` as :class:`~sklearn_mtl.Task` objects, each with its columns of ``y``."""
        if isinstance(self.tasks, Mapping):
            return [Task(name, kind, columns=(name,)) for name, kind in self.tasks.items()]
        return list(self.tasks)

    @property
    def categorical(self) -> list[str]:
        """Names of the non-numeric feature columns."""
        import pandas as pd

        return [c for c in self.X.columns if not pd.api.types.is_numeric_dtype(self.X[c])]

    def splits(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (train, test) index pairs of ``cv``."""
        target = self.stratify if self.stratify is not None else np.zeros(len(self.X))
        return list(self.cv.split(self.X, target, self.groups))

    def subsample(self, n_rows: int, seed: int = 0) -> MultiTaskDataset:
        """A random subset of the rows (for quick runs), with groups, strata, a predefined
        split and the order of the rows kept aligned."""
        keep = np.sort(np.random.default_rng(seed).choice(len(self.X), n_rows, replace=False))
        cv = self.cv
        if isinstance(cv, PredefinedSplit):
            cv = PredefinedSplit(cv.test_fold[keep])
        return MultiTaskDataset(
            self.name,
            self.X.iloc[keep],
            self.y.iloc[keep],
            self.tasks,
            cv,
            None if self.groups is None else self.groups[keep],
            None if self.stratify is None else self.stratify[keep],
            f"{self.description} (subsample of {n_rows} rows)".strip(),
        )


def find_data_dir(data_dir: str | os.PathLike | None = None, needs: tuple[str, ...] = ()) -> Path:
    """The data folder: ``data_dir``, else the ``SKLEARN_MTL_DATA`` environment variable.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Folder that holds the datasets' folders.
    needs : tuple of str
        Dataset folders that must be present.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        When neither is given, or no candidate folder holds the datasets needed (with
        what was tried).
    """
    candidates = [data_dir, os.environ.get("SKLEARN_MTL_DATA")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            if all((Path(candidate) / name).is_dir() for name in needs):
                return Path(candidate).resolve()
    tried = [str(c) for c in candidates if c]
    if not tried:
        raise FileNotFoundError(
            f"Multi-task datasets {list(needs) or ''} not found: no data folder was given. "
            "Pass the folder that holds them (data_dir=) or set the SKLEARN_MTL_DATA "
            "environment variable to it."
        )
    raise FileNotFoundError(
        f"Multi-task datasets {list(needs) or ''} not found (tried {tried}): pass the folder "
        "that holds them (data_dir= or --data-dir) or set SKLEARN_MTL_DATA."
    )
