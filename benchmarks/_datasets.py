"""Loaders for the real multi-task datasets of ../shared/data, with the splits their READMEs ask for.

Each loader returns a :class:`Dataset`: features (a DataFrame, categorical columns as
strings), labels (a DataFrame, one column per task), the task kinds, and the
cross-validation splitter (with groups where rows of one subject must stay together).
The data folder is ``--data-dir``, else ``$SKLEARN_MTL_DATA``, else ``../shared/data``
beside the repository.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame
    y: pd.DataFrame
    tasks: dict[str, str]
    cv: object
    groups: np.ndarray | None = None
    stratify: np.ndarray | None = None
    note: str = ""

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.X.columns if not pd.api.types.is_numeric_dtype(self.X[c])]

    def splits(self):
        target = self.stratify if self.stratify is not None else np.zeros(len(self.X))
        return list(self.cv.split(self.X, target, self.groups))


def data_dir(argument: str | None = None) -> Path:
    """The shared data folder, or exit with a clear message."""
    for candidate in (argument, os.environ.get("SKLEARN_MTL_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    sys.exit(
        "Data folder not found: pass --data-dir or set SKLEARN_MTL_DATA to the shared/data "
        "folder that holds the datasets (see its README.md)."
    )


def wine(root: Path, seed: int = 0) -> Dataset:
    folder = root / "wine-quality"
    wines = pd.concat(
        [
            pd.read_csv(folder / "winequality-red.csv", sep=";").assign(colour="red"),
            pd.read_csv(folder / "winequality-white.csv", sep=";").assign(colour="white"),
        ],
        ignore_index=True,
    )
    y = pd.DataFrame({"colour": wines["colour"], "quality": wines["quality"].astype(float)})
    return Dataset(
        "wine-quality", wines.drop(columns=["quality", "colour"]), y,
        {"colour": "binary", "quality": "regression"},
        StratifiedKFold(5, shuffle=True, random_state=seed), stratify=y["colour"].to_numpy(),
    )


_STUDENT_KEYS = ["school", "sex", "age", "address", "famsize", "Pstatus", "Medu", "Fedu",
                 "Mjob", "Fjob", "reason", "nursery", "internet"]


def student(root: Path, seed: int = 0) -> Dataset:
    """Students in both courses (the UCI merge, 382 rows), no prior grades as inputs (setup C)."""
    folder = root / "student-performance"
    mat = pd.read_csv(folder / "student-mat.csv", sep=";")
    por = pd.read_csv(folder / "student-por.csv", sep=";")
    both = mat.merge(por, on=_STUDENT_KEYS, suffixes=("_mat", "_por"))
    grades = [f"G{i}_{c}" for i in (1, 2, 3) for c in ("mat", "por")]
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
    return Dataset(
        "student-performance", X, y,
        {"G3_mat": "regression", "G3_por": "regression", "pass_mat": "binary"},
        KFold(5, shuffle=True, random_state=seed),
        note="382 merged students, no G1/G2 inputs",
    )


def energy(root: Path, seed: int = 0) -> Dataset:
    table = pd.read_csv(root / "energy-efficiency" / "ENB2012_data.csv")
    X = table.drop(columns=["Y1", "Y2"]).astype(float)
    for column in ("X6", "X8"):  # orientation and glazing distribution are categories
        X[column] = X[column].astype(int).astype(str)
    y = table[["Y1", "Y2"]].astype(float).rename(columns={"Y1": "heating", "Y2": "cooling"})
    return Dataset("energy-efficiency", X, y, {"heating": "regression", "cooling": "regression"},
                   KFold(5, shuffle=True, random_state=seed))


def abalone(root: Path, seed: int = 0) -> Dataset:
    names = ["sex", "length", "diameter", "height", "whole", "shucked", "viscera", "shell", "rings"]
    table = pd.read_csv(root / "abalone" / "abalone.csv", header=None, names=names)
    y = pd.DataFrame({"sex": table["sex"], "rings": table["rings"].astype(float)})
    return Dataset("abalone", table.drop(columns=["sex", "rings"]), y,
                   {"sex": "multiclass", "rings": "regression"},
                   KFold(5, shuffle=True, random_state=seed))


def parkinsons(root: Path, seed: int = 0) -> Dataset:
    """Voice measures, age and sex in; split by patient (GroupKFold), as the README warns."""
    table = pd.read_csv(root / "parkinsons-telemonitoring" / "parkinsons_updrs.data")
    y = table[["motor_UPDRS", "total_UPDRS"]].astype(float)
    X = table.drop(columns=["subject#", "test_time", "motor_UPDRS", "total_UPDRS"]).astype(float)
    return Dataset("parkinsons-telemonitoring", X, y,
                   {"motor_UPDRS": "regression", "total_UPDRS": "regression"},
                   GroupKFold(5), groups=table["subject#"].to_numpy(),
                   note="GroupKFold by patient; test_time dropped")


LOADERS = {
    "wine-quality": wine,
    "student-performance": student,
    "energy-efficiency": energy,
    "abalone": abalone,
    "parkinsons-telemonitoring": parkinsons,
}
