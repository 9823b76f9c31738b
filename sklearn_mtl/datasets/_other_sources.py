"""Loaders of tables from other collections: MULAN (multilabel), GPML, ggplot2, MALSAR."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import (
    KFold,
    PredefinedSplit,
    StratifiedShuffleSplit,
)

from ..tasks import Task
from ._base import MultiTaskDataset, find_data_dir


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
