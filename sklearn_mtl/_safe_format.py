"""The safe file format: a zip of JSON metadata and safetensors, never unpickled.

A file is one zip archive holding two members:

- ``metadata.json``: JSON written by :func:`_encode`, which knows numbers, strings,
  tuples, lists, dicts, arrays, :class:`~sklearn_mtl.Task` objects, NumPy random
  states and the registered classes (:mod:`sklearn_mtl._registry`: architectures,
  weightings, task relations, optimizers), written by *name* with their parameters;
- ``weights.safetensors``: tensors in the `safetensors
  <https://github.com/huggingface/safetensors>`_ format, a JSON header followed by raw
  numbers.

Neither member is ever unpickled, so a tampered file cannot run code when it is read:
at worst it fails to load. :func:`_decode` rebuilds objects by looking their names up in
the registries; no import path read from a file is ever imported. What cannot be
written this way raises a ``TypeError`` that points to pickle/joblib.

:mod:`sklearn_mtl._persistence` writes estimators in this format, and
:mod:`sklearn_mtl._checkpoint` the checkpoints of a fit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ._registry import ARCHITECTURES, OPTIMIZERS, RELATIONS, WEIGHTINGS
from .architectures import Architecture
from .tasks import Task
from .weighting import LossWeighting

__all__ = ["FORMAT", "FORMAT_VERSION", "SavedVersionWarning"]

FORMAT = "sklearn-mtl"
FORMAT_VERSION = 1
"""Version of the archive layout; a file with a newer one is refused."""

_META = "metadata.json"
_WEIGHTS = "weights.safetensors"
_PICKLE_HINT = (
    "Use pickle or joblib for such a model (joblib.dump(est, path)); only load pickles you trust."
)


class SavedVersionWarning(UserWarning):
    """A saved model was written by another version of sklearn-mtl."""


# -- JSON encoding ---------------------------------------------------------------------
def _registry(kind: str) -> dict[str, type]:
    """Classes a file may name, by class name (optimizers by alias)."""
    if kind == "optimizer":
        return dict(OPTIMIZERS)
    registries = {"architecture": ARCHITECTURES, "weighting": WEIGHTINGS, "relation": RELATIONS}
    return registries[kind].by_class_name()


def _encode(value: Any, where: str) -> Any:
    """A JSON-safe form of ``value``; raise TypeError naming ``where`` otherwise."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return _encode(value.item(), where)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if any(isinstance(key, int | np.integer) for key in value):  # column indices
            return {
                "__mapping__": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]
            }
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise TypeError(f"{where} has the key {key!r}; only plain str keys can be saved.")
            encoded[key] = _encode(item, f"{where}[{key!r}]")
        return encoded
    if isinstance(value, Task):
        if callable(value.loss):
            raise TypeError(
                f"{where}: task {value.name!r} has a callable loss "
                f"({getattr(value.loss, '__name__', type(value.loss).__name__)}), which "
                f"cannot be saved without pickle. {_PICKLE_HINT}"
            )
        encoded_task: dict[str, Any] = {}
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if spec.name == "inputs_from":
                encoded_task[spec.name] = list(item)
            elif spec.name == "class_weight" and isinstance(item, Mapping):
                pairs = [
                    [_encode(k, f"{where}.class_weight"), _encode(w, where)]
                    for k, w in item.items()
                ]
                encoded_task[spec.name] = {"__pairs__": pairs}
            else:
                encoded_task[spec.name] = _encode(item, f"{where}.{spec.name}")
        return {"__task__": encoded_task}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"{where} is an array of dtype {value.dtype}, which cannot be saved.")
        items = [_encode(v, f"{where}[{i}]") for i, v in enumerate(value.ravel().tolist())]
        if value.dtype.kind == "O":
            bad = [v for v in value.ravel().tolist() if not isinstance(v, str | int | float | bool)]
            if bad:
                raise TypeError(
                    f"{where} holds {type(bad[0]).__name__} values such as {bad[0]!r}; only "
                    f"strings, numbers and booleans can be saved without pickle. {_PICKLE_HINT}"
                )
        return {"__ndarray__": items, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return {"__random_state__": [name, np.asarray(keys).tolist(), pos, has_gauss, cached]}
    bases: tuple[tuple[str, type[BaseEstimator]], ...] = (
        ("architecture", Architecture),
        ("weighting", LossWeighting),
        ("relation", BaseEstimator),
    )
    for kind, base in bases:
        if isinstance(value, base):
            name = type(value).__name__
            if _registry(kind).get(name) is not type(value):
                raise TypeError(
                    f"{where} is a {name}, which is not one of sklearn-mtl's {kind}s and "
                    f"cannot be rebuilt without pickle. {_PICKLE_HINT}"
                )
            params = value.get_params(deep=False)  # type: ignore[attr-defined]
            return {f"__{kind}__": name, "params": _encode(params, f"{where}.{name}")}
    if isinstance(value, type):
        for name, cls in _registry("optimizer").items():
            if value is cls:
                return {"__optimizer__": name}
    raise TypeError(
        f"{where}={value!r} cannot be saved without pickle: only numbers, strings, "
        "tuples, lists, dicts, Task objects, arrays and sklearn-mtl's own architectures, "
        f"weightings and optimizers can. A user-defined network (a custom trunk) is the "
        f"usual cause. {_PICKLE_HINT}"
    )


def _decode(value: Any, where: str) -> Any:
    """Rebuild a value written by :func:`_encode`; unknown names raise ValueError."""
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"{where}: {text!r} is not a float.")
        return float(text)
    if "__tuple__" in value:
        return tuple(_decode(v, where) for v in value["__tuple__"])
    if "__mapping__" in value:
        pairs = value["__mapping__"]
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str | int)
            for pair in pairs
        ):
            raise ValueError(f"{where}: a dict's [key, value] pairs with str or int keys expected.")
        return {key: _decode(item, where) for key, item in pairs}
    if "__task__" in value:
        fields = value["__task__"]
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: a task must be a JSON object.")
        try:
            decoded = {key: _decode(item, where) for key, item in fields.items()}
            weights = decoded.get("class_weight")
            if isinstance(weights, dict) and "__pairs__" in weights:
                decoded["class_weight"] = {key: w for key, w in weights["__pairs__"]}
            return Task(**decoded)
        except TypeError as error:
            raise ValueError(f"{where}: not a valid task ({error}).") from None
    if "__ndarray__" in value:
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in "biufUO":
            raise ValueError(f"{where}: arrays of dtype {dtype} are not part of the format.")
        items = _decode(value["__ndarray__"], where)
        if dtype.kind == "O":
            array = np.empty(len(items), dtype=object)
            array[:] = items
        else:
            array = np.asarray(items, dtype=dtype)
        return array.reshape([int(n) for n in value["shape"]])
    if "__random_state__" in value:
        fields = value["__random_state__"]
        valid = isinstance(fields, list) and len(fields) == 5
        if valid:
            name, keys, pos, has_gauss, cached = fields
            valid = (
                name == "MT19937"
                and isinstance(keys, list)
                and len(keys) == 624
                and all(isinstance(k, int) and 0 <= k < 2**32 for k in keys)
                and isinstance(pos, int)
                and 0 <= pos <= 624
                and has_gauss in (0, 1)
                and isinstance(cached, int | float)
            )
        if not valid:
            raise ValueError(f"{where}: not a valid numpy RandomState state.")
        state = np.random.RandomState()
        state.set_state(
            (str(name), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))
        )
        return state
    for kind in ("architecture", "weighting", "relation", "optimizer"):
        tag = f"__{kind}__"
        if tag in value:
            name = value[tag]
            registry = _registry(kind)
            if not isinstance(name, str) or name not in registry:
                raise ValueError(
                    f"{where} names the {kind} {name!r}, which is not one of sklearn-mtl's "
                    f"({sorted(registry)}); the file was not written by sklearn-mtl's "
                    "save() or was tampered with. Nothing was imported."
                )
            if kind == "optimizer":
                return registry[name]
            params = _decode(value.get("params", {}), where)
            return registry[name](**params)
    return {key: _decode(item, f"{where}[{key!r}]") for key, item in value.items()}


