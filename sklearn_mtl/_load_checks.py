"""Checks of a saved model before anything is built from it (see ``_persistence``).

A file read by ``MultiTaskNetEstimator.load`` may have been modified. Whatever the
change, loading raises a ValueError, before allocating anything the file does not
pay for: the fitted metadata is checked against itself (task positions, classes,
scalers, target columns, history), and the tensors against the network its
parameters describe, built first on torch's ``meta`` device (shapes and dtypes, no
memory), so that a tampered ``hidden_layer_sizes`` cannot allocate a huge network and
tensors re-saved with another dtype or shape are refused rather than cast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import torch

from ._kinds import KIND_CLASSES

__all__ = ["MalformedFile", "check_fitted_meta", "check_tensors", "meta_state"]


class MalformedFile(ValueError):
    """A saved model whose content contradicts itself or the network it describes."""


def _fail(message: str) -> NoReturn:
    raise MalformedFile(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_fitted_meta(fitted: Any) -> None:
    """Check the raw JSON of the fitted attributes (before decoding anything).

    Raises
    ------
    MalformedFile
        When task positions, classes, scalers or target columns do not fit together.
    """
    if not isinstance(fitted, Mapping):
        _fail("the fitted attributes are not a JSON object")
    n_columns = fitted.get("_n_target_columns")
    if not isinstance(n_columns, int) or isinstance(n_columns, bool) or n_columns < 1:
        _fail(f"_n_target_columns={n_columns!r} is not a positive int")
    n_features = fitted.get("n_features_in_")
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
        _fail(f"n_features_in_={n_features!r} is not a positive int")
    encoders = fitted.get("encoders_")
    if not isinstance(encoders, list) or not encoders:
        _fail("encoders_ is not a non-empty list")
    claimed: list[int] = []
    names = []
    for index, entry in enumerate(encoders):
        if not isinstance(entry, Mapping):
            _fail(f"encoders_[{index}] is not a JSON object")
        positions = entry.get("positions")
        if (
            not isinstance(positions, list)
            or not positions
            or not all(_is_int(p) and 0 <= p < n_columns for p in positions)
        ):
            _fail(
                f"task {index} has positions {positions!r}; they must be column indices in "
                f"[0, {n_columns})"
            )
        claimed.extend(positions)
        task = entry.get("task_", {})
        fields = task.get("__task__") if isinstance(task, Mapping) else None
        if not isinstance(fields, Mapping) or fields.get("kind") not in KIND_CLASSES:
            _fail(f"task {index} has no valid kind")
        names.append(fields.get("name"))
        kind = fields["kind"]
        for scaler in ("mean_", "scale_"):
            if not _is_finite(entry.get(scaler)):
                _fail(f"task {index}: {scaler}={entry.get(scaler)!r} is not a finite number")
        if not entry["scale_"] > 0:
            _fail(f"task {index}: scale_={entry['scale_']!r} is not positive")
        _check_classes(index, kind, entry.get("classes_"), len(positions))
        _check_class_weight(index, entry.get("class_weight_"), entry.get("classes_"))
    if sorted(claimed) != list(range(n_columns)):
        _fail(f"the tasks' positions {sorted(claimed)} do not cover the {n_columns} columns once")
    if len(set(map(str, names))) != len(names):
        _fail(f"task names {names!r} are not unique")
    target_names = fitted.get("_target_names")
    if target_names is not None and (
        not isinstance(target_names, list)
        or len(target_names) != n_columns
        or not all(isinstance(name, str) for name in target_names)
    ):
        _fail(f"_target_names={target_names!r} does not name the {n_columns} columns")
    if fitted.get("_target_is_1d") and n_columns != 1:
        _fail("a one-dimensional target with several columns")
    history = fitted.get("history_")
    if not isinstance(history, list) or not all(isinstance(row, Mapping) for row in history):
        _fail("history_ is not a list of JSON objects")
    names_in = fitted.get("feature_names_in_")
    if names_in is not None:
        items = names_in.get("__ndarray__") if isinstance(names_in, Mapping) else None
        if not isinstance(items, list) or len(items) != n_features:
            _fail(f"feature_names_in_ does not name the {n_features} features")


def _check_classes(index: int, kind: str, classes: Any, n_positions: int) -> None:
    kind_class = KIND_CLASSES[kind]
    if not kind_class.is_classification:
        if classes is not None:
            _fail(f"task {index} is a {kind} task with classes")
        if n_positions != 1:
            _fail(f"{kind} task {index} spans {n_positions} columns")
        return
    items = classes.get("__ndarray__") if isinstance(classes, Mapping) else None
    shape = classes.get("shape") if isinstance(classes, Mapping) else None
    if not isinstance(items, list) or shape != [len(items)]:
        _fail(f"task {index} has no valid classes_")
    assert isinstance(items, list)
    high: int | None
    if kind_class.multi_column:  # one class per column
        low, high = n_positions, n_positions
    else:
        low, high = 2, kind_class.max_classes
    if len(items) < low or (high is not None and len(items) > high):
        _fail(f"{kind} task {index} has {len(items)} classes")
    if not kind_class.multi_column and n_positions != 1:
        _fail(f"{kind} task {index} spans {n_positions} columns")


def _check_class_weight(index: int, weights: Any, classes: Any) -> None:
    if weights is None:
        return
    items = weights.get("__ndarray__") if isinstance(weights, Mapping) else None
    n_classes = len(classes.get("__ndarray__", [])) if isinstance(classes, Mapping) else -1
    if (
        not isinstance(items, list)
        or len(items) != n_classes
        or not all(_is_finite(w) and w >= 0 for w in items)
    ):
        _fail(f"task {index} has no valid class_weight_ (one weight >= 0 per class)")


def meta_state(build: Callable[[], torch.nn.Module]) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Shapes and dtypes of the state of the module ``build`` makes, on the meta device.

    Examples
    --------
    >>> import torch
    >>> meta_state(lambda: torch.nn.Linear(10**6, 10**6))["weight"]  # no memory used
    ((1000000, 1000000), torch.float32)
    """
    with torch.device("meta"):
        module = build()
    return {key: (tuple(value.shape), value.dtype) for key, value in module.state_dict().items()}


def check_tensors(
    expected: Mapping[str, tuple[tuple[int, ...], Any]],
    tensors: Mapping[str, torch.Tensor],
    what: str,
) -> None:
    """Every expected tensor present with its shape and dtype (nothing is cast).

    Raises
    ------
    MalformedFile
        Naming the first tensor that is missing or differs.
    """
    for key, (shape, dtype) in expected.items():
        tensor = tensors.get(key)
        if tensor is None:
            _fail(f"the saved {what} lacks the tensor {key!r}")
        assert tensor is not None
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            _fail(
                f"the saved {what} tensor {key!r} is {tensor.dtype} {tuple(tensor.shape)}; "
                f"the network described by the file has {dtype} {shape}"
            )
