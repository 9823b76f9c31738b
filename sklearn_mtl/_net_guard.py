"""Divergence of a fit: :class:`NonFiniteLossError`, and the net's last good weights.

The net counts on the device where each task's loss stayed finite, step by step
(no sync: :class:`~sklearn_mtl._step_records.StepRecords` reduces the steps' losses in
chunks), and at each epoch end either keeps a copy of the weights or restores the last
one kept and raises :class:`NonFiniteLossError` naming the task that diverged first.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet


class NonFiniteLossError(ValueError, FloatingPointError):
    """The training loss of a task became NaN or infinite.

    Raised by ``fit`` at the end of the epoch where it happened, after the weights of
    the last epoch whose losses were finite have been restored (the estimator stays
    usable). A ``ValueError`` (as scikit-learn's MLP raises for diverging weights) and
    a ``FloatingPointError``.
    """


class _DivergenceGuard(NeuralNet):
    """The part of :class:`~sklearn_mtl._net.MultiTaskNet` that notices NaN/inf losses."""

    # set by the net at each epoch's end: the steps whose losses were checked, and
    # per task those where its loss was finite or it had no label (weights that became
    # NaN stay NaN, so the task that diverged first has the most non-finite steps)
    step_in_epoch_: int
    finite_steps_: torch.Tensor

    def _keep_good_state(self) -> None:
        """Copy the weights (on their device): the state to return to after a NaN."""
        good = getattr(self, "last_good_state_", None) or {}
        self.last_good_state_ = {
            "module": copy_state(self.module_.state_dict(), good.get("module")),
            "criterion": copy_state(self.criterion_.state_dict(), good.get("criterion")),
            "epoch": len(self.history),
        }

    def _check_finite(self, losses: np.ndarray, present: np.ndarray) -> None:
        """Raise :class:`NonFiniteLossError` (after restoring good weights) on NaN/inf."""
        parameters = [p.detach() for p in self.module_.parameters() if p.numel()]
        parameters += [p.detach() for p in self.criterion_.parameters() if p.numel()]
        # one fused kernel: a tensor's largest absolute value is finite iff all are
        finite_parameters = bool(
            torch.stack(torch._foreach_norm(parameters, float("inf"))).isfinite().all().cpu()
            if parameters
            else True
        )
        bad = [
            spec.name
            for spec, loss, seen in zip(self.criterion_.specs, losses, present, strict=True)
            if seen and not np.isfinite(loss)
        ]
        if not bad and finite_parameters:
            self._keep_good_state()
            return
        non_finite = self.step_in_epoch_ - self.finite_steps_.cpu().numpy()
        if non_finite.max() > 0:  # name the task(s) that went first, not those they dragged
            names = [spec.name for spec in self.criterion_.specs]
            most = non_finite.max()
            bad = [name for name, steps in zip(names, non_finite, strict=True) if steps == most]
        good = getattr(self, "last_good_state_", None)
        epoch = len(self.history)
        if good is not None:
            self.module_.load_state_dict(good["module"])
            self.criterion_.load_state_dict(good["criterion"], strict=False)
            self.initialize_optimizer()
            restored = (
                f"the weights of epoch {good['epoch']} were restored"
                if good["epoch"] >= 1
                else "the initial weights were restored"
            )
        else:  # pragma: no cover - on_train_begin always keeps a state
            restored = "no earlier weights were kept"
        what = (
            f"the training loss of task(s) {bad} became NaN or infinite"
            if bad
            else "the network's weights became NaN or infinite"
        )
        raise NonFiniteLossError(
            f"Training diverged in epoch {epoch}: {what}; {restored} and the optimizer "
            "state was reset. Lower the learning rate (lr), standardise X, or check "
            "these tasks' labels."
        )


def copy_state(
    state: dict[str, torch.Tensor], kept: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """A copy of a state dict's tensors, on their device.

    When ``kept`` (an earlier copy) has the same names, shapes, dtypes and devices, the
    tensors are copied into its tensors (one ``_foreach_copy_``) and ``kept`` is
    returned; otherwise they are cloned anew. A fraction of ``copy.deepcopy(state)``'s
    cost: 0.02 against 0.16 ms for a periodic embedding of 21 columns and two linear
    layers (timeit, one thread).

    Examples
    --------
    >>> import torch
    >>> state = {"w": torch.ones(2)}
    >>> kept = copy_state(state)
    >>> state["w"] += 1
    >>> copy_state(state, kept) is kept, kept["w"].tolist()
    (True, [2.0, 2.0])
    """
    if kept is not None and _same_layout(kept, state):
        if state:
            torch._foreach_copy_(list(kept.values()), list(state.values()))
        return kept
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def _same_layout(kept: dict, state: dict) -> bool:
    """Whether two state dicts have the same names, shapes, dtypes and devices."""
    return list(kept) == list(state) and all(
        a.shape == b.shape and a.dtype == b.dtype and a.device == b.device
        for a, b in zip(kept.values(), state.values(), strict=True)
    )
