"""Loaders of tables from the UCI Machine Learning Repository."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
)

from ._base import MultiTaskDataset, find_data_dir


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


# Column names of the UCI census-income (KDD) files, in file order (census-income.names);
# benchmarks/census_mmoe.py reads the file with them too.
CENSUS_COLUMNS = [
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
        names=CENSUS_COLUMNS,
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
