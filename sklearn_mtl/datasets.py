"""Loaders for public multi-task datasets kept in a local folder (nothing is downloaded).

Each loader reads one dataset from a folder laid out as ``<data_dir>/<dataset>/<files>``
(the layout of the project's shared data folder; each dataset's README there gives its
source and licence) and returns a :class:`MultiTaskDataset`: the features and labels as
pandas DataFrames, the task kinds, and the cross-validation splitter its README asks for
(grouped by patient, stratified by colour, ...). pandas is required.

The folder is the ``data_dir`` argument, else the ``SKLEARN_MTL_DATA`` environment
variable, else ``../shared/data`` from the current directory.

Examples
--------
>>> from sklearn_mtl.datasets import DATASETS
>>> sorted(DATASETS)  # doctest: +NORMALIZE_WHITESPACE
['abalone', 'energy-efficiency', 'parkinsons-telemonitoring', 'student-performance',
 'wine-quality']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

__all__ = [
    "DATASETS",
    "MultiTaskDataset",
    "find_data_dir",
    "load_abalone",
    "load_energy_efficiency",
    "load_parkinsons_telemonitoring",
    "load_student_performance",
    "load_wine_quality",
]


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
        One column per task.
    tasks : dict of str to str
        Task kinds, for ``MultiTaskNetEstimator(tasks=...)``.
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
    tasks: dict[str, str]
    cv: Any
    groups: np.ndarray | None = None
    stratify: np.ndarray | None = None
    description: str = field(default="")

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
        """A random subset of the rows (for quick runs), with groups and strata kept aligned."""
        keep = np.sort(np.random.default_rng(seed).choice(len(self.X), n_rows, replace=False))
        return MultiTaskDataset(
            self.name,
            self.X.iloc[keep],
            self.y.iloc[keep],
            self.tasks,
            self.cv,
            None if self.groups is None else self.groups[keep],
            None if self.stratify is None else self.stratify[keep],
            f"{self.description} (subsample of {n_rows} rows)".strip(),
        )


def find_data_dir(data_dir: str | os.PathLike | None = None, needs: tuple[str, ...] = ()) -> Path:
    """The data folder: ``data_dir``, else ``$SKLEARN_MTL_DATA``, else ``../shared/data``.

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
        When no candidate folder holds the datasets needed, with what was tried.
    """
    candidates = [data_dir, os.environ.get("SKLEARN_MTL_DATA"), Path("..") / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            if all((Path(candidate) / name).is_dir() for name in needs):
                return Path(candidate).resolve()
    tried = [str(c) for c in candidates if c]
    raise FileNotFoundError(
        f"Multi-task datasets {list(needs) or ''} not found (tried {tried}): pass the folder "
        "that holds them (data_dir= or --data-dir) or set SKLEARN_MTL_DATA."
    )


def load_wine_quality(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Wine Quality (Cortez et al. 2009): colour (binary) and quality (regression).

    6,497 red and white wines, 11 physico-chemical features; 5-fold split stratified by
    colour.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("wine-quality",)) / "wine-quality"
    wines = pd.concat(
        [
            pd.read_csv(folder / "winequality-red.csv", sep=";").assign(colour="red"),
            pd.read_csv(folder / "winequality-white.csv", sep=";").assign(colour="white"),
        ],
        ignore_index=True,
    )
    y = pd.DataFrame({"colour": wines["colour"], "quality": wines["quality"].astype(float)})
    return MultiTaskDataset(
        "wine-quality",
        wines.drop(columns=["quality", "colour"]),
        y,
        {"colour": "binary", "quality": "regression"},
        StratifiedKFold(5, shuffle=True, random_state=random_state),
        stratify=y["colour"].to_numpy(),
        description="red and white wines concatenated",
    )


_STUDENT_KEYS = [
    "school", "sex", "age", "address", "famsize", "Pstatus", "Medu", "Fedu",
    "Mjob", "Fjob", "reason", "nursery", "internet",
]  # fmt: skip


def load_student_performance(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Student Performance (Cortez & Silva 2008): students taking both courses.

    The UCI merge of the maths and Portuguese files on 13 attributes (382 rows); tasks
    G3_mat and G3_por (final grades, regression) and pass_mat (G3_mat >= 10, binary);
    no prior grades (G1, G2) as inputs (the paper's setup C); 5-fold split.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("student-performance",)) / "student-performance"
    mat = pd.read_csv(folder / "student-mat.csv", sep=";")
    por = pd.read_csv(folder / "student-por.csv", sep=";")
    both = mat.merge(por, on=_STUDENT_KEYS, suffixes=("_mat", "_por"))
    grades = [f"G{i}_{course}" for i in (1, 2, 3) for course in ("mat", "por")]
    features = _STUDENT_KEYS + [c for c in both.columns if c.endswith("_por") and c not in grades]
    X = both[features].copy()
    for column in X.columns:
        if pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype(float)
    y = pd.DataFrame(
        {
            "G3_mat": both["G3_mat"].astype(float),
            "G3_por": both["G3_por"].astype(float),
            "pass_mat": np.where(both["G3_mat"] >= 10, "pass", "fail"),
        }
    )
    return MultiTaskDataset(
        "student-performance",
        X,
        y,
        {"G3_mat": "regression", "G3_por": "regression", "pass_mat": "binary"},
        KFold(5, shuffle=True, random_state=random_state),
        description="382 students of both courses, no G1/G2 inputs",
    )


def load_energy_efficiency(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Energy Efficiency (Tsanas & Xifara 2012): heating and cooling load (regression).

    768 simulated buildings; orientation (X6) and glazing distribution (X8) are
    categories; 5-fold split.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("energy-efficiency",)) / "energy-efficiency"
    table = pd.read_csv(folder / "ENB2012_data.csv")
    X = table.drop(columns=["Y1", "Y2"]).astype(float)
    for column in ("X6", "X8"):
        X[column] = X[column].astype(int).astype(str)
    y = table[["Y1", "Y2"]].astype(float).rename(columns={"Y1": "heating", "Y2": "cooling"})
    return MultiTaskDataset(
        "energy-efficiency",
        X,
        y,
        {"heating": "regression", "cooling": "regression"},
        KFold(5, shuffle=True, random_state=random_state),
    )


def load_abalone(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Abalone (Nash et al. 1994): sex (3 classes) and rings (regression); 5-fold split."""
    import pandas as pd

    names = ["sex", "length", "diameter", "height", "whole", "shucked", "viscera", "shell"]
    folder = find_data_dir(data_dir, ("abalone",)) / "abalone"
    table = pd.read_csv(folder / "abalone.csv", header=None, names=[*names, "rings"])
    y = pd.DataFrame({"sex": table["sex"], "rings": table["rings"].astype(float)})
    return MultiTaskDataset(
        "abalone",
        table.drop(columns=["sex", "rings"]),
        y,
        {"sex": "multiclass", "rings": "regression"},
        KFold(5, shuffle=True, random_state=random_state),
    )


