"""The private skorch net: masked multi-task losses, weighting hooks, fast batches.

The estimator builds one :class:`MultiTaskNet` per fit and runs it through
``partial_fit`` (:func:`sklearn_mtl._training.train`), keeping skorch's callbacks,
history, device handling, ``save_params`` and pickling. What this subclass changes:

- ``partial_fit``: skorch's, where a non-finite loss also ends the loop (and is raised
  after ``on_train_end``) and an epoch cut short is dropped from the history;

- ``get_split_datasets``/``get_iterator``: batches are slices of tensors built once
  (:mod:`sklearn_mtl._data`), not a per-row ``Dataset`` and ``default_collate``;
- ``train_step_single``: the per-task loss vector goes to the loss weighting, whose
  :meth:`~sklearn_mtl.weighting.WeightingModule.step` returns the objective (a surrogate
  for gradient-level methods) and the weights it applied; the net records the weights,
  adds the architecture's penalties and runs the step's one backward pass, through the
  gradient scaler under fp16;
- ``run_single_epoch``: no ``.item()`` per batch; per-task losses and scores are
  accumulated on the device and written to the history once per epoch; a step's
  records (loss sums, finite losses, applied weights, the reported loss) are kept as
  its own tensors and reduced in chunks (:class:`~sklearn_mtl._step_records.StepRecords`);
- ``initialize_optimizer``: Adam, AdamW, SGD and Adagrad use torch's fused kernels
  (about 3x faster steps than the default per-parameter loop on a CPU);
- ``precision`` runs the forward passes under autocast (bf16, or fp16 with a gradient
  scaler, which gradient-level weightings' per-task gradients go through too) and
  ``compile_module`` compiles the module's two halves with
  ``torch.compile``.

Two parts live in their own modules: the NaN/inf guard (:class:`NonFiniteLossError`, the
last good weights) in ``_net_guard.py``, a base class of the net; fused optimizers,
precisions and compilation in ``_net_speed.py``. Early stopping's callback,
:class:`~sklearn_mtl._callbacks.BestValidScore`, is in ``_callbacks.py``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer

from ._callbacks import BestValidScore as BestValidScore  # pickles name _net.BestValidScore
from ._data import BatchIterator, SplitData, TaskData, batch_bounds, rows_as_tensor
from ._losses import N_STATS, EpochPredictions, MultiTaskLoss, scores_from_stats
from ._net_guard import NonFiniteLossError, _DivergenceGuard
from ._net_speed import PRECISIONS, _can_fuse, _Compiled, _no_donated_buffers
from ._random import global_rng_of_the_fit
from ._relationship import RelationshipStep
from ._step_records import StepRecords
from .architectures._base import decayed_parameters
from .weighting import BackwardContext

if TYPE_CHECKING:
    from ._distributed import DataParallel

# Working state of a fit (epoch buffers, a copy of the last good weights): freed when
# training ends, never part of the model (a CUDA tensor kept in a plain attribute would
# not unpickle on a machine without a GPU).
_TRAINING_STATE = (
    "stats_",
    "records_",
    "batch_recorded_",
    "grad_listeners_",
    "epoch_predictions_",
    "shared_parameters_",
    "task_parameters_",
    "last_good_state_",
    "finite_steps_",
    "step_in_epoch_",
    "random_generators_",
)
# Not pickled either: the above, and compiled functions and the fp16 gradient scaler,
# which are kept between fits (warm start, partial_fit) and rebuilt on demand.
_TRANSIENT = (*_TRAINING_STATE, "compiled_parts_", "grad_scaler_", "data_parallel_")


class MultiTaskNet(_DivergenceGuard):
    """skorch ``NeuralNet`` for a ``MultiTaskModule``.

    ``module`` and ``criterion`` are passed as initialised instances; ``criterion`` is a
    :class:`~sklearn_mtl._losses.MultiTaskLoss`. ``optimizer__weight_decay`` (the
    estimator's ``alpha``) applies to weight matrices only (see
    :func:`~sklearn_mtl.architectures._base.decayed_parameters`: what a module declares
    in ``no_weight_decay()`` is exempt), not to biases, normalisation parameters or the
    loss weighting's own parameters.

    ``precision`` (None, "bf16" or "fp16") and ``compile_module`` (bool, or a dict of
    ``torch.compile`` keyword arguments) are the estimator's ``precision`` and
    ``compile``, checked there (see :func:`~sklearn_mtl._net_speed.check_precision`).
    """

    criterion_: MultiTaskLoss
    batch_recorded_: bool = False
    grad_listeners_: bool = True  # set per epoch: does any callback implement on_grad_computed
    grad_scaler_: torch.amp.GradScaler | None = None  # fp16's, made by the first step
    # A distributed fit's DDP wrapper and epoch reduction (sklearn_mtl._distributed),
    # set while fit_distributed trains; None in a single process.
    data_parallel_: DataParallel | None = None

    def __init__(
        self,
        *args: Any,
        precision: str | None = None,
        compile_module: bool | dict = False,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.precision = precision
        self.compile_module = compile_module

    def get_default_callbacks(self):
        return [("epoch_timer", EpochTimer())]

    # -- set-up --------------------------------------------------------------------
    def initialize_optimizer(self, *args, **kwargs):
        params = self.get_params_for("optimizer")
        weight_decay = params.pop("weight_decay", 0.0)
        params.setdefault("lr", self.lr)
        decayed = decayed_parameters(self.module_)
        ids = {id(p) for p in decayed}
        others = [
            p for _, p in self.get_all_learnable_params() if p.requires_grad and id(p) not in ids
        ]
        groups = [{"params": decayed, "weight_decay": weight_decay}]
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        if _can_fuse(self.optimizer, params, torch.device(self.device)):
            params["fused"] = True
        if isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.LBFGS):
            # LBFGS takes one parameter group and has no weight decay.
            if weight_decay:
                raise ValueError(
                    "LBFGS supports no weight decay: set alpha=0 to use optimizer=LBFGS."
                )
            self.optimizer_ = self.optimizer(decayed + others, **params)
            return self
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
            shard=None if self.data_parallel_ is None else self.data_parallel_.shard,
        )

    # -- the run -------------------------------------------------------------------
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``: ``fit_loop`` between ``on_train_begin`` and
        ``on_train_end``, ended early by ``KeyboardInterrupt`` (Ctrl-C, early stopping).

        Two additions: a :class:`NonFiniteLossError` ends the loop too (the weights of
        the last good epoch restored) and is raised after ``on_train_end`` (or is the
        ``__cause__`` of an error that ``on_train_end`` raises); an epoch cut
        short leaves no incomplete row in the history, which only holds finished epochs.
        ``fit_params`` go to ``fit_loop`` (``epochs=``).
        """
        if not self.initialized_:
            self.initialize()
        self.notify("on_train_begin", X=X, y=y)
        failure: NonFiniteLossError | None = None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                self.fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:  # raised by early stopping (or the user)
            pass
        except NonFiniteLossError as error:  # the last good weights are restored
            failure = error
        while len(self.history) and "dur" not in self.history[-1]:
            del self.history[-1]
        try:
            self.notify("on_train_end", X=X, y=y)
        except BaseException as error:
            if failure is not None:
                raise error from failure
            raise
        if failure is not None:
            raise failure
        return self

    # -- faults --------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._keep_good_state()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # skorch opens one batch record per batch (on_batch_begin); ours stay empty
        # (losses are recorded per epoch), so keep only those a callback wrote to.
        row = self.history[-1]
        row["batches"] = [batch for batch in row.get("batches", []) if batch]

    def on_train_end(self, net, X=None, y=None, **kwargs):
        for key in _TRAINING_STATE:
            self.__dict__.pop(key, None)

    def __getstate__(self):
        state = super().__getstate__()
        for key in _TRANSIENT:
            state.pop(key, None)
        return state

    # -- steps ---------------------------------------------------------------------
    def _stats_buffer(self, device: torch.device) -> torch.Tensor:
        return torch.zeros(len(self.criterion_.specs), N_STATS, device=device)

    def _set_mode(self, training: bool) -> None:
        """skorch's ``_set_training``, only when the mode changes (it walks every module)."""
        if self.module_.training != training or self.criterion_.training != training:
            self._set_training(training)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=PRECISIONS[self.precision])

    def _forward_parts(self) -> tuple[Callable, Callable]:
        """The module's ``shared`` and ``heads``, compiled once when ``compile_module``.

        The halves are compiled separately so that the shared representation stays a
        node of the autograd graph (gradient-level weightings differentiate through it).
        """
        if not self.compile_module:
            return self.module_.shared, self.module_.heads
        parts = getattr(self, "compiled_parts_", None)
        if parts is None or parts[0] is not self.module_:
            options = self.compile_module if isinstance(self.compile_module, dict) else {}
            parts = (
                self.module_,
                _Compiled(torch.compile(self.module_.shared, **options)),
                _Compiled(torch.compile(self.module_.heads, **options)),
            )
            self.compiled_parts_ = parts
        return parts[1], parts[2]

    def _backward(self, tensor: torch.Tensor) -> None:
        """Back-propagate ``tensor``, scaled by the fp16 gradient scaler when there is one."""
        scaler = self.grad_scaler_ if self.precision == "fp16" else None
        (tensor if scaler is None else scaler.scale(tensor)).backward()

    def train_step(self, batch, **fit_params):
        """skorch's ``train_step`` without its per-step machinery (optimizer closure, step
        accumulator, a parameter generator for ``on_grad_computed``): the same steps, and
        ``on_grad_computed`` is still notified whenever a callback implements it.

        With fp16 the gradients go through a ``GradScaler`` (which cannot step through
        a closure): unscaled before the callbacks, so that they and gradient clipping see
        true gradients. LBFGS keeps skorch's closure, which it evaluates several times.
        """
        # LBFGS evaluates a batch several times: record it once (set without skorch's
        # __setattr__, which looks for torch components: twice a step)
        self.__dict__["batch_recorded_"] = False
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        scaler = None
        if self.precision == "fp16":
            scaler = self.grad_scaler_
            if scaler is None:
                scaler = self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        elif any(isinstance(optimizer, torch.optim.LBFGS) for optimizer in optimizers):
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        if self.compile_module:
            with _no_donated_buffers():
                step = self.train_step_single(batch, **fit_params)
        else:
            step = self.train_step_single(batch, **fit_params)
        if scaler is not None:
            for optimizer in optimizers:
                scaler.unscale_(optimizer)
        self._notify_grad_computed(batch)
        for optimizer in optimizers:
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
        if scaler is not None:
            scaler.update()
        return step

    def _notify_grad_computed(self, batch) -> None:
        """``on_grad_computed``, when a callback implements it (else no parameter list)."""
        if self.grad_listeners_:
            self.notify(
                "on_grad_computed",
                named_parameters=list(self.get_all_learnable_params()),
                batch=batch,
                training=True,
            )

    def train_step_single(self, batch, **fit_params):
        X, targets, weight = batch
        self._set_mode(True)
        with global_rng_of_the_fit(self.module_, X.device), self._autocast():
            if self.data_parallel_ is not None:  # through DDP: the backward is averaged
                representation, outputs = self.data_parallel_.forward(X)
            else:
                shared, heads = self._forward_parts()
                representation = shared(X)
                outputs = heads(representation, X)
        records = self.records_
        record = not self.batch_recorded_
        losses, present = self.criterion_.task_losses(
            outputs, targets, weight, records=records if record else None
        )
        if record:
            self.epoch_predictions_.add(self.criterion_, outputs, targets, weight)
            self.__dict__["batch_recorded_"] = True
        weighting = self.criterion_.weighting
        # the weighting says what to back-propagate (a surrogate for gradient-level
        # methods) and which weights it applied; the net records them with the losses
        # (the NaN guard), adds the penalties and runs the step's one backward pass
        # (scaled under fp16)
        scaler = self.grad_scaler_ if self.precision == "fp16" else None
        # the other parameters let a gradient-level method skip a second pass through the
        # trunk; under DDP the backward pass must run through the module's graph
        others = self.task_parameters_ if self.data_parallel_ is None else None
        context = BackwardContext(self.shared_parameters_, representation, scaler, outputs, others)
        result = weighting.step(losses, present, context)
        # an fp16 step that overflowed applied no weights (the scaler skips it)
        records.add_step(losses, present, None if result.skipped else result.weights)
        objective, total = result.objective, result.loss
        penalty = self.module_.penalty()
        if penalty is not None:
            objective = objective + penalty
            total = total + penalty.detach()
        plugins = self.criterion_.relationships()
        if plugins:  # relationship tools: measure, or add a penalty (MTRL)
            plugin_step = RelationshipStep(
                self.module_,
                self.criterion_,
                batch,
                losses,
                present,
                self.shared_parameters_ or [representation],
            )
            for plugin in plugins:
                extra = plugin.on_step(plugin_step)
                if extra is not None:
                    objective = objective + extra
                    total = total + extra.detach()
        if objective.requires_grad:
            self._backward(objective)
        return {"loss": total, "y_pred": outputs}

    def validation_step(self, batch, **fit_params):
        X, targets, weight = batch
        self._set_mode(False)
        shared, heads = self._forward_parts()
        with torch.inference_mode():
            with self._autocast():
                outputs = heads(shared(X), X)
            losses, present = self.criterion_.task_losses(
                outputs, targets, weight, records=self.records_
            )
            self.epoch_predictions_.add(self.criterion_, outputs, targets, weight)
            total = self.criterion_.weighting.fixed_weighted_loss(losses, present)
        return {"loss": total, "y_pred": outputs}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        device = torch.device(self.device)
        self.stats_ = self._stats_buffer(device)
        self.records_ = StepRecords(self.stats_, self.criterion_.weighting if training else None)
        self.shared_parameters_ = self.module_.shared_parameters()
        shared = {id(p) for p in self.shared_parameters_}
        self.task_parameters_ = [
            p for p in self.module_.parameters() if p.requires_grad and id(p) not in shared
        ]
        self.criterion_.complete_labels = iterator.data.complete
        self.grad_listeners_ = any(
            type(callback).on_grad_computed is not Callback.on_grad_computed
            for _, callback in self.callbacks_
        )
        batch_listeners = self._listens_to_batches()
        self.epoch_predictions_ = EpochPredictions(
            len(iterator.data),
            int(iterator.data.targets.shape[1]),
            device,
            weighted=iterator.data.sample_weight is not None,
        )
        records = self.records_
        batch_count = 0
        if training:
            for plugin in self.criterion_.relationships():
                plugin.begin_epoch(len(iterator))
        try:
            for batch in iterator:
                if batch_listeners:
                    self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                records.add_loss(step["loss"], len(batch[1]))
                if batch_listeners:
                    self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        finally:  # other callers of task_losses (diagnostics) always get the masked path
            self.criterion_.complete_labels = False
        records.flush()
        self.finite_steps_, self.step_in_epoch_ = records.finite_steps, records.n_steps
        self._record_epoch(prefix, records.loss_sum / len(iterator.data), training)
        self.history.record(prefix + "_batch_count", batch_count)
        if training:
            self._record_relationships()

    def _listens_to_batches(self) -> bool:
        """Whether a callback implements a per-batch hook (``on_batch_begin``,
        ``on_batch_end``, or ``on_grad_computed``, which may write to the batch's
        record). Without one, the batch hooks are not called: skorch's own would only
        open an empty batch record per batch, which ``on_epoch_end`` drops."""
        hooks = ("on_batch_begin", "on_batch_end", "on_grad_computed")
        if any(getattr(type(self), hook) is not getattr(NeuralNet, hook) for hook in hooks):
            return True
        return any(
            hook in getattr(callback, "__dict__", {})
            or getattr(type(callback), hook, None) is not getattr(Callback, hook)
            for _, callback in self.callbacks_
            for hook in hooks
        )

    def _record_relationships(self) -> None:
        """Epoch end: each relationship plugin's hook (the gradient affinity's mean, one
        sync; the MTRL covariance step), its entries written to the history."""
        for plugin in self.criterion_.relationships():
            for key, value in plugin.end_epoch(self.module_).items():
                self.history.record(key, value)

    def _record_epoch(self, prefix: str, mean_loss: torch.Tensor, training: bool) -> None:
        """Write the epoch's losses, scores and task weights to the history (one sync)."""
        weighting = self.criterion_.weighting
        self.stats_[:, 2:] += self.epoch_predictions_.statistics(self.criterion_)
        host_scores = self.epoch_predictions_.host_scores(self.criterion_.specs)
        del self.epoch_predictions_
        if self.data_parallel_ is not None:  # sum the statistics over the processes
            self.data_parallel_.reduce_epoch(self, mean_loss, training)
        parts = [mean_loss.reshape(1), self.stats_.flatten()]
        if training:
            parts.append(weighting.pop_epoch_weights())
        values = torch.cat([p.float() for p in parts]).cpu().numpy().astype(np.float64)
        n_tasks = len(self.criterion_.specs)
        stats = values[1 : 1 + n_tasks * N_STATS].reshape(n_tasks, N_STATS)
        running_r2 = [spec.handler.running_r2 for spec in self.criterion_.specs]
        losses, scores = scores_from_stats(running_r2, stats)
        for index, score in host_scores.items():  # tasks whose metric is not a running score
            scores[index] = score
        history = self.history
        history.record(f"{prefix}_loss", float(values[0]))
        for spec, loss, score in zip(self.criterion_.specs, losses, scores, strict=True):
            history.record(f"{prefix}_loss_{spec.name}", float(loss))
            history.record(f"{prefix}_score_{spec.name}", float(score))
        finite = scores[np.isfinite(scores)]
        history.record(f"{prefix}_score", float(finite.mean()) if finite.size else float("nan"))
        if training:
            self._check_finite(losses, stats[:, 0] > 0)
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
        self._set_mode(False)
        device = torch.device(self.device)
        names = [spec.name for spec in self.criterion_.specs]
        chunks: list[list[torch.Tensor]] = [[] for _ in names]
        shared, heads = self._forward_parts()
        for start, stop in batch_bounds(X.shape[0], batch_size):
            rows = rows_as_tensor(X, slice(start, stop)).to(device, non_blocking=True)
            with self._autocast():
                outputs = heads(shared(rows), rows)
            for chunk, name in zip(chunks, names, strict=True):
                chunk.append(outputs[name].float())
        return [torch.cat(chunk).cpu().numpy() for chunk in chunks]
