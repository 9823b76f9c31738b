"""The private skorch net: masked multi-task losses, weighting hooks, fast batches.

The estimator builds one :class:`MultiTaskNet` per fit and drives it through skorch's
``partial_fit``/``fit_loop``, keeping skorch's callbacks, history, device handling,
``save_params`` and pickling. What this subclass changes:

- ``get_split_datasets``/``get_iterator``: batches are slices of tensors built once
  (:mod:`sklearn_mtl._data`), not a per-row ``Dataset`` and ``default_collate``;
- ``train_step_single``: the per-task loss vector goes to the loss weighting, which
  back-propagates (loss-level or gradient-level); the architecture's penalty is added;
- ``run_single_epoch``: no ``.item()`` per batch; per-task losses and scores are
  accumulated on the device and written to the history once per epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, EpochTimer

from ._data import BatchIterator, SplitData, TaskData, batch_bounds, rows_as_tensor
from ._losses import N_STATS, MultiTaskLoss, scores_from_stats
from .weighting import BackwardContext


class BestValidScore(EarlyStopping):
    """skorch's early stopping on ``valid_score``, inactive when there is no validation."""

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            return
        super().on_epoch_end(net, **kwargs)


class MultiTaskNet(NeuralNet):
    """skorch ``NeuralNet`` for a :class:`~sklearn_mtl.architectures.MultiTaskModule`.

    ``module`` and ``criterion`` are passed as initialised instances; ``criterion`` is a
    :class:`~sklearn_mtl._losses.MultiTaskLoss`. ``optimizer__weight_decay`` (the
    estimator's ``alpha``) applies to weight matrices only, not to biases, normalisation
    parameters or the loss weighting's own parameters.
    """

    criterion_: MultiTaskLoss

    def get_default_callbacks(self):
        return [("epoch_timer", EpochTimer())]

    # -- set-up --------------------------------------------------------------------
    def initialize_optimizer(self, *args, **kwargs):
        params = self.get_params_for("optimizer")
        weight_decay = params.pop("weight_decay", 0.0)
        params.setdefault("lr", self.lr)
        decayed = [p for p in self.module_.parameters() if p.requires_grad and p.ndim > 1]
        ids = {id(p) for p in decayed}
        others = [
            p
            for _, p in self.get_all_learnable_params()
            if p.requires_grad and id(p) not in ids
        ]
        groups = [{"params": decayed, "weight_decay": weight_decay}]
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        self.optimizer_ = self.optimizer(groups, **params)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        assert isinstance(X, SplitData)
        return X.train, X.valid

    def get_iterator(self, dataset: TaskData, training: bool = False) -> BatchIterator:
        generator = getattr(self, "generator_", None)
        return BatchIterator(
            dataset,
            self.batch_size,
            shuffle=training,
            device=torch.device(self.device),
            generator=generator,
        )

    # -- steps ---------------------------------------------------------------------
    def _stats_buffer(self, device: torch.device) -> torch.Tensor:
        return torch.zeros(len(self.criterion_.specs), N_STATS, device=device)

    def train_step_single(self, batch, **fit_params):
        X, targets, weight = batch
        self._set_training(True)
        representation = self.module_.shared(X)
        outputs = self.module_.heads(representation, X)
        losses, present = self.criterion_.task_losses(outputs, targets, weight, self.stats_)
        context = BackwardContext(self.shared_parameters_, representation)
        total = self.criterion_.weighting.backward(losses, present, context)
        penalty = self.module_.penalty()
        if penalty is not None:
            penalty.backward()
            total = total + penalty.detach()
        return {"loss": total, "y_pred": outputs}

    def validation_step(self, batch, **fit_params):
        X, targets, weight = batch
        self._set_training(False)
        with torch.inference_mode():
            outputs = self.module_(X)
            losses, present = self.criterion_.task_losses(outputs, targets, weight, self.stats_)
            total = (self.criterion_.weighting.base_weights * losses * present).sum()
        return {"loss": total, "y_pred": outputs}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        device = torch.device(self.device)
        self.stats_ = self._stats_buffer(device)
        self.shared_parameters_ = self.module_.shared_parameters()
        loss_sum = torch.zeros((), device=device)
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss_sum += step["loss"].detach() * len(batch[1])
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self._record_epoch(prefix, loss_sum / len(iterator.data), training)
        self.history.record(prefix + "_batch_count", batch_count)

    def _record_epoch(self, prefix: str, mean_loss: torch.Tensor, training: bool) -> None:
        """Write the epoch's losses, scores and task weights to the history (one sync)."""
        weighting = self.criterion_.weighting
        parts = [mean_loss.reshape(1), self.stats_.flatten()]
        if training:
            parts.append(weighting.pop_epoch_weights())
        values = torch.cat([p.float() for p in parts]).cpu().numpy().astype(np.float64)
        n_tasks = len(self.criterion_.specs)
        stats = values[1 : 1 + n_tasks * N_STATS].reshape(n_tasks, N_STATS)
        kinds = [spec.kind for spec in self.criterion_.specs]
        losses, scores = scores_from_stats(kinds, stats)
        history = self.history
        history.record(f"{prefix}_loss", float(values[0]))
        for spec, loss, score in zip(self.criterion_.specs, losses, scores, strict=True):
            history.record(f"{prefix}_loss_{spec.name}", float(loss))
            history.record(f"{prefix}_score_{spec.name}", float(score))
        finite = scores[np.isfinite(scores)]
        history.record(f"{prefix}_score", float(finite.mean()) if finite.size else float("nan"))
        if training:
            weights = values[1 + n_tasks * N_STATS :]
            for spec, weight in zip(self.criterion_.specs, weights, strict=True):
                history.record(f"weight_{spec.name}", float(weight))
            epoch_losses = torch.as_tensor(
                np.nan_to_num(losses), dtype=torch.float32, device=self.stats_.device
            )
            weighting.on_epoch_end(epoch_losses)

    # -- inference -----------------------------------------------------------------
    @torch.inference_mode()
    def forward_outputs(self, X, batch_size: int) -> list[np.ndarray]:
        """Raw outputs of every task for all rows of X, in task order (no DataLoader)."""
        self._set_training(False)
        device = torch.device(self.device)
        names = [spec.name for spec in self.criterion_.specs]
        chunks: list[list[torch.Tensor]] = [[] for _ in names]
        for start, stop in batch_bounds(X.shape[0], batch_size):
            rows = rows_as_tensor(X, slice(start, stop)).to(device, non_blocking=True)
            outputs = self.module_(rows)
            for chunk, name in zip(chunks, names, strict=True):
                chunk.append(outputs[name].float())
        return [torch.cat(chunk).cpu().numpy() for chunk in chunks]
