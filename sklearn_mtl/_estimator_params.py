"""The estimator's parameters: get/set_params, their constraints and checks, the tags."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from numbers import Integral
from typing import TYPE_CHECKING, ClassVar

import torch
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from skorch.callbacks import Callback

from ._input import SCALINGS
from ._schedule import LR_SCHEDULES
from ._threads import check_n_threads
from ._validation import (
    LAYER_SIZES,
    Interval,
    InvalidParameterError,
    OwnErrors,
    Real,
    StrOptions,
    check_layer_sizes,
    finite,
    positive_int,
)
from .architectures import (
    Architecture,
    NetworkConfig,
    get_architecture,
)
from .weighting import LossWeighting, get_weighting

_TASK_WEIGHT_PREFIX = "task_weights__"


class _Parameters(OwnErrors, BaseEstimator):
    """Parameters of :class:`~sklearn_mtl.MultiTaskNetEstimator` (the first of its layers).

    Each layer of the estimator is a private class in its own module, inheriting the one
    before: parameters, data checks (``_estimator_data``), network building
    (``_estimator_build``), fitting (``_estimator_fit``), prediction
    (``_estimator_predict``), save/load (``_estimator_io``);
    :class:`~sklearn_mtl.MultiTaskNetEstimator` documents the parameters and sets them.
    """

    if TYPE_CHECKING:  # for mypy only (no class attribute, nothing for autodoc)
        task_weights: Mapping[str, float] | None  # the one parameter set_params rewrites

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.task_weights, Mapping):
            for name, weight in self.task_weights.items():
                params[f"{_TASK_WEIGHT_PREFIX}{name}"] = weight
        return params

    def set_params(self, **params):
        """Set parameters; ``task_weights__<task>=w`` sets one task's weight.

        The ``task_weights`` dict is replaced by an updated copy, never modified.

        Returns
        -------
        self : MultiTaskNetEstimator
        """
        per_task = {
            key[len(_TASK_WEIGHT_PREFIX) :]: params.pop(key)
            for key in list(params)
            if key.startswith(_TASK_WEIGHT_PREFIX)
        }
        nested = {key: params.pop(key) for key in list(params) if "__" in key}
        if params:
            super().set_params(**params)
        if nested:
            self._resolve_aliases({key.split("__", 1)[0] for key in nested})
            super().set_params(**nested)
        if per_task:
            current = self.task_weights
            if current is not None and not isinstance(current, Mapping):
                raise TypeError(
                    f"task_weights must be a dict to set one task's weight; got {current!r}."
                )
            self.task_weights = {**(current or {}), **per_task}
        return self

    def _resolve_aliases(self, names) -> None:
        """Replace a string alias by its object, so that its parameters can be set.

        ``set_params(loss_weighting__temperature=2)`` with ``loss_weighting="dwa"``
        sets the parameter on a fresh ``DynamicWeightAverage()``, as the alias would
        have built; it works the same for ``architecture`` and ``task_relation``.
        """
        from ._relationship import get_task_relation

        resolvers = {
            "loss_weighting": get_weighting,
            "architecture": get_architecture,
            "task_relation": get_task_relation,
        }
        for name in names:
            value = getattr(self, name, None)
            if name == "architecture" and value == "auto":
                raise ValueError(
                    "architecture='auto' has no parameters of its own: choose an "
                    "architecture (for example architecture='hard') to set its parameters."
                )
            if name in resolvers and isinstance(value, str):
                setattr(self, name, resolvers[name](value))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=True)
        tags.regressor_tags = RegressorTags()
        return tags

    _parameter_constraints: ClassVar[dict] = {
        "tasks": [None, Mapping, list, tuple],
        "task_weights": [None, Mapping],
        "loss_weighting": [str, LossWeighting],
        "architecture": [str, Architecture, torch.nn.Module, callable],
        "hidden_layer_sizes": LAYER_SIZES,
        "activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "head_layer_sizes": LAYER_SIZES,
        "numeric_embedding": [None, StrOptions({"periodic"})],
        "wide": ["boolean"],
        "ensemble_size": [positive_int],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "optimizer": [str, callable],
        "lr": [finite(0, closed="neither"), StrOptions({"auto"})],
        "alpha": [finite(0)],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [positive_int],
        "max_epochs": [positive_int],
        "early_stopping": ["boolean", StrOptions({"refit"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [positive_int],
        "tol": [finite(0)],
        "weight_averaging": [None, positive_int],
        "warm_start": ["boolean"],
        "callbacks": [None, list, tuple],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "record_task_affinity": ["boolean", positive_int],
        "task_relation": [None, str, BaseEstimator],
        "checkpoint_dir": [None, str, os.PathLike],
        "precision": [None, StrOptions({"bf16", "fp16"})],
        "compile": ["boolean", dict],
        "categorical_features": [None, StrOptions({"from_dtype"}), "array-like"],
        "numeric_scaling": [None, StrOptions({s for s in SCALINGS if s is not None}), dict],
        "one_hot_max_categories": [Interval(Integral, 0, None, closed="left")],
        "n_threads": [None, numbers.Integral],
    }

    def _check_params(self) -> None:
        """Validate the parameters (``_parameter_constraints``, then what they cannot say)."""
        self._validate_params()
        check_n_threads(self.n_threads)
        owner = type(self).__name__
        check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes", owner)
        check_layer_sizes(self.head_layer_sizes, "head_layer_sizes", owner)
        for index, callback in enumerate(self.callbacks or ()):
            if isinstance(callback, tuple) and len(callback) == 2:
                name, callback = callback
                if not isinstance(name, str):
                    raise InvalidParameterError(
                        f"callbacks[{index}] is a pair whose name {name!r} is not a str."
                    )
            if not (
                isinstance(callback, Callback)
                or (isinstance(callback, type) and issubclass(callback, Callback))
            ):
                raise InvalidParameterError(
                    f"callbacks[{index}]={callback!r} is not a skorch callback (an instance "
                    "or subclass of skorch.callbacks.Callback, or a (name, callback) pair)."
                )
        if self.weight_averaging is not None and self.early_stopping and not self._refits():
            raise ValueError(
                "weight_averaging averages the weights of the last epochs, but "
                "early_stopping=True restores the best epoch's weights instead; use "
                "early_stopping='refit' or False with weight_averaging."
            )
        if self.early_stopping and self.validation_fraction <= 0:
            raise ValueError(
                f"early_stopping={self.early_stopping!r} needs validation_fraction > 0."
            )

    def _network_config(self) -> NetworkConfig:
        owner = type(self).__name__
        return NetworkConfig(
            hidden_layer_sizes=check_layer_sizes(
                self.hidden_layer_sizes, "hidden_layer_sizes", owner
            ),
            activation=self.activation,
            dropout=float(self.dropout),
            batch_norm=bool(self.batch_norm),
            head_layer_sizes=check_layer_sizes(self.head_layer_sizes, "head_layer_sizes", owner),
        )

    def _base_weights(self, names: list[str]) -> torch.Tensor:
        weights = self.task_weights or {}
        if not isinstance(weights, Mapping):
            raise TypeError(f"task_weights must be a dict {{task: weight}}; got {weights!r}.")
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(
                f"task_weights names unknown task(s) {unknown}; the tasks are {names}."
            )
        values: list[float] = []
        for name in names:
            weight = weights.get(name, 1.0)
            if not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"task_weights[{name!r}] must be a finite non-negative number; got {weight!r}."
                )
            values.append(float(weight))
        if not any(values):
            raise ValueError(
                "task_weights are all zero: at least one task must have a positive weight."
            )
        return torch.tensor(values, dtype=torch.float32)

    def _refits(self) -> bool:
        return isinstance(self.early_stopping, str) and self.early_stopping == "refit"
