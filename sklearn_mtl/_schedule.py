"""Learning-rate schedules of ``MultiTaskNetEstimator(lr_schedule=...)``, step by step."""

from __future__ import annotations

import math

from skorch.callbacks import Callback

__all__ = ["LR_SCHEDULES", "LRSchedule", "lr_factor", "smoothed_best_epoch"]

LR_SCHEDULES = ("constant", "cosine", "flat_cosine")


def lr_factor(schedule: str, progress: float) -> float:
    """The learning rate's multiplier at ``progress`` (0 at the start of fit, 1 at its end).

    "constant" is 1; "cosine" decays from 1 to 0 along half a cosine; "flat_cosine" stays
    at 1 for the first half, then decays as "cosine" does over the second.

    Examples
    --------
    >>> [round(lr_factor("cosine", p), 3) for p in (0.0, 0.5, 1.0)]
    [1.0, 0.5, 0.0]
    >>> [round(lr_factor("flat_cosine", p), 3) for p in (0.25, 0.75, 1.0)]
    [1.0, 0.5, 0.0]
    """
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "flat_cosine":
        if progress < 0.5:
            return 1.0
        progress = 2 * progress - 1
    return 0.5 * (1 + math.cos(math.pi * progress))


def smoothed_best_epoch(losses, window: int = 5) -> int:
    """The epoch (1-based) where the validation losses, averaged over ``window``
    neighbouring epochs (fewer at the end), are lowest (of equal ones, the epoch with the
    lowest loss of its own); never a non-finite epoch.

    One noisy epoch neither wins nor loses on its own: on a small validation split the
    raw minimum is often a lucky epoch. The first ``window // 2`` epochs, whose windows
    would be cut short, are not candidates (in a run of at least ``window`` epochs): the
    first full window, centred on epoch ``window // 2 + 1``, stands for them. A cut
    window averages fewer losses, so on a flat, noisy curve it would be the lowest more
    often than a full one, and the refit would train for a single epoch where the
    network is best after several. At the end, cut windows stay candidates: a run still
    improving at its last epoch chooses it.

    Examples
    --------
    >>> smoothed_best_epoch([5.0, 4.0, 3.0, 0.5, 3.0, 2.0, 2.0, 2.0, 2.1])
    6
    >>> smoothed_best_epoch([1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6])  # lowest at the start
    3
    """
    values = [float(v) for v in losses]
    if not values:
        raise ValueError("No validation loss was recorded: nothing to choose an epoch from.")
    half = window // 2
    smoothed = []
    for i in range(len(values)):
        part = [v for v in values[max(0, i - half) : i + half + 1] if math.isfinite(v)]
        smoothed.append(sum(part) / len(part) if math.isfinite(values[i]) else math.inf)
    first = half if len(values) >= window else 0
    if all(math.isinf(v) for v in smoothed[first:]):
        first = 0  # no finite candidate past the start: any finite epoch
    # ties (a run shorter than the window) go to the lowest raw loss
    return 1 + min(range(first, len(values)), key=lambda i: (smoothed[i], values[i]))


class LRSchedule(Callback):
    """Set the optimizer's learning rate before every training batch.

    Stateless: the position in the fit comes from the net's history (epochs done since
    ``net.schedule_start_``) and the batch index, so a fit resumed from a checkpoint
    follows the same schedule. The fit lasts ``total_epochs``; early stopping may end
    it sooner. Nets with ``schedule_off_`` set (``partial_fit``) keep the base rate.
    """

    def __init__(self, schedule: str, total_epochs: int):
        self.schedule = schedule
        self.total_epochs = total_epochs

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        n_rows = len(X.train) if X is not None and hasattr(X, "train") else 1
        self.n_batches_ = max(1, math.ceil(n_rows / net.batch_size))
        self.batch_ = 0

    def on_epoch_begin(self, net, **kwargs):
        self.batch_ = 0

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        factor = 1.0
        if not getattr(net, "schedule_off_", False):
            epoch = len(net.history) - 1 - getattr(net, "schedule_start_", 0)
            progress = (epoch + self.batch_ / self.n_batches_) / self.total_epochs
            factor = lr_factor(self.schedule, progress)
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor
        self.batch_ += 1
