"""Loaders for public multi-task datasets kept in a local folder (nothing is downloaded).

Each loader reads one dataset from a folder laid out as ``<data_dir>/<dataset>/<files>``
(each dataset's README there gives its source and licence) and returns a
:class:`MultiTaskDataset`: the features and labels as pandas DataFrames, the task kinds,
and the cross-validation splitter its README asks for (grouped by patient, stratified
by colour, ordered in time, ...). pandas is required.

The folder is the ``data_dir`` argument, else the ``SKLEARN_MTL_DATA`` environment
variable; without either, a loader raises ``FileNotFoundError`` saying so.

:func:`make_shop` generates a small table of the kind the README shows (nothing to
read), for examples and first steps.

Examples
--------
>>> from sklearn_mtl.datasets import DATASETS
>>> sorted(DATASETS)  # doctest: +NORMALIZE_WHITESPACE
['abalone', 'bike-sharing', 'diamonds', 'emotions-multilabel', 'energy-efficiency',
 'parkinsons-telemonitoring', 'sarcos', 'scene-multilabel', 'school', 'student-performance',
 'wine-quality']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    PredefinedSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
)

from .tasks import Task

__all__ = [
    "DATASETS",
    "MultiTaskDataset",
    "load_abalone",
    "load_bike_sharing",
    "load_census_income",
    "load_diamonds",
    "load_emotions",
    "load_energy_efficiency",
    "load_parkinsons_telemonitoring",
    "load_sarcos",
    "load_scene",
    "load_school",
    "load_student_performance",
    "load_wine_quality",
    "make_shop",
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


_CENSUS_COLUMNS = [
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour",
    "hs_college", "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin",
    "sex", "union_member", "unemp_reason", "full_or_part_emp", "capital_gains",
    "capital_losses", "stock_dividends", "tax_filer_stat", "region_prev_res",
    "state_prev_res", "det_hh_fam_stat", "det_hh_summ", "instance_weight", "mig_chg_msa",
    "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt", "num_emp",
    "fam_under_18", "country_father", "country_mother", "country_self", "citizenship",
    "own_or_self", "vet_question", "vet_benefits", "weeks_worked", "year", "income_50k",
]  # fmt: skip
_CENSUS_NUMERIC = [
    "age", "wage_per_hour", "capital_gains", "capital_losses", "stock_dividends", "num_emp",
    "weeks_worked",
]  # fmt: skip


def load_census_income(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Census-Income (KDD), the test file used by the MMoE paper: two binary tasks.

    99,762 people of the 1994-95 Current Population Survey, 39 features (7 numeric, the
    coded ones as categories); tasks ``income_50k`` (income above 50,000, 6.2 %
    positive) and ``never_married`` (43 %), the MMoE paper's first task group. The
    sampling weight and the label columns are left out of the features. Only this file
    is available, so one 50/50 split stratified by income (``StratifiedShuffleSplit``).
    Not in ``DATASETS`` (the benchmarks' list): with 99,762 rows it is loaded on purpose.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("census-income-kdd",)) / "census-income-kdd"
    table = pd.read_csv(
        folder / "census-income.test.gz",
        header=None,
        names=_CENSUS_COLUMNS,
        skipinitialspace=True,
        dtype=str,
    )
    y = pd.DataFrame(
        {
            "income_50k": (table["income_50k"] == "50000+.").astype(int),
            "never_married": (table["marital_stat"] == "Never married").astype(int),
        }
    )
    X = table.drop(columns=["instance_weight", "income_50k", "marital_stat"])
    for column in _CENSUS_NUMERIC:
        X[column] = X[column].astype(float)
    return MultiTaskDataset(
        "census-income-kdd",
        X,
        y,
        {"income_50k": "binary", "never_married": "binary"},
        StratifiedShuffleSplit(1, test_size=0.5, random_state=random_state),
        stratify=y["income_50k"].to_numpy(),
        description="test file only; one 50/50 split stratified by income",
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


def load_emotions(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """Emotions in music (Trohidis et al. 2008, MULAN): one multilabel task of 6 emotions.

    593 songs, 72 audio features; the task ``emotions`` spans the 6 0/1 label columns
    (amazed-suprised, happy-pleased, relaxing-calm, quiet-still, sad-lonely,
    angry-aggresive, spelled as in the file). MULAN's train/test split is not in the
    folder, so a shuffled 5-fold split.
    """
    import pandas as pd
    from scipy.io import arff

    folder = find_data_dir(data_dir, ("emotions-multilabel",)) / "emotions-multilabel"
    records, meta = arff.loadarff(folder / "emotions.arff")
    table = pd.DataFrame(records)
    kinds = zip(meta.names(), meta.types(), strict=True)
    labels = [name for name, kind in kinds if kind == "nominal"]  # the 6 {0,1} labels
    y = table[labels].apply(lambda column: column.str.decode("ascii").astype(int))
    return MultiTaskDataset(
        "emotions-multilabel",
        table.drop(columns=labels).astype(float),
        y,
        [Task("emotions", "multilabel", columns=tuple(labels))],
        KFold(5, shuffle=True, random_state=random_state),
        description="one multilabel task over 6 labels",
    )


_SCENE_LABELS = ["beach", "sunset", "fall-foliage", "field", "mountain", "urban"]


def load_scene(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """Scene (Boutell et al. 2004, MULAN): one multilabel task of 6 scene classes.

    2,407 images, 294 colour and texture features (unnamed in the files: ``f0`` to
    ``f293``); the task ``scene`` spans the 6 0/1 label columns (beach, sunset,
    fall-foliage, field, mountain, urban). The official split, as one
    :class:`~sklearn.model_selection.PredefinedSplit` fold: the 1,211 training rows first,
    then the 1,196 test rows. ``random_state`` is unused.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("scene-multilabel",)) / "scene-multilabel"
    files = [folder / f"scene-{part}.noheader.csv" for part in ("train", "test")]
    parts = [pd.read_csv(file, header=None) for file in files]
    table = pd.concat(parts, ignore_index=True)
    table.columns = [f"f{j}" for j in range(table.shape[1] - 6)] + _SCENE_LABELS
    test_fold = np.repeat([-1, 0], [len(parts[0]), len(parts[1])])
    return MultiTaskDataset(
        "scene-multilabel",
        table.drop(columns=_SCENE_LABELS).astype(float),
        table[_SCENE_LABELS].astype(int),
        [Task("scene", "multilabel", columns=tuple(_SCENE_LABELS))],
        PredefinedSplit(test_fold),
        description="official train/test split",
    )


