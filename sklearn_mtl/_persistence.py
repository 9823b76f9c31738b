"""Saving and loading without pickle, and per-fit training checkpoints.

A saved model is one zip archive holding two members:

- ``metadata.json``: the estimator's parameters, its tasks, classes and target
  scalers, the training history, the optimizer's hyperparameters and the versions of
  the packages that wrote it;
- ``weights.safetensors``: every tensor (network weights, the loss weighting's state,
  the optimizer's moments) in the `safetensors <https://github.com/huggingface/safetensors>`_
  format, a JSON header followed by raw numbers.

Neither member is ever unpickled, so a tampered file cannot run code when it is loaded:
at worst it fails to load. Objects are rebuilt from JSON by *name*, looked up in our
own registries (``ARCHITECTURES``, ``WEIGHTINGS``, the estimator's optimizer names);
no import path read from a file is ever imported. What cannot be written this way (a
user-defined trunk, a custom optimizer class, labels that are not strings or numbers)
raises a clear error that points to pickle/joblib, which stay supported for them.

The same archive format stores the checkpoints of ``checkpoint_dir``
(:class:`FitCheckpoint`), with the extra state an interrupted fit needs to resume
exactly: the optimizer state, the random generators and early stopping's state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch.callbacks import Callback
from skorch.history import History

from ._input import InputEncoder
from ._load_checks import MalformedFile, check_fitted_meta, check_tensors, meta_state
from .architectures import ARCHITECTURES, Architecture
from .architectures._heads import fuse_legacy_optimizer_state
from .tasks import Task, TaskEncoder
from .weighting import WEIGHTINGS, LossWeighting

__all__ = [
    "FORMAT_VERSION",
    "FitCheckpoint",
    "SavedVersionWarning",
    "load_estimator",
    "save_estimator",
]

FORMAT = "sklearn-mtl"
FORMAT_VERSION = 1
"""Version of the archive layout; a file with a newer one is refused."""

_INPUT = "input_encoder."  # prefix of the input encoding's statistics among the tensors
_META = "metadata.json"
_WEIGHTS = "weights.safetensors"
# Fitted attributes the archive knows how to write; anything else is refused rather
# than silently dropped.
_FITTED = (
    "encoders_",
    "input_encoder_",
    "tasks_",
    "classes_",
    "n_features_in_",
    "feature_names_in_",
    "net_",
    "history_",
    "n_iter_",
    "task_weights_",
    "_n_target_columns",
    "_target_names",
    "_target_is_frame",
    "_target_is_1d",
    "_disjoint_rows",
    "task_affinity_",
    "task_relation_",
)
_PICKLE_HINT = (
    "Use pickle or joblib for such a model (joblib.dump(est, path)); only load pickles you trust."
)


class SavedVersionWarning(UserWarning):
    """A saved model was written by another version of sklearn-mtl."""


# -- JSON encoding ---------------------------------------------------------------------
def _registry(kind: str) -> dict[str, type]:
    if kind == "architecture":
        return {cls.__name__: cls for cls in ARCHITECTURES.values()}
    if kind == "weighting":
        return {cls.__name__: cls for cls in WEIGHTINGS.values()}
    if kind == "relation":
        from ._relationship import MTRL

        return {"MTRL": MTRL}
    from ._estimator import _OPTIMIZERS

    return {name: cls for name, cls in _OPTIMIZERS.items()}


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


# -- tensors ---------------------------------------------------------------------------
def _cpu_tensors(prefix: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}{key}": value.detach().to("cpu", copy=True).contiguous()
        for key, value in state.items()
        if value is not None
    }


def _take(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` that also fills buffers created lazily (None until first used)."""
    for key in list(state):
        owner_name, _, name = key.rpartition(".")
        try:
            owner = module.get_submodule(owner_name) if owner_name else module
        except AttributeError:  # a layout that load_state_dict's hooks translate
            continue
        buffers = getattr(owner, "_buffers", {})
        if name in buffers and buffers[name] is None:
            device = next(iter(module.parameters()), torch.empty(0)).device
            buffers[name] = state[key].to(device)
    current = module.state_dict()
    for key, tensor in state.items():
        if key in current and (
            current[key].dtype != tensor.dtype or current[key].shape != tensor.shape
        ):
            raise ValueError(
                f"The saved {what} tensor {key!r} is {tensor.dtype} {tuple(tensor.shape)}; "
                f"the network rebuilt from the file has {current[key].dtype} "
                f"{tuple(current[key].shape)}."
            )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"The saved {what} does not fit the network rebuilt from the file: {error}"
        ) from None


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    meta = {"scalars": scalars, "param_groups": state["param_groups"]}
    return tensors, _encode(meta, "optimizer state")


