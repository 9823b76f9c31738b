"""What kind of values an input column holds, or why it cannot be used.

:func:`column_kind` reads a column's dtype (and, for objects and strings, pandas'
inferred type): ``"number"``, ``"bool"``, ``"category"`` or ``"string"``; datetimes,
durations and complex numbers raise a ``ValueError`` that says how to convert them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOOL", "CATEGORY", "NUMBER", "STRING", "column_kind", "unusable"]

NUMBER, BOOL, CATEGORY, STRING = "number", "bool", "category", "string"


def column_kind(name: Any, values: Any) -> str:
    """The kind of a column's values, or a ValueError saying what to do with it."""
    import pandas as pd
    from pandas.api import types

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORY
    if types.is_bool_dtype(dtype):
        return BOOL
    if types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        unusable(name, dtype, "datetimes")
    if types.is_timedelta64_dtype(dtype):
        unusable(name, dtype, "durations")
    if types.is_complex_dtype(dtype):
        unusable(name, dtype, "complex numbers")
    if types.is_numeric_dtype(dtype):
        return NUMBER
    if types.is_string_dtype(dtype) or types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return NUMBER
        if inferred == "boolean":
            return BOOL
        if inferred in ("datetime64", "datetime", "date", "time", "period"):
            unusable(name, dtype, "datetimes")
        if inferred == "timedelta":
            unusable(name, dtype, "durations")
        if inferred == "complex":
            unusable(name, dtype, "complex numbers")
        if inferred == "empty":
            raise ValueError(f"Column {name!r} has no value at all (all NaN); drop it.")
        return STRING
    unusable(name, dtype, f"values of dtype {dtype}")
    raise AssertionError  # pragma: no cover


def unusable(name: Any, dtype: Any, what: str) -> None:
    """Raise the ValueError for a column of ``what`` (datetimes, ...), with a hint."""
    hints = {
        "datetimes": "convert it to numbers first, for example its year, month and day "
        "(df[col].dt.year, ...) or seconds since an origin",
        "durations": "convert it to numbers first, for example df[col].dt.total_seconds()",
    }
    hint = hints.get(what, "convert it to numbers or strings first, or drop it")
    raise ValueError(f"Column {name!r} holds {what} (dtype {dtype}), which cannot be used: {hint}.")