def load_bike_sharing(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """UCI Bike Sharing (Fanaee-T & Gama 2013), daily: casual and registered rentals.

    731 days of 2011-2012, calendar and weather features (season, month, weekday and
    weather situation as categories); both counts are regression tasks. ``cnt`` (their
    sum), the date and the row index are left out. Rows are in time order and the README
    warns that random splits leak, so ``TimeSeriesSplit(5)``: each fold trains on the
    days before the ones it tests. ``random_state`` is unused.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("bike-sharing",)) / "bike-sharing"
    table = pd.read_csv(folder / "day.csv").sort_values("dteday", kind="stable")
    table = table.reset_index(drop=True)
    y = table[["casual", "registered"]].astype(float)
    X = table.drop(columns=["instant", "dteday", "casual", "registered", "cnt"]).astype(float)
    for column in ("season", "mnth", "weekday", "weathersit"):
        X[column] = X[column].astype(int).astype(str)
    return MultiTaskDataset(
        "bike-sharing",
        X,
        y,
        {"casual": "regression", "registered": "regression"},
        TimeSeriesSplit(5),
        description="daily counts; TimeSeriesSplit, cnt dropped",
    )


def load_sarcos(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """SARCOS robot-arm inverse dynamics (Vijayakumar & Schaal): 7 joint torques.

    The GPML test file only (4,449 rows): 7 joint positions, velocities and
    accelerations in, the 7 torques out (regression). Rows follow the arm's
    trajectories, so neighbours are near copies: ``KFold(5)`` on contiguous blocks,
    not shuffled. ``random_state`` is unused.
    """
    import pandas as pd
    from scipy.io import loadmat

    folder = find_data_dir(data_dir, ("sarcos",)) / "sarcos"
    values = loadmat(folder / "sarcos_inv_test.mat")["sarcos_inv_test"]
    inputs = [f"{kind}{j}" for kind in ("position", "velocity", "acceleration") for j in range(7)]
    torques = [f"torque{j}" for j in range(7)]
    return MultiTaskDataset(
        "sarcos",
        pd.DataFrame(values[:, :21], columns=inputs),
        pd.DataFrame(values[:, 21:], columns=torques),
        dict.fromkeys(torques, "regression"),
        KFold(5, shuffle=False),
        description="GPML test file only; contiguous folds",
    )


def load_diamonds(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """Diamonds (ggplot2, via seaborn-data): log price (regression) and cut (5 classes).

    53,940 diamonds; carat, depth, table and dimensions x, y, z as numbers, colour and
    clarity as categories; ``log_price`` is the natural log of the price in dollars.
    The README prescribes no split: a shuffled 5-fold split.
    """
    import pandas as pd

    folder = find_data_dir(data_dir, ("diamonds",)) / "diamonds"
    table = pd.read_csv(folder / "diamonds.csv")
    y = pd.DataFrame({"log_price": np.log(table["price"].astype(float)), "cut": table["cut"]})
    X = table.drop(columns=["price", "cut"])
    for column in X.columns:
        if pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype(float)
    return MultiTaskDataset(
        "diamonds",
        X,
        y,
        {"log_price": "regression", "cut": "multiclass"},
        KFold(5, shuffle=True, random_state=random_state),
        description="log price and cut",
    )


_SCHOOL_FEATURES = [
    *(f"year_{j}" for j in range(1, 4)),
    "pct_free_meals",
    "pct_vr_band_1",
    *(f"student_gender_{j}" for j in range(2)),
    *(f"vr_band_{j}" for j in range(1, 4)),
    *(f"ethnic_{j}" for j in range(11)),
    *(f"school_gender_{j}" for j in range(3)),
    *(f"denomination_{j}" for j in range(3)),
]


def load_school(data_dir=None, random_state: int = 0) -> MultiTaskDataset:
    """ILEA school exam scores (Bakker & Heskes 2003, via MALSAR): 139 schools, one task each.

    15,362 students, each in one school: the tasks have disjoint rows, so ``y`` has one
    column per school (``school_000`` to ``school_138``, regression) holding the
    student's exam score in their school's column and NaN in the 138 others, and the
    estimator's masked loss trains each head on its own school's rows only. 27 features
    (the file's constant bias column is dropped). The file does not name its columns, so
    the names are INFERRED from the README's description (3 exam-year dummies, % free
    school meals, % VR band 1, student gender x2, VR band x3, ethnic group x11, school
    gender x3, denomination x3) and ordered by what the data shows: which 0/1 columns
    exclude each other, and that the last six are constant within a school (the README
    lists the school-level blocks before the student-level ones); within a block, which
    level is which is unknown, hence the numbers. ``stratify`` is the school index of
    each row, and the split is the usual protocol: 10 random 75%/25% splits, stratified
    by school (``StratifiedShuffleSplit``), so about a quarter of each school is tested.
    """
    import pandas as pd
    from scipy.io import loadmat

    folder = find_data_dir(data_dir, ("school",)) / "school"
    contents = loadmat(folder / "school.mat")
    inputs = [np.asarray(part, dtype=float) for part in contents["X"].ravel()]
    scores = [np.asarray(part, dtype=float).ravel() for part in contents["Y"].ravel()]
    school = np.repeat(np.arange(len(inputs)), [len(part) for part in inputs])
    columns = [f"school_{t:03d}" for t in range(len(inputs))]
    y = np.full((len(school), len(columns)), np.nan)
    y[np.arange(len(school)), school] = np.concatenate(scores)
    return MultiTaskDataset(
        "school",
        pd.DataFrame(np.vstack(inputs)[:, :-1], columns=_SCHOOL_FEATURES),
        pd.DataFrame(y, columns=columns),
        dict.fromkeys(columns, "regression"),
        StratifiedShuffleSplit(n_splits=10, test_size=0.25, random_state=random_state),
        stratify=school,
        description="one task per school, NaN outside its rows; column names inferred",
    )


DATASETS: dict[str, Callable[..., MultiTaskDataset]] = {
    "wine-quality": load_wine_quality,
    "student-performance": load_student_performance,
    "energy-efficiency": load_energy_efficiency,
    "abalone": load_abalone,
    "parkinsons-telemonitoring": load_parkinsons_telemonitoring,
    "emotions-multilabel": load_emotions,
    "scene-multilabel": load_scene,
    "bike-sharing": load_bike_sharing,
    "sarcos": load_sarcos,
    "diamonds": load_diamonds,
    "school": load_school,
}
"""The loaders by dataset folder name."""


def make_shop(n_samples: int = 500, missing: float = 0.3, random_state: int = 0):
    """A generated shop table: customers' features and four related labels.

    Features: ``age`` (years), ``visits`` (per month) and ``channel`` ("web", "app"
    or "store"). Labels, all driven by the same hidden taste of each customer:
    ``spend`` (regression), ``bought`` (binary, 0/1), and ``pref_books``,
    ``pref_music`` (the 0/1 columns of one multilabel task). A share ``missing`` of
    the ``bought`` labels and of the preference rows is missing (NaN), as when only
    some customers answered a survey. pandas is required.

    Parameters
    ----------
    n_samples : int, default=500
        Number of customers.
    missing : float, default=0.3
        Share of missing ``bought`` labels, and of rows without preferences.
    random_state : int, default=0
        Seed of the generator.

    Returns
    -------
    X : DataFrame of shape (n_samples, 3)
        ``age``, ``visits``, ``channel``.
    Y : DataFrame of shape (n_samples, 4)
        ``spend``, ``bought``, ``pref_books``, ``pref_music``; NaN marks a missing label.

    Examples
    --------
    >>> from sklearn_mtl.datasets import make_shop
    >>> X, Y = make_shop(n_samples=100)
    >>> list(X.columns), list(Y.columns)
    (['age', 'visits', 'channel'], ['spend', 'bought', 'pref_books', 'pref_music'])
    >>> int(Y["bought"].isna().sum())
    30
    """
    import pandas as pd

    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1); got {missing!r}.")
    rng = np.random.default_rng(random_state)
    age = rng.integers(18, 80, size=n_samples).astype(float)
    visits = rng.poisson(4.0, size=n_samples).astype(float)
    channel = rng.choice(["web", "app", "store"], size=n_samples, p=[0.5, 0.3, 0.2])
    effect = pd.Series(channel).map({"web": 0.0, "app": 0.5, "store": -0.5}).to_numpy()
    taste = 0.04 * (age - 45.0) + 0.3 * (visits - 4.0) + effect
    spend = 50.0 + 20.0 * taste + 5.0 * rng.normal(size=n_samples)
    bought = (taste + 0.5 * rng.normal(size=n_samples) > 0).astype(float)
    books = (0.8 * taste + rng.normal(size=n_samples) > 0.3).astype(float)
    music = (-0.8 * taste + rng.normal(size=n_samples) > 0.0).astype(float)
    Y = pd.DataFrame({"spend": spend, "bought": bought, "pref_books": books, "pref_music": music})
    n_missing = round(missing * n_samples)
    Y.loc[rng.permutation(n_samples)[:n_missing], "bought"] = np.nan
    Y.loc[rng.permutation(n_samples)[:n_missing], ["pref_books", "pref_music"]] = np.nan
    X = pd.DataFrame({"age": age, "visits": visits, "channel": channel})
    return X, Y