def _load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict, meta: Any, module: torch.nn.Module
) -> None:
    meta = _decode(meta, "optimizer state")
    state: dict[int, dict[str, Any]] = {}
    for key, value in _take(tensors, "optimizer.").items():
        param_id, _, name = key.partition(".")
        state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(entries)
    groups = meta["param_groups"]
    if any(key.startswith("module.") and _is_legacy_head(key) for key in tensors):
        state, groups = fuse_legacy_optimizer_state(module, optimizer, state, groups)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"The saved optimizer state does not fit the optimizer: {error}") from None


def _is_legacy_head(key: str) -> bool:
    """Whether a module key is a task head saved before the heads were fused."""
    parts = key.split(".")
    return any(a == "task_heads" and b.isdigit() for a, b in itertools.pairwise(parts))


def _net_tensors(net) -> dict[str, torch.Tensor]:
    tensors = _cpu_tensors("module.", net.module_.state_dict())
    tensors.update(_cpu_tensors("criterion.", net.criterion_.state_dict()))
    return tensors


def _relation_state(net) -> list | None:
    """The task covariance of ``task_relation`` (a numpy array outside the modules)."""
    relation = getattr(net, "task_relation_module_", None)
    return None if relation is None else np.asarray(relation.omega, dtype=np.float64).tolist()


def _restore_relation(net, omega: list | None) -> None:
    relation = getattr(net, "task_relation_module_", None)
    if relation is not None and omega is not None:
        relation.omega = np.asarray(omega, dtype=np.float64).reshape(relation.omega.shape)
        relation._inverse = None


def _history(history: History) -> list:
    return _encode([dict(row) for row in history], "history")


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


