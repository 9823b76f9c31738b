"""Per-task losses of the network outputs, and the output transforms they rely on.

Each loss is a small picklable object called as ``loss(output, target, reduction)``:
``output`` is the task's raw output (batch, n_outputs), ``target`` its encoded targets
(batch, n_targets) with missing labels set to 0, and it returns the loss per target
entry (``reduction="none"``, shape (batch, n_targets)) or the mean over all entries
(``"mean"``). The caller weights the entries and leaves out the missing ones. A loss
with ``masked = True`` receives the targets with their NaN (the user's callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "REGRESSION_LOSSES",
    "CallableLoss",
    "QuantileSetLoss",
    "SmoothedBinaryCrossEntropy",
    "SmoothedCrossEntropy",
    "cumulative_logits",
    "increasing_quantiles",
    "ordinal_log_proba",
]

REGRESSION_LOSSES = (
    "squared_error",
    "absolute_error",
    "huber",
    "poisson",
    "gamma",
    "quantile",
)
"""The names ``Task(..., "regression", loss=...)`` takes."""


def _reduce(elementwise: torch.Tensor, reduction: str) -> torch.Tensor:
    return elementwise.mean() if reduction == "mean" else elementwise


class SquaredError:
    """Squared error ``(output - target)²`` (the default of regression tasks)."""

    masked = False

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        return F.mse_loss(output, target, reduction=reduction)


class AbsoluteError:
    """``|output - target|``: its minimiser is the conditional median."""

    masked = False

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        return F.l1_loss(output, target, reduction=reduction)


class Huber:
    """Squared error within ``delta`` of the target, absolute error beyond."""

    masked = False

    def __init__(self, delta: float):
        self.delta = float(delta)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        return F.huber_loss(output, target, reduction=reduction, delta=self.delta)


class PoissonDeviance:
    """Poisson negative log-likelihood with a log link: ``exp(output) - target * output``.

    Equal to half the Poisson deviance up to a term that depends on the target only.
    """

    masked = False

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        output = output.clamp(max=30.0)
        return _reduce(torch.exp(output) - target * output, reduction)


class GammaDeviance:
    """Gamma negative log-likelihood with a log link: ``target * exp(-output) + output``."""

    masked = False

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        output = output.clamp(min=-30.0)
        return _reduce(target * torch.exp(-output) + output, reduction)


def _pinball(prediction: torch.Tensor, target: torch.Tensor, quantile: torch.Tensor | float):
    residual = target - prediction
    return torch.maximum(quantile * residual, (quantile - 1.0) * residual)


class Pinball:
    """Pinball (quantile) loss of one quantile ``q``: its minimiser is that quantile."""

    masked = False

    def __init__(self, quantile: float):
        self.quantile = float(quantile)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        return _reduce(_pinball(output, target, self.quantile), reduction)


def increasing_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """Non-crossing quantiles: the first raw output, then positive increments (softplus)."""
    if raw.shape[1] == 1:
        return raw
    steps = F.softplus(raw[:, 1:])
    return torch.cat([raw[:, :1], raw[:, :1] + torch.cumsum(steps, dim=1)], dim=1)


class QuantileSetLoss:
    """Mean pinball loss over several quantiles, plus an optional point loss.

    The task's outputs are ``[point]`` (when ``point_loss`` is given) followed by one
    raw output per quantile, turned into increasing quantiles by
    :func:`increasing_quantiles`.
    """

    masked = False

    def __init__(self, quantiles: Sequence[float], point_loss: Callable | None):
        self.quantiles = tuple(float(q) for q in quantiles)
        self.point_loss = point_loss

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        offset = 0 if self.point_loss is None else 1
        predicted = increasing_quantiles(output[:, offset:])
        levels = torch.tensor(self.quantiles, dtype=output.dtype, device=output.device)
        loss = _pinball(predicted, target, levels).mean(dim=1, keepdim=True)
        if self.point_loss is not None:
            loss = loss + self.point_loss(output[:, :1], target, "none")
        return _reduce(loss, reduction)


def cumulative_logits(raw: torch.Tensor) -> torch.Tensor:
    """Ordinal outputs -> decreasing logits of ``P(y >= k)``, k = 1 .. K-1."""
    if raw.shape[1] == 1:
        return raw
    steps = F.softplus(raw[:, 1:])
    return torch.cat([raw[:, :1], raw[:, :1] - torch.cumsum(steps, dim=1)], dim=1)


def _log1mexp(gap: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(-gap))`` for gap > 0, accurate for small and large gaps."""
    gap = gap.clamp(min=1e-7)
    return torch.where(gap > 0.6931, torch.log1p(-torch.exp(-gap)), torch.log(-torch.expm1(-gap)))