# -- archive ---------------------------------------------------------------------------
def _write_archive(path: str | os.PathLike, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Write the zip atomically (a temporary file renamed over ``path``)."""
    from safetensors.torch import save as save_tensors

    path = Path(path)
    payload = json.dumps(meta, allow_nan=False, sort_keys=True).encode("utf-8")
    weights = save_tensors(tensors)
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with (
            os.fdopen(handle, "wb") as raw,
            zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as archive,
        ):
            archive.writestr(_META, payload)
            archive.writestr(_WEIGHTS, weights)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _read_archive(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted([_META, _WEIGHTS]):
                raise ValueError(
                    f"{path} is not an sklearn-mtl model file: it holds {names}, expected "
                    f"{[_META, _WEIGHTS]}."
                )
            payload = archive.read(_META)
            weights = archive.read(_WEIGHTS)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{path} is not an sklearn-mtl model file (not a zip archive written by "
            "save()). A pickle or joblib file must be opened with joblib.load, and only "
            "when you trust it."
        ) from None
    if _nesting_depth(payload) > _MAX_DEPTH:
        raise ValueError(
            f"{path} is malformed: its metadata nests deeper than {_MAX_DEPTH} levels. It "
            "was not written by sklearn-mtl's save(), or it was modified."
        )
    try:
        meta = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {_META} is not valid JSON ({error}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sklearn-mtl model file (no '{FORMAT}' format tag).")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} uses format version {version!r}; this sklearn-mtl reads up to "
            f"{FORMAT_VERSION}. Upgrade sklearn-mtl to load it."
        )
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: {_WEIGHTS} is not a valid safetensors file ({error}).") from None
    return meta, tensors


_MAX_DEPTH = 64


def _nesting_depth(payload: bytes) -> int:
    """The deepest nesting of JSON brackets outside strings (without parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def _versions() -> dict[str, str]:
    import sklearn
    import skorch

    from . import __version__

    return {
        "sklearn_mtl": __version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _check_versions(path, meta: dict) -> None:
    saved = meta.get("versions", {}).get("sklearn_mtl")
    current = _versions()["sklearn_mtl"]
    if saved != current:
        warnings.warn(
            f"{path} was written by sklearn-mtl {saved}, and is loaded by sklearn-mtl "
            f"{current}. Its predictions may differ or the model may misbehave; refit "
            "it with this version, or load it with the version that wrote it.",
            SavedVersionWarning,
            stacklevel=3,
        )