def load_parkinsons_telemonitoring(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Parkinsons Telemonitoring (Tsanas et al. 2010): motor and total UPDRS.

    Voice measures, age and sex in (test_time dropped); GroupKFold by patient, as the
    README warns that ~140 recordings per patient make random splits wildly optimistic.
    ``random_state`` is unused (the split is deterministic).
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("parkinsons-telemonitoring",)) / "parkinsons-telemonitoring"
    table = pd.read_csv(folder / "parkinsons_updrs.data")
    y = table[["motor_UPDRS", "total_UPDRS"]].astype(float)
    X = table.drop(columns=["subject#", "test_time", "motor_UPDRS", "total_UPDRS"]).astype(float)
    return MultiTaskDataset(
        "parkinsons-telemonitoring",
        X,
        y,
        {"motor_UPDRS": "regression", "total_UPDRS": "regression"},
        GroupKFold(5),
        groups=table["subject#"].to_numpy(),
        description="GroupKFold by patient; test_time dropped",
    )


DATASETS: dict[str, Callable[..., MultiTaskDataset]] = {
    "wine-quality": load_wine_quality,
    "student-performance": load_student_performance,
    "energy-efficiency": load_energy_efficiency,
    "abalone": load_abalone,
    "parkinsons-telemonitoring": load_parkinsons_telemonitoring,
}
"""The loaders by dataset folder name."""
