"""Saving and loading an estimator in the safe file format, and a trained net's state.

A saved model is one archive of :mod:`sklearn_mtl._safe_format`, never unpickled:

- its JSON metadata holds the estimator's parameters, its fitted attributes (tasks,
  classes, target scalers, feature names...), the training history, the optimizer's
  hyperparameters and the versions of the packages that wrote it;
- its tensors are the network weights, the loss weighting's state and the optimizer's
  moments.

This module knows the estimator only through its public parameters and its fitted
attributes: every fitted attribute is written by its type (numbers, strings, arrays,
tasks, task encoders), so a new attribute needs no change here, and one that cannot be
written without pickle is refused by name. The net is rebuilt by a function the
estimator passes to :func:`load_estimator`, and its state restored by
:func:`restore_net_state`, which the checkpoints of a fit
(:class:`sklearn_mtl._checkpoint.FitCheckpoint`) use too.
"""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch.history import History

from ._input import InputEncoder
from ._load_checks import MalformedFile, check_fitted_meta, check_tensors, meta_state
from ._safe_format import (
    FORMAT,
    FORMAT_VERSION,
    SavedVersionWarning,
    _check_versions,
    _decode,
    _encode,
    _read_archive,
    _versions,
    _write_archive,
)
from ._task_encoding import TaskEncoder
from .architectures._heads import fuse_legacy_optimizer_state

__all__ = [
    "FORMAT_VERSION",
    "SavedVersionWarning",
    "load_estimator",
    "net_state",
    "restore_net_state",
    "save_estimator",
]

# Fitted attributes not written as such: rebuilt at load from the others (the net and
# its history from the tensors, the tasks from their encoders, the affinity and
# relation matrices from the net).
_INPUT = "input_encoder."  # prefix of the input encoding's statistics among the tensors
_REBUILT = frozenset({"net_", "history_", "tasks_", "task_affinity_", "task_relation_"})
# The parameters the net was built with (see ``save_estimator``): written as "params".
_FITTED_PARAMS = "_fitted_params"
# Entries of the "fitted" object that are parts of the net's state, not attributes.
_NET_ENTRIES = ("history_", "optimizer", "task_relation")


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