# -- estimator -------------------------------------------------------------------------
def save_estimator(estimator, path: str | os.PathLike) -> None:
    """Write a fitted estimator to ``path`` without pickle (see the module docstring).

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        A fitted estimator.
    path : str or path-like
        The file to write (replaced atomically if it exists).

    Raises
    ------
    TypeError
        When a parameter or attribute cannot be represented without pickle (a custom
        trunk, a custom optimizer class, labels that are neither strings nor numbers).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "net_")
    params = estimator.get_params(deep=False)
    if params.get("callbacks") is not None:
        warnings.warn(
            "callbacks are arbitrary objects and are not saved; the loaded estimator has "
            "callbacks=None.",
            UserWarning,
            stacklevel=3,
        )
        params["callbacks"] = None
    unknown = sorted(set(vars(estimator)) - set(params) - set(_FITTED))
    if unknown:
        raise TypeError(
            f"{type(estimator).__name__} has attributes {unknown} that the safe format does "
            f"not know how to save. {_PICKLE_HINT}"
        )
    encoders = [
        {
            "task": _encode(encoder.task, "task"),
            "task_": _encode(encoder.task_, "task_"),
            "positions": list(encoder.positions),
            "classes_": _encode(encoder.classes_, f"classes of task {encoder.task_.name!r}"),
            "mean_": encoder.mean_,
            "scale_": encoder.scale_,
            "class_weight_": _encode(
                getattr(encoder, "class_weight_", None), f"class weights of {encoder.task_.name!r}"
            ),
        }
        for encoder in estimator.encoders_
    ]
    net = estimator.net_
    optimizer_tensors, optimizer_meta = _optimizer_state(net.optimizer_)
    fitted = {
        "encoders_": encoders,
        "classes_": _encode(estimator.classes_, "classes_"),
        "n_features_in_": int(estimator.n_features_in_),
        "n_iter_": int(estimator.n_iter_),
        "task_weights_": _encode(estimator.task_weights_, "task_weights_"),
        "_n_target_columns": int(estimator._n_target_columns),
        "_target_names": estimator._target_names,
        "_target_is_frame": bool(estimator._target_is_frame),
        "_target_is_1d": bool(estimator._target_is_1d),
        "_disjoint_rows": bool(getattr(estimator, "_disjoint_rows", False)),
        "history_": _history(estimator.history_),
        "optimizer": optimizer_meta,
        "task_relation": _relation_state(net),
    }
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = _encode(estimator.feature_names_in_, "feature_names_in_")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "versions": _versions(),
        "params": _encode(params, "parameter"),
        "fitted": fitted,
    }
    tensors = _net_tensors(net)
    tensors.update(optimizer_tensors)
    if getattr(estimator, "input_encoder_", None) is not None:
        encoding, arrays = estimator.input_encoder_.state()
        fitted["input_encoder_"] = _encode(encoding, "the input encoding")
        tensors.update(
            {
                f"{_INPUT}{name}": torch.from_numpy(np.ascontiguousarray(a))
                for name, a in arrays.items()
            }
        )
    _write_archive(path, meta, tensors)


def load_estimator(cls, path: str | os.PathLike, device: str | None = None):
    """Read an estimator written by :func:`save_estimator`.

    Parameters
    ----------
    cls : type
        ``MultiTaskNetEstimator`` (or a subclass), whose name must match the file's.
    path : str or path-like
        The file.
    device : str, optional
        Where to put the network; None keeps the saved ``device``, or the CPU (with a
        warning) when that device is a GPU and none is available here.

    Returns
    -------
    MultiTaskNetEstimator
        A fitted estimator that predicts as the saved one did.

    Raises
    ------
    ValueError
        When the file is not a valid sklearn-mtl archive, names an unknown class, or its
        tensors do not fit the network described by its parameters.
    """
    meta, tensors = _read_archive(path)
    try:
        return _rebuild(cls, path, meta, tensors, device)
    except MalformedFile as error:
        raise ValueError(
            f"{path} is malformed: {error}. It was not written by sklearn-mtl's save(), or "
            "it was modified."
        ) from None
    except ValueError:
        raise
    except Exception as error:  # any other fault of a modified file: never a raw error
        raise ValueError(
            f"{path} is malformed: {type(error).__name__}: {error}. It was not written by "
            "sklearn-mtl's save(), or it was modified."
        ) from None


def _rebuild(cls, path, meta: dict, tensors: dict[str, torch.Tensor], device: str | None):
    if meta.get("estimator") != cls.__name__:
        raise ValueError(f"{path} holds a {meta.get('estimator')!r}, not a {cls.__name__}.")
    _check_versions(path, meta)
    params = _decode(meta["params"], "parameter")
    if not isinstance(params, dict):
        raise ValueError(f"{path}: the parameters are not a JSON object.")
    if device is not None:
        params["device"] = device
    elif _is_unavailable_gpu(params.get("device")):
        warnings.warn(
            f"{path} was saved with device={params['device']!r}, but CUDA is not available "
            "here: the model is loaded on the CPU (device='cpu').",
            UserWarning,
            stacklevel=3,
        )
        params["device"] = "cpu"
    try:
        estimator = cls(**params)
        estimator._check_params()
    except TypeError as error:
        raise ValueError(
            f"{path}: the saved parameters do not fit {cls.__name__} ({error})."
        ) from None
    fitted = meta["fitted"]
    check_fitted_meta(fitted)
    encoders = []
    for entry in fitted["encoders_"]:
        encoder = TaskEncoder(
            _decode(entry["task"], "task"), tuple(int(p) for p in entry["positions"])
        )
        encoder.task_ = _decode(entry["task_"], "task_")
        encoder.classes_ = _decode(entry["classes_"], "classes_")
        encoder.mean_ = float(entry["mean_"])
        encoder.scale_ = float(entry["scale_"])
        encoder.class_weight_ = _decode(entry.get("class_weight_"), "class_weight_")
        encoders.append(encoder)
    estimator.encoders_ = encoders
    estimator.tasks_ = [encoder.task_ for encoder in encoders]
    estimator.classes_ = _decode(fitted["classes_"], "classes_")
    estimator.n_features_in_ = int(fitted["n_features_in_"])
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = _decode(fitted["feature_names_in_"], "feature_names_in_")
    estimator._n_target_columns = int(fitted["_n_target_columns"])
    estimator._target_names = fitted["_target_names"]
    estimator._target_is_frame = bool(fitted["_target_is_frame"])
    estimator._target_is_1d = bool(fitted["_target_is_1d"])
    estimator._disjoint_rows = bool(fitted.get("_disjoint_rows", False))
    estimator.n_iter_ = int(fitted["n_iter_"])
    estimator.task_weights_ = _decode(fitted["task_weights_"], "task_weights_")

    if "input_encoder_" in fitted:
        arrays = {name: t.numpy() for name, t in _take(tensors, _INPUT).items()}
        encoding = _decode(fitted["input_encoder_"], "the input encoding")
        estimator.input_encoder_ = InputEncoder.from_state(encoding, arrays)
        n_columns = len(estimator.input_encoder_.columns_)
        if n_columns != estimator.n_features_in_:
            raise ValueError(
                f"{path}: the input encoding has {n_columns} columns and n_features_in_ is "
                f"{estimator.n_features_in_}; they do not fit."
            )
    # The file's tensors against the network its parameters describe, built on the meta
    # device (no memory): a tampered size or dtype is refused before allocating.
    check_tensors(
        meta_state(lambda: estimator._build_module(estimator.n_features_in_)),
        _take(tensors, "module."),
        "network",
    )
    torch_device = estimator._torch_device()
    # The fitted weighting's base weights are in its saved state: task_weights (which
    # set_params may have changed since fit, with other task names) play no part.
    task_weights, estimator.task_weights = estimator.task_weights, None
    # built from a fixed generator (torch's global random state is left alone); the
    # saved weights replace the initial ones
    try:
        net = estimator._build_net(estimator.n_features_in_, torch_device, full_fit=False)
    finally:
        estimator.task_weights = task_weights
    net.precision, net.compile_module = estimator.precision, estimator.compile
    load_module_state(net.module_, _take(tensors, "module."), "network")
    load_module_state(net.criterion_, _take(tensors, "criterion."), "loss weighting state")
    _load_optimizer_state(net.optimizer_, tensors, fitted["optimizer"], net.module_)
    net.history = History(_decode(fitted["history_"], "history"))
    _restore_relation(net, fitted.get("task_relation"))
    estimator.net_ = net
    estimator.history_ = net.history
    from ._relationship import fitted_relationships

    fitted_relationships(estimator)
    return estimator


def _is_unavailable_gpu(device: object) -> bool:
    if not isinstance(device, str) or device == "auto":
        return False
    try:
        return torch.device(device).type == "cuda" and not torch.cuda.is_available()
    except (RuntimeError, TypeError):
        return False


# -- checkpoints -----------------------------------------------------------------------
_KEY_EXCLUDED = ("callbacks", "checkpoint_dir", "verbose")
_KEY_CHUNK = 65536  # rows of X hashed at a time


def _param_text(value: Any, name: str) -> str:
    """A text of a parameter that is the same in every process (no memory address)."""
    try:
        return json.dumps(_encode(value, name), sort_keys=True)
    except TypeError:
        pass
    try:  # functions and classes by qualified name, other objects by their pickle
        return "joblib:" + joblib.hash(value)
    except Exception:  # an object that cannot be pickled: its repr without addresses
        return "repr:" + re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _fit_key(estimator, X, targets: torch.Tensor, sample_weight: torch.Tensor | None) -> str:
    """A digest of what determines a fit: its parameters and its data.

    Every parameter but ``callbacks``, ``checkpoint_dir`` and ``verbose`` (JSON, or
    ``joblib.hash`` for objects JSON cannot hold, such as an architecture given as a
    function: both are stable across processes), the shape of X and all its values (as
    float32, read in chunks for a sparse or streamed X), the encoded targets and the
    sample weights. Two folds of a cross-validation, or two candidates of a grid, get
    different keys.
    """
    from ._data import rows_as_tensor

    digest = hashlib.sha256()
    params = estimator.get_params(deep=False)
    for name in sorted(params):
        if name in _KEY_EXCLUDED:
            continue
        digest.update(f"{name}={_param_text(params[name], name)};".encode())
    n_samples, n_features = X.shape
    digest.update(f"shape={n_samples}x{n_features};".encode())
    if isinstance(X, torch.Tensor):
        digest.update(X.detach().cpu().contiguous().numpy().tobytes())
    else:
        for start in range(0, n_samples, _KEY_CHUNK):
            rows = rows_as_tensor(X, slice(start, min(start + _KEY_CHUNK, n_samples)))
            digest.update(rows.numpy().tobytes())
    digest.update(targets.cpu().numpy().tobytes())
    if sample_weight is not None:
        digest.update(sample_weight.cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


class FitCheckpoint(Callback):
    """Writes a fit's state after every epoch, and restores it when the fit is rerun.

    The estimator creates one per fit when ``checkpoint_dir`` is set; it lives in
    ``<checkpoint_dir>/<key>/checkpoint.mtl`` where the key is a digest of the
    parameters and the data (:func:`_fit_key`), so that the fits of a parallel grid
    search never share a file (unlike skorch's ``Checkpoint`` with fixed names, skorch
    issue 819), and the same fit run again finds its own checkpoint. Writes are atomic
    (a temporary file renamed), so a crash never leaves a half-written checkpoint.

    Restored: the network, the loss weighting's state, the optimizer state, the
    history, the fit's random generators (shuffling, dropout, random weightings) and early
    stopping's state. Not restored: the state of user callbacks.

    Parameters
    ----------
    path : pathlib.Path
        The checkpoint file.
    target_epochs : int
        Epochs of the whole fit (``max_epochs``).
    """

    def __init__(self, path: Path, target_epochs: int):
        self.path = path
        self.target_epochs = target_epochs
        self.state: tuple[dict, dict[str, torch.Tensor]] | None = None

    @classmethod
    def for_fit(cls, estimator, X, targets, sample_weight, target_epochs: int) -> FitCheckpoint:
        """The checkpoint of this fit, with its saved state when there is one."""
        key = _fit_key(estimator, X, targets, sample_weight)
        directory = Path(estimator.checkpoint_dir) / key
        directory.mkdir(parents=True, exist_ok=True)
        checkpoint = cls(directory / "checkpoint.mtl", target_epochs)
        if checkpoint.path.exists():
            meta, tensors = _read_archive(checkpoint.path)
            if meta.get("kind") != "checkpoint":
                raise ValueError(f"{checkpoint.path} is not a training checkpoint.")
            checkpoint.state = (meta, tensors)
        return checkpoint

    @property
    def epochs_left(self) -> int:
        """Epochs still to run: all of them without a saved state."""
        if self.state is None:
            return self.target_epochs
        meta = self.state[0]
        if meta["finished"]:
            return 0
        return max(0, self.target_epochs - int(meta["epochs"]))

    # -- callback hooks --------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.state is not None:
            self._restore(net, *self.state)
            self.state = None

    def on_epoch_end(self, net, **kwargs):
        self._write(net, finished=False)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        stopper = _stopper(net)
        stopped = stopper is not None and getattr(stopper, "misses_", 0) >= stopper.patience
        if stopped or len(net.history) >= self.target_epochs:
            self._write(net, finished=True)

    # -- state -----------------------------------------------------------------------
    def _write(self, net, finished: bool) -> None:
        tensors = _net_tensors(net)
        optimizer_tensors, optimizer_meta = _optimizer_state(net.optimizer_)
        tensors.update(optimizer_tensors)
        generators = getattr(net, "random_generators_", None)
        if generators is not None:  # the fit's own generators (shuffling, dropout, ...)
            for name, state in generators.state().items():
                tensors[f"rng.{name}"] = state
        stopper_meta = None
        stopper = _stopper(net)
        if stopper is not None and hasattr(stopper, "misses_"):
            stopper_meta = {
                "misses_": int(stopper.misses_),
                "dynamic_threshold_": _encode(float(stopper.dynamic_threshold_), "threshold"),
                "best_epoch_": int(stopper.best_epoch_),
            }
            best = getattr(stopper, "best_model_weights_", None)
            if best is not None:
                tensors.update(_cpu_tensors("best.", best))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": "checkpoint",
            "versions": _versions(),
            "epochs": len(net.history),
            "finished": finished,
            "history": _history(net.history),
            "optimizer": optimizer_meta,
            "stopper": stopper_meta,
            "task_relation": _relation_state(net),
        }
        _write_archive(self.path, meta, tensors)

    def _restore(self, net, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        load_module_state(net.module_, _take(tensors, "module."), "network")
        load_module_state(net.criterion_, _take(tensors, "criterion."), "loss weighting state")
        _load_optimizer_state(net.optimizer_, tensors, meta["optimizer"], net.module_)
        net.history = History(_decode(meta["history"], "history"))
        _restore_relation(net, meta.get("task_relation"))
        generators = getattr(net, "random_generators_", None)
        if generators is not None:
            generators.set_state(
                {
                    name: tensors[f"rng.{name}"]
                    for name in generators.state()
                    if f"rng.{name}" in tensors
                }
            )
        stopper = _stopper(net)
        saved = meta.get("stopper")
        if stopper is not None and saved is not None:
            stopper.misses_ = int(saved["misses_"])
            stopper.dynamic_threshold_ = _decode(saved["dynamic_threshold_"], "threshold")
            stopper.best_epoch_ = int(saved["best_epoch_"])
            best = _take(tensors, "best.")
            if best:
                module_device = next(iter(net.module_.parameters())).device
                stopper.best_model_weights_ = {k: v.to(module_device) for k, v in best.items()}

    def attach(self, net) -> None:
        """Add this callback after all others (so it sees early stopping's update)."""
        net.callbacks_.append(("checkpoint", self))

    def detach(self, net) -> None:
        """Remove this callback from the fitted net (it is no part of the model)."""
        net.callbacks_ = [(name, cb) for name, cb in net.callbacks_ if cb is not self]


def _stopper(net):
    from ._net import BestValidScore

    for _, callback in net.callbacks_:
        if isinstance(callback, BestValidScore):
            return callback
    return None
