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

The loaders: :func:`load_wine_quality`, :func:`load_student_performance`,
:func:`load_census_income`, :func:`load_energy_efficiency`, :func:`load_abalone`,
:func:`load_parkinsons_telemonitoring`, :func:`load_emotions`, :func:`load_scene`,
:func:`load_bike_sharing`, :func:`load_sarcos`, :func:`load_diamonds` and
:func:`load_school`.
"""

from __future__ import annotations

from collections.abc import Callable

from ._base import MultiTaskDataset
from ._base import find_data_dir as find_data_dir  # the benchmarks find the data with it
from ._other_sources import (
    load_diamonds,
    load_emotions,
    load_sarcos,
    load_scene,
    load_school,
)
from ._synthetic import make_shop
from ._uci import (
    load_abalone,
    load_bike_sharing,
    load_census_income,
    load_energy_efficiency,
    load_parkinsons_telemonitoring,
    load_student_performance,
    load_wine_quality,
)

__all__ = [
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
"""The loaders by dataset folder name (the benchmarks' list; census-income is left out)."""