def ordinal_log_proba(raw: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (batch, K) of the K ordered classes of a cumulative-logit model.

    ``P(y = 0) = 1 - s(c_1)``, ``P(y = k) = s(c_k) - s(c_{k+1})``,
    ``P(y = K-1) = s(c_{K-1})`` with ``s`` the logistic function and ``c`` the
    decreasing cumulative logits; each difference is computed in log space.
    """
    c = cumulative_logits(raw)
    first = F.logsigmoid(-c[:, :1])
    last = F.logsigmoid(c[:, -1:])
    if c.shape[1] == 1:
        return torch.cat([first, last], dim=1)
    upper, lower = c[:, :-1], c[:, 1:]
    middle = F.logsigmoid(upper) + F.logsigmoid(-lower) + _log1mexp(upper - lower)
    return torch.cat([first, middle, last], dim=1)


class OrdinalLogLoss:
    """Negative log-likelihood of the cumulative-logit (ordinal) model.

    With ``label_smoothing`` ``e`` the target is a mixture of the true class (weight
    ``1 - e``) and the uniform distribution over the K classes (weight ``e``), as in
    torch's ``cross_entropy``: ``(1 - e) * -log p_y + e * mean_k(-log p_k)``.
    """

    masked = False

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = float(label_smoothing)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        log_proba = ordinal_log_proba(output)
        loss = -log_proba.gather(1, target[:, :1].long())
        if self.label_smoothing:
            uniform = -log_proba.mean(dim=1, keepdim=True)
            loss = (1.0 - self.label_smoothing) * loss + self.label_smoothing * uniform
        return _reduce(loss, reduction)


class SmoothedCrossEntropy:
    """Cross-entropy of one logit per class with torch's ``label_smoothing``.

    The target distribution is ``(1 - e)`` on the true class plus ``e / K`` on each of
    the K classes. The targets are class indices in the first column.
    """

    masked = False

    def __init__(self, label_smoothing: float):
        self.label_smoothing = float(label_smoothing)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        loss = F.cross_entropy(
            output, target[:, 0].long(), reduction=reduction, label_smoothing=self.label_smoothing
        )
        return loss if reduction == "mean" else loss[:, None]


class SmoothedBinaryCrossEntropy:
    """Binary cross-entropy of one logit per 0/1 column, the labels smoothed as torch's
    ``label_smoothing`` smooths two classes: target ``y * (1 - e) + e / 2``."""

    masked = False

    def __init__(self, label_smoothing: float):
        self.label_smoothing = float(label_smoothing)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        smooth = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(output, smooth, reduction=reduction)


class CallableLoss:
    """A user's ``loss(output, target, mask) -> per-row loss``, masked and checked.

    ``output`` is the task's raw output (batch, n_outputs), ``target`` its encoded
    targets (batch, n_targets) with missing labels set to 0, ``mask`` a boolean
    (batch,) of the labelled rows. The result has shape (batch,) or (batch, n_targets);
    entries of unlabelled rows are ignored.
    """

    masked = True

    def __init__(self, function: Callable, task_name: str):
        self.function = function
        self.task_name = task_name

    def __call__(self, output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        mask = ~torch.isnan(target).any(dim=1)
        clean = torch.nan_to_num(target, nan=0.0)
        loss = self.function(output, clean, mask)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(
                f"The loss of task {self.task_name!r} returned {type(loss).__name__}; it "
                "must return a tensor of per-row losses."
            )
        if loss.ndim == 1:
            loss = loss[:, None]
        if (
            loss.ndim != 2
            or loss.shape[0] != target.shape[0]
            or loss.shape[1] not in (1, target.shape[1])
        ):
            raise ValueError(
                f"The loss of task {self.task_name!r} returned shape {tuple(loss.shape)}; "
                f"expected ({target.shape[0]},) per-row losses."
            )
        loss = loss.expand(-1, target.shape[1])
        loss = torch.where(mask[:, None], loss, loss.new_zeros(()))
        return _reduce(loss, reduction)


def numpy_increasing(raw: np.ndarray) -> np.ndarray:
    """:func:`increasing_quantiles` in numpy (float64)."""
    raw = np.asarray(raw, dtype=np.float64)
    steps = np.logaddexp(0.0, raw[:, 1:])
    return np.concatenate([raw[:, :1], raw[:, :1] + np.cumsum(steps, axis=1)], axis=1)


def numpy_ordinal_proba(raw: np.ndarray) -> np.ndarray:
    """Class probabilities of the cumulative-logit model, in numpy (float64)."""
    with torch.no_grad():
        log_proba = ordinal_log_proba(torch.as_tensor(np.asarray(raw, dtype=np.float64)))
    proba = log_proba.exp().numpy()
    return proba / proba.sum(axis=1, keepdims=True)
