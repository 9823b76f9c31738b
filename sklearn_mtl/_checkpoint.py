"""Per-fit training checkpoints: resume an interrupted fit where it stopped.

With ``checkpoint_dir`` set, the estimator gives each fit a :class:`FitCheckpoint`,
which writes the training state after every epoch in the archive format of
:mod:`sklearn_mtl._safe_format` (the net's state through the same
:func:`~sklearn_mtl._persistence.net_state` as ``save``), plus what an exact resume
needs: the random generators and early stopping's state.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from skorch.callbacks import Callback

from ._callbacks import BestValidScore
from ._data import rows_as_tensor
from ._persistence import _cpu_tensors, _take, net_state, restore_net_state
from ._safe_format import (
    FORMAT,
    FORMAT_VERSION,
    _decode,
    _encode,
    _read_archive,
    _versions,
    _write_archive,
)

__all__ = ["FitCheckpoint"]

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


def _fit_key(
    estimator,
    X,
    targets: torch.Tensor,
    sample_weight: torch.Tensor | None,
    groups: np.ndarray | None = None,
) -> str:
    """A digest of what determines a fit: its parameters and its data.

    Every parameter but ``callbacks``, ``checkpoint_dir`` and ``verbose`` (JSON, or
    ``joblib.hash`` for objects JSON cannot hold, such as an architecture given as a
    function: both are stable across processes), the shape of X and all its values (as
    float32, read in chunks for a sparse or streamed X), the encoded targets, the
    sample weights and the groups of ``fit``. Two folds of a cross-validation, or two
    candidates of a grid, get different keys.
    """
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
    if groups is not None:
        digest.update(b"groups;" + np.ascontiguousarray(groups, dtype=np.int64).tobytes())
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
    def for_fit(
        cls, estimator, X, targets, sample_weight, target_epochs: int, groups=None
    ) -> FitCheckpoint:
        """The checkpoint of this fit, with its saved state when there is one."""
        key = _fit_key(estimator, X, targets, sample_weight, groups)
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
        net_meta, tensors = net_state(net)
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
            "stopper": stopper_meta,
            **net_meta,
        }
        _write_archive(self.path, meta, tensors)

    def _restore(self, net, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        restore_net_state(net, meta, tensors)
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
    for _, callback in net.callbacks_:
        if isinstance(callback, BestValidScore):
            return callback
    return None