def _legacy_plugin_state(net, meta: Mapping[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Fill what a file written before the relationship tools were criterion plugins
    lacks: their buffers (the fresh ones; MTRL's covariance from the metadata)."""
    current = net.criterion_.state_dict()
    missing = [key for key in current if key.startswith("plugins.") and key not in state]
    if not missing:
        return
    for key in missing:
        state[key] = current[key].detach().cpu()
    omega = meta.get("task_relation")
    plugin = net.criterion_.plugins["mtrl"] if "mtrl" in net.criterion_.plugins else None
    if omega is not None and plugin is not None and "plugins.mtrl.omega" in missing:
        matrix = np.asarray(omega, dtype=np.float64).reshape(tuple(plugin.omega.shape))
        state["plugins.mtrl.omega"] = torch.from_numpy(matrix)
        state["plugins.mtrl.omega_inverse"] = torch.from_numpy(np.linalg.inv(matrix))


def _history(history: History) -> list:
    return _encode([dict(row) for row in history], "history")


def net_state(net) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The trained state of a net: JSON-safe metadata and tensors (on the CPU).

    The metadata holds ``"history"`` and ``"optimizer"`` (its hyperparameters and
    scalar state); the tensors are the network's (``module.``), the criterion's (the
    loss weighting's state and the relationship plugins', e.g. MTRL's covariance:
    ``criterion.``) and the optimizer's moments (``optimizer.``).
    :func:`restore_net_state` reads them back.
    """
    tensors = _cpu_tensors("module.", net.module_.state_dict())
    tensors.update(_cpu_tensors("criterion.", net.criterion_.state_dict()))
    optimizer_tensors, optimizer_meta = _optimizer_state(net.optimizer_)
    tensors.update(optimizer_tensors)
    meta = {
        "history": _history(net.history),
        "optimizer": optimizer_meta,
    }
    return meta, tensors


def restore_net_state(net, meta: Mapping[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Load what :func:`net_state` wrote into an initialised net of the same shape."""
    load_module_state(net.module_, _take(tensors, "module."), "network")
    criterion = _take(tensors, "criterion.")
    _legacy_plugin_state(net, meta, criterion)
    load_module_state(net.criterion_, criterion, "loss weighting state")
    _load_optimizer_state(net.optimizer_, tensors, meta["optimizer"], net.module_)
    net.history = History(_decode(meta["history"], "history"))


# -- estimator -------------------------------------------------------------------------
def _encoder_state(encoder: TaskEncoder) -> dict[str, Any]:
    return {
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


def _encoder_from_state(entry: Mapping[str, Any]) -> TaskEncoder:
    encoder = TaskEncoder(_decode(entry["task"], "task"), tuple(int(p) for p in entry["positions"]))
    encoder.task_ = _decode(entry["task_"], "task_")
    encoder.classes_ = _decode(entry["classes_"], "classes_")
    encoder.mean_ = float(entry["mean_"])
    encoder.scale_ = float(entry["scale_"])
    encoder.class_weight_ = _decode(entry.get("class_weight_"), "class_weight_")
    return encoder


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
    current = estimator.get_params(deep=False)
    if current.get("callbacks") is not None:
        warnings.warn(
            "callbacks are arbitrary objects and are not saved; the loaded estimator has "
            "callbacks=None.",
            UserWarning,
            stacklevel=3,
        )
    current["callbacks"] = None
    # "params" describe the fitted network (the parameters at fit); those changed since
    # by set_params are written apart and set again after the net is rebuilt at load
    params = getattr(estimator, _FITTED_PARAMS, None) or current
    encoded = _encode(params, "parameter")
    encoded_now = _encode(current, "parameter")
    changed = {
        name: value
        for name, value in encoded_now.items()
        if name != "device" and value != encoded.get(name)
    }
    fitted: dict[str, Any] = {}
    input_tensors: dict[str, torch.Tensor] = {}
    for name, value in vars(estimator).items():
        if name in params or name in _REBUILT or name == _FITTED_PARAMS:
            continue
        if name == "encoders_":
            fitted[name] = [_encoder_state(encoder) for encoder in value]
        elif name == "input_encoder_":  # its statistics go with the tensors
            if value is not None:
                encoding, arrays = value.state()
                fitted[name] = _encode(encoding, "the input encoding")
                input_tensors.update(
                    {
                        f"{_INPUT}{key}": torch.from_numpy(np.ascontiguousarray(a))
                        for key, a in arrays.items()
                    }
                )
        else:
            fitted[name] = _encode(value, f"the fitted attribute {name}")
    net_meta, tensors = net_state(estimator.net_)
    tensors.update(input_tensors)
    fitted["history_"] = net_meta["history"]
    fitted["optimizer"] = net_meta["optimizer"]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "versions": _versions(),
        "params": encoded,
        "params_set_after_fit": changed,
        "fitted": fitted,
    }
    _write_archive(path, meta, tensors)


def load_estimator(
    cls,
    path: str | os.PathLike,
    device: str | None = None,
    *,
    check_params: Callable[[Any], None],
    build_module: Callable[[Any], torch.nn.Module],
    build_net: Callable[[Any], Any],
):
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
    check_params : callable
        ``check_params(estimator)`` validates the parameters read from the file.
    build_module : callable
        ``build_module(estimator)`` builds the network its parameters describe (called
        on torch's ``meta`` device, to check the file's tensors before allocating).
    build_net : callable
        ``build_net(estimator)`` returns a fresh initialised net for an estimator
        whose parameters and fitted attributes are set; its state is then loaded.

    Returns
    -------
    MultiTaskNetEstimator
        A fitted estimator that predicts as the saved one did, with ``net_`` and
        ``history_`` set.

    Raises
    ------
    ValueError
        When the file is not a valid sklearn-mtl archive, names an unknown class, or its
        tensors do not fit the network described by its parameters.
    """
    meta, tensors = _read_archive(path)
    try:
        hooks = (check_params, build_module, build_net)
        return _rebuild(cls, path, meta, tensors, device, hooks)
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


#: Parameters added after files could be saved whose default changes the network: a
#: file that lacks one was written before it existed, so it loads with the value that
#: reproduces its model (these became defaults with the recipe of issue 18).
_BEFORE_ADDED: dict[str, Any] = {
    "numeric_embedding": None,
    "wide": False,
    "ensemble_size": 1,
    "lr_schedule": "constant",
}


def _rebuild(cls, path, meta: dict, tensors: dict[str, torch.Tensor], device, hooks):
    check_params, build_module, build_net = hooks
    if meta.get("estimator") != cls.__name__:
        raise ValueError(f"{path} holds a {meta.get('estimator')!r}, not a {cls.__name__}.")
    _check_versions(path, meta)
    params = _decode(meta["params"], "parameter")
    if not isinstance(params, dict):
        raise ValueError(f"{path}: the parameters are not a JSON object.")
    # a file older than a parameter was trained without it: not with today's default
    params = {**{k: v for k, v in _BEFORE_ADDED.items() if k not in params}, **params}
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
        check_params(estimator)
    except TypeError as error:
        raise ValueError(
            f"{path}: the saved parameters do not fit {cls.__name__} ({error})."
        ) from None
    fitted = meta["fitted"]
    check_fitted_meta(fitted)
    encoders = [_encoder_from_state(entry) for entry in fitted["encoders_"]]
    for name, value in fitted.items():
        if name in _NET_ENTRIES or name in ("encoders_", "input_encoder_"):
            continue
        _check_attribute_name(cls, path, name, params)
        setattr(estimator, name, _decode(value, name))
    estimator.encoders_ = encoders
    estimator.tasks_ = [encoder.task_ for encoder in encoders]
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
    check_tensors(meta_state(lambda: build_module(estimator)), _take(tensors, "module."), "network")
    net = build_net(estimator)
    net_meta = {
        "history": fitted["history_"],
        "optimizer": fitted["optimizer"],
        "task_relation": fitted.get("task_relation"),
    }
    restore_net_state(net, net_meta, tensors)
    estimator.net_ = net
    estimator.history_ = net.history
    estimator._fitted_params = copy.deepcopy(estimator.get_params(deep=False))
    _set_params_changed_after_fit(estimator, meta.get("params_set_after_fit"), params)
    return estimator


def _set_params_changed_after_fit(estimator, changed: Any, params: Mapping[str, Any]) -> None:
    """Set the parameters that ``set_params`` changed after fit (the net is built from
    those at fit), as the saved estimator had them."""
    if changed is None:  # a file written before they were saved apart
        return
    if not isinstance(changed, Mapping) or not set(changed) <= set(params) - {"device"}:
        raise MalformedFile(f"params_set_after_fit={changed!r} names no parameters")
    if changed:
        BaseEstimator.set_params(estimator, **_decode(dict(changed), "parameter"))


def _check_attribute_name(cls, path, name: str, params: Mapping[str, Any]) -> None:
    """A fitted attribute read from a file: a private or trailing-underscore name that
    neither shadows a parameter nor anything of the class (a method, a property)."""
    fitted_name = name.endswith("_") or (name.startswith("_") and not name.startswith("__"))
    if (
        not name.isidentifier()
        or not fitted_name
        or name.startswith("__")
        or name in params
        or name in _REBUILT
        or hasattr(cls, name)
    ):
        raise ValueError(
            f"{path} sets the attribute {name!r}, which is not a fitted attribute of "
            f"{cls.__name__}; the file was not written by sklearn-mtl's save() or was "
            "tampered with."
        )


def _is_unavailable_gpu(device: object) -> bool:
    if not isinstance(device, str) or device == "auto":
        return False
    try:
        return torch.device(device).type == "cuda" and not torch.cuda.is_available()
    except (RuntimeError, TypeError):
        return False
