"""The regression kind: standardised targets, point and quantile losses."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._targets import numeric_or_none
from .._task_losses import (
    REGRESSION_LOSSES,
    AbsoluteError,
    CallableLoss,
    GammaDeviance,
    Huber,
    Pinball,
    PoissonDeviance,
    QuantileSetLoss,
    SquaredError,
    increasing_quantiles,
    numpy_increasing,
)
from ._base import TargetKind, register_kind


@register_kind
class Regression(TargetKind):
    """Real-valued targets, standardised inside the model; a choice of losses.

    With ``loss="poisson"`` or ``"gamma"`` the target is divided by its mean instead
    (no shift) and the output is the log of the prediction. With ``quantiles`` the
    outputs are ``[point]`` (only when ``loss`` is given) and one per quantile.
    """

    name = "regression"
    is_classification = False
    default_metric = "r2"
    families = frozenset({"regression"})
    running_r2 = True

    def check(self, task):
        loss = "squared_error" if task.loss is None else task.loss
        if isinstance(loss, str) and loss not in REGRESSION_LOSSES:
            raise ValueError(
                f"Task {task.name!r} has unknown loss {loss!r} for a regression task; "
                f"expected one of {REGRESSION_LOSSES} or a callable."
            )
        if task.class_weight is not None:
            raise ValueError(
                f"Task {task.name!r}: class_weight applies to classification tasks only."
            )
        if task.quantile is not None and loss != "quantile":
            raise ValueError(f"Task {task.name!r}: quantile= goes with loss='quantile'.")
        if task.quantiles is not None:
            if loss == "quantile":
                raise ValueError(
                    f"Task {task.name!r}: give either loss='quantile' (one quantile) or "
                    "quantiles=(...), not both."
                )
            if callable(loss):
                raise ValueError(
                    f"Task {task.name!r}: a callable loss cannot be combined with quantiles."
                )
            if task.loss is None and 0.5 not in task.quantiles:
                raise ValueError(
                    f"Task {task.name!r}: predict returns the 0.5 quantile, which is not in "
                    f"quantiles={task.quantiles}; add 0.5, or set loss= to keep a point output."
                )
        self.loss_name = loss
        self.log_link = loss in ("poisson", "gamma")
        self.levels = task.quantiles
        self.has_point = self.levels is None or task.loss is not None

    def fit(self, encoder, labelled, labels, categorical, classes):
        numeric = numeric_or_none(labelled[0])
        if numeric is None or categorical:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {labels[0]} holds "
                f"non-numeric labels such as {labelled[0][0]!r}."
            )
        if not np.all(np.isfinite(numeric)):
            raise ValueError(f"Task {self.task.name!r}: y {labels[0]} holds infinite values.")
        if self.log_link:
            self._check_positive(numeric, labels[0])
            encoder.mean_, encoder.scale_ = 0.0, float(numeric.mean())
            return
        # mean and standard deviation of numeric / its largest magnitude, scaled back:
        # no overflow for labels near float64's limit (the square of 1e300 is inf)
        magnitude = float(np.abs(numeric).max())
        unit = numeric / magnitude if magnitude > 0 else numeric
        encoder.mean_ = float(unit.mean()) * (magnitude or 1.0)
        std = float(unit.std()) * (magnitude or 1.0)
        if not (math.isfinite(encoder.mean_) and math.isfinite(std)):
            raise ValueError(
                f"Task {self.task.name!r}: y {labels[0]} holds labels too large to "
                f"standardise (largest magnitude {magnitude:.3g}); rescale them."
            )
        encoder.scale_ = std if std > 1e-12 * max(1.0, abs(encoder.mean_)) else 1.0

    def _check_positive(self, numeric: np.ndarray, label: str) -> None:
        if self.loss_name == "poisson":
            bad = numeric < 0
            if bad.any() or not (numeric > 0).any():
                raise ValueError(
                    f"Task {self.task.name!r} has loss='poisson', which needs targets >= 0 "
                    f"and not all 0; y {label} holds {numeric[bad][:3].tolist() or [0.0]}."
                )
        elif (bad := numeric <= 0).any():
            raise ValueError(
                f"Task {self.task.name!r} has loss='gamma', which needs targets > 0; "
                f"y {label} holds {numeric[bad][:3].tolist()}."
            )

    def encode(self, encoder, values, label):
        numeric = numeric_or_none(values)
        if numeric is None:
            raise ValueError(
                f"Task {self.task.name!r} is a regression task but y {label} holds "
                "non-numeric labels."
            )
        if self.log_link:
            self._check_positive(numeric, label)
        return (numeric - encoder.mean_) / encoder.scale_

    def n_outputs(self, encoder):
        return int(self.has_point) + (0 if self.levels is None else len(self.levels))

    def _point_loss(self):
        name, task = self.loss_name, self.task
        if callable(name):
            return CallableLoss(name, task.name)
        return {
            "squared_error": SquaredError,
            "absolute_error": AbsoluteError,
            "huber": lambda: Huber(task.huber_delta),
            "poisson": PoissonDeviance,
            "gamma": GammaDeviance,
            "quantile": lambda: Pinball(0.5 if task.quantile is None else task.quantile),
        }[name]()

    def loss(self):
        if self.levels is None:
            return self._point_loss()
        return QuantileSetLoss(self.levels, self._point_loss() if self.has_point else None)

    @property
    def _median(self) -> int:
        assert self.levels is not None
        return self.levels.index(0.5)

    def loss_group_key(self):
        if self.levels is not None or callable(self.loss_name):
            return None
        return ("regression", self.loss_name, self.task.huber_delta, self.task.quantile)

    def running_prediction(self, output):
        if self.levels is None:  # one output per target column (also for a loss group)
            return torch.exp(output.clamp(max=30.0)) if self.log_link else output
        if self.has_point:
            point = output[:, :1]
            return torch.exp(point.clamp(max=30.0)) if self.log_link else point
        return increasing_quantiles(output)[:, self._median : self._median + 1]

    def predict_encoded(self, encoder, raw):
        raw = np.asarray(raw, dtype=np.float64)
        if self.has_point:
            return np.exp(np.minimum(raw[:, 0], 30.0)) if self.log_link else raw[:, 0]
        return self.quantiles_encoded(raw)[:, self._median]

    def quantiles_encoded(self, raw: np.ndarray) -> np.ndarray:
        """The quantile outputs, increasing, in target space (n, n_quantiles)."""
        raw = np.asarray(raw, dtype=np.float64)
        return numpy_increasing(raw[:, int(self.has_point) :])

    def decode(self, encoder, raw):
        return self.predict_encoded(encoder, raw) * encoder.scale_ + encoder.mean_

    def raw_from_predictions(self, encoder, predictions):
        values = np.asarray(predictions, dtype=np.float64).reshape(-1)
        encoded = (values - encoder.mean_) / encoder.scale_
        if self.log_link:
            encoded = np.log(np.maximum(encoded, 1e-12))
        columns = [encoded[:, None]]
        if self.levels is not None:  # every quantile at the prediction
            steps = np.full((len(values), len(self.levels) - 1), -30.0)
            columns.append(np.column_stack([encoded, steps]))
        return np.column_stack(columns) if self.has_point else columns[1]
