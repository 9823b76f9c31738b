"""What a fit tells its user: the progress over epochs (``verbose``) and how it ended.

:class:`EpochProgress` shows the per-task training losses and the mean task score
(a progress bar, or one line per epoch). :func:`report_end_of_training` says, after the
fit, that early stopping stopped it (and which epoch's weights were restored), or warns
with a :class:`~sklearn.exceptions.ConvergenceWarning` when ``max_epochs`` ran out
while the model was still improving. :class:`BestValidScore` is skorch's early stopping
as the estimator uses it.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from types import FrameType

import joblib
import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, EarlyStopping
from tqdm.auto import tqdm

from ._net_guard import copy_state
from .tasks import DEFAULT_METRICS

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Frames a ConvergenceWarning skips to reach the user's code: this package, and the
# scikit-learn and joblib frames of a Pipeline or a search that called ``fit``.
_SKIPPED_DIRS = (
    *(os.path.dirname(os.path.abspath(str(m.__file__))) + os.sep for m in (sklearn, joblib)),
    _PACKAGE_DIR + os.sep,
)


class EpochProgress(Callback):
    """A progress bar over epochs with the per-task losses (or one line per epoch).

    The names shown are those of the history: ``train_loss_<task>`` is a task's
    training loss, ``train_score`` (``valid_score``) the unweighted mean of the
    tasks' scores on the training (validation) rows.

    Parameters
    ----------
    task_names : list of str
        Tasks whose losses are shown.
    per_line : bool, default=False
        Print one line per epoch instead of a progress bar.
    """

    def __init__(self, task_names, per_line=False):
        self.task_names = task_names
        self.per_line = per_line

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.shown_ = len(net.history)
        self.bar_ = None
        if not self.per_line:
            self.bar_ = tqdm(total=net.max_epochs, unit="epoch", initial=self.shown_)

    def _losses(self, record, prefix: str) -> str:
        values = []
        for name in self.task_names:
            value = record.get(f"{prefix}_loss_{name}")
            if value is not None and not math.isnan(value):
                values.append(f"{name}={value:.4g}")
        return " ".join(values)

    def _line(self, record) -> str:
        parts = [f"epoch {record['epoch']:>4}"]
        for prefix in ("train", "valid"):
            if f"{prefix}_score" not in record:
                continue
            part = f"{prefix} loss {self._losses(record, prefix)}, "
            part += f"score {record[f'{prefix}_score']:.4g}"
            if record.get(f"{prefix}_score_best"):
                part += " (best)"
            parts.append(part)
        parts.append(f"{record.get('dur', 0.0):.2f}s")
        return " | ".join(parts)

    def _postfix(self, record) -> dict[str, str]:
        summary = {}
        for name in self.task_names:
            value = record.get(f"train_loss_{name}")
            if value is not None and not math.isnan(value):
                summary[f"train_loss_{name}"] = f"{value:.4g}"
        for prefix in ("train", "valid"):
            score = record.get(f"{prefix}_score")
            if score is not None:
                summary[f"{prefix}_score"] = f"{score:.4g}"
        return summary

    def _show(self, net) -> None:
        while self.shown_ < len(net.history):
            record = net.history[self.shown_]
            self.shown_ += 1
            if self.bar_ is None:
                print(self._line(record))
            else:
                self.bar_.set_postfix(self._postfix(record), refresh=False)
                self.bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        self._show(net)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # The epoch in which early stopping stopped ends before this callback sees it.
        self._show(net)
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None


def describe_tasks(tasks) -> str:
    """The line ``verbose`` prints before training: the tasks and what the score is.

    Examples
    --------
    >>> from sklearn_mtl import Task
    >>> print(describe_tasks([Task("spend", "regression"), Task("bought", "binary")]))
    ... # doctest: +NORMALIZE_WHITESPACE
    [MultiTaskNetEstimator] tasks: spend (regression), bought (binary);
    score = unweighted mean of the task scores (spend: r2, bought: accuracy)
    """
    kinds = ", ".join(f"{task.name} ({task.kind})" for task in tasks)
    metrics = ", ".join(f"{task.name}: {DEFAULT_METRICS[task.kind]}" for task in tasks)
    return (
        f"[MultiTaskNetEstimator] tasks: {kinds}; "
        f"score = unweighted mean of the task scores ({metrics})"
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package
    (and outside scikit-learn and joblib, through which a Pipeline or search fits)."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_SKIPPED_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def still_improving(losses, tol: float, n_iter_no_change: int) -> bool:
    """Whether a loss curve has not converged by scikit-learn's MLP criterion.

    The curve has converged once ``n_iter_no_change`` consecutive epochs failed to
    bring the loss below its best value so far by more than ``tol``.

    Parameters
    ----------
    losses : sequence of float
        The loss of each epoch (NaN entries are skipped).
    tol : float
        Smallest decrease that counts as an improvement.
    n_iter_no_change : int
        Epochs without improvement that mean convergence.

    Returns
    -------
    bool

    Examples
    --------
    >>> still_improving([1.0, 0.5, 0.25, 0.125], tol=1e-4, n_iter_no_change=2)
    True
    >>> still_improving([1.0, 0.5, 0.5, 0.5], tol=1e-4, n_iter_no_change=2)
    False
    """
    best, misses = math.inf, 0
    for loss in losses:
        if math.isnan(loss):
            continue
        misses = misses + 1 if loss > best - tol else 0
        best = min(best, loss)
        if misses >= n_iter_no_change:
            return False
    return True


def restored_epoch(history) -> int | None:
    """The epoch whose weights early stopping restored, from the history's marks.

    The last epoch marked ``valid_score_best`` when the last epoch was validated (a
    full fit with early stopping), else None.
    """
    if not len(history) or "valid_score_best" not in history[-1]:
        return None
    for record in reversed(history):
        if "valid_score_best" not in record:
            break
        if record["valid_score_best"]:
            return int(record["epoch"])
    return int(history[-1]["epoch"])  # never improved: the last weights were kept


def _mean_task_loss(record, names) -> float:
    values = [record.get(f"train_loss_{name}", math.nan) for name in names]
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def report_end_of_training(estimator, net, stopper, epochs_asked: int, epochs_run: int) -> None:
    """Say how a full fit ended: early stopping (with ``verbose``) or ConvergenceWarning.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        The estimator being fitted (its ``verbose``, ``tol``, ``n_iter_no_change``).
    net : MultiTaskNet
        Its net, after training (weights restored).
    stopper : BestValidScore or None
        The early stopping callback, when ``early_stopping`` is on.
    epochs_asked, epochs_run : int
        Epochs this fit was to run, and ran.
    """
    history = net.history
    if len(history) < 2:  # one epoch says nothing about convergence
        return
    tol, patience = estimator.tol, estimator.n_iter_no_change
    if stopper is not None and "valid_score" in history[-1]:
        best = restored_epoch(history)
        score = history[best - 1].get("valid_score", math.nan) if best else math.nan
        restored = f"restored the weights of epoch {best} (validation score {score:.4g})"
        if stopper.stopped_:
            if estimator.verbose:
                print(
                    f"Early stopping after epoch {len(history)}: the validation score "
                    f"(mean of the task scores) did not improve by more than tol={tol:g} "
                    f"for {patience} epochs; {restored}."
                )
            return
        if epochs_run >= epochs_asked:
            warnings.warn(
                f"max_epochs={estimator.max_epochs} ran out while the validation score was "
                f"still improving (it improved within the last n_iter_no_change={patience} "
                f"epochs); {restored}. Increase max_epochs to let early stopping stop the fit.",
                ConvergenceWarning,
                stacklevel=_user_stacklevel(),
            )
        return
    if epochs_run < epochs_asked:  # interrupted
        return
    names = [task.name for task in estimator.tasks_]
    losses = [_mean_task_loss(record, names) for record in history]
    if still_improving(losses, tol, patience):
        last = len(losses)
        earlier = max(1, last - patience)
        warnings.warn(
            f"max_epochs={estimator.max_epochs} ran out while the training loss was still "
            f"falling: the mean of the task losses went from {losses[earlier - 1]:.4g} at "
            f"epoch {earlier} to {losses[-1]:.4g} at epoch {last}, improving by more than "
            f"tol={tol:g} within the last n_iter_no_change={patience} epochs. Increase "
            "max_epochs, or set early_stopping=True.",
            ConvergenceWarning,
            stacklevel=_user_stacklevel(),
        )


class BestValidScore(EarlyStopping):
    """skorch's early stopping on ``valid_score``, inactive when there is no validation.

    Marks each epoch in the history: ``valid_score_best`` is True where the score
    improved by more than the threshold (the last such epoch is the one whose weights
    are restored). ``stopped_`` tells whether it ended the fit.
    """

    load_best: bool
    best_model_weights_: dict[str, torch.Tensor] | None

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.stopped_ = False

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            return
        best_before = self.best_epoch_
        # skorch would deepcopy the state dict at each improvement: copied here into
        # the tensors kept at the last one instead (copy_state)
        load_best, self.load_best = self.load_best, False
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self.stopped_ = True
            raise
        finally:
            self.load_best = load_best
            improved = bool(self.best_epoch_ != best_before)
            if improved and load_best:
                kept = getattr(self, "best_model_weights_", None)
                self.best_model_weights_ = copy_state(net.module_.state_dict(), kept)
            net.history.record(f"{self.monitor}_best", improved)

    def on_train_end(self, net, **kwargs):
        # No finished epoch (a non-finite loss or Ctrl-C in the first one): nothing to
        # restore, and skorch would read an empty history.
        if len(net.history) and getattr(self, "best_model_weights_", None) is not None:
            super().on_train_end(net, **kwargs)
        # A copy of the weights on the training device, in a plain attribute: a CUDA
        # copy would not unpickle on a CPU-only machine, and it is not needed any more.
        self.best_model_weights_ = None
