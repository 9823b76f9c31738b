"""Data-parallel training of one estimator over several processes (``torch.distributed``).

Run one process per GPU (or several CPU processes) with ``torchrun``; each process
builds the same estimator, reads the same data (a memmap is ideal: nothing is copied)
and calls :func:`fit_distributed`. Every process then holds the same fitted estimator,
a plain one that predicts, pickles and saves like any other.

How it works (the data-parallel algorithm of PyTorch's ``DistributedDataParallel``,
applied through skorch's callback hooks):

- the processes start from the same weights (the same seed, then a broadcast from
  rank 0) and draw the same shuffling permutation;
- each global batch of ``batch_size`` rows is cut into ``world_size`` near-equal
  parts, one per process;
- after each backward pass the gradients of every parameter are averaged over the
  processes with one all-reduce (``on_grad_computed``), and the buffers (batch
  normalisation statistics, the state of adaptive loss weightings) are broadcast from
  rank 0, so every process takes the same optimizer step;
- the epoch's per-task statistics are summed over the processes before they are
  recorded, so history, early stopping and divergence checks agree everywhere.

Why not ``torch.nn.parallel.DistributedDataParallel`` itself: it hooks ``forward``,
and our training step calls the shared part and the heads separately and, for
gradient-level loss weightings, computes per-task gradients with ``torch.autograd.grad``
and writes ``.grad`` directly, which DDP's reducer does not see. Why not skorch's
``AccelerateMixin`` with Hugging Face Accelerate: one more dependency, and traps found
on this project (``accelerate launch --cpu`` starts one process; its CPU path wraps
parameter-free modules in DDP and fails; an unpickled accelerated net can return padded
predictions). One all-reduce per step over a flat buffer is what DDP does without
bucketing; for the small and medium networks of tabular data it costs little.
"""

from __future__ import annotations

import numbers
import os

import torch
import torch.distributed as dist
from skorch.callbacks import Callback

from ._training import resolve_device

__all__ = ["DataParallelSync", "fit_distributed"]

_ACCUMULATORS = ("weight_sum", "step_count")  # summed at epoch end, not broadcast per step
_CALLBACK_NAME = "data_parallel"


class DataParallelSync(Callback):
    """skorch callback: shard batches, average gradients, agree on buffers and stats.

    Used by :func:`fit_distributed`; a process group must be initialised.

    Parameters
    ----------
    rank : int
        This process's rank.
    world_size : int
        Number of processes.
    """

    def __init__(self, rank: int, world_size: int):
        self.rank = rank
        self.world_size = world_size

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        net.shard_ = (self.rank, self.world_size)
        for tensor in _state_tensors(net, include_parameters=True):
            dist.broadcast(tensor, src=0)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        parameters = [p for _, p in named_parameters if p.requires_grad]
        if not parameters:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        start = 0
        for parameter in parameters:
            size = parameter.numel()
            parameter.grad = flat[start : start + size].view_as(parameter).clone()
            start += size
        for tensor in _state_tensors(net, include_parameters=False):
            dist.broadcast(tensor, src=0)

    def on_epoch_reduce(self, net, mean_loss: torch.Tensor, training: bool, **kwargs):
        """Sum the epoch's loss and per-task statistics (and weight records) in place."""
        dist.all_reduce(mean_loss)
        dist.all_reduce(net.stats_)
        if training:
            weighting = net.criterion_.weighting
            for name in _ACCUMULATORS:
                dist.all_reduce(getattr(weighting, name))

    def on_train_end(self, net, X=None, y=None, **kwargs):
        net.__dict__.pop("shard_", None)


def _state_tensors(net, include_parameters: bool) -> list[torch.Tensor]:
    tensors = []
    if include_parameters:
        tensors += [p.data for p in net.module_.parameters()]
        tensors += [p.data for p in net.criterion_.parameters()]
    tensors += [b for b in net.module_.buffers() if b is not None]
    weighting = net.criterion_.weighting
    accumulators = {id(getattr(weighting, name, None)) for name in _ACCUMULATORS}
    tensors += [b for b in net.criterion_.buffers() if b is not None and id(b) not in accumulators]
    return tensors


def fit_distributed(estimator, X, y, sample_weight=None):
    """Fit ``estimator`` data-parallel over the processes of a ``torch.distributed`` group.

    Call it in every process, with the same estimator parameters and the same X and y
    (each process reads its own share of every batch). Under ``torchrun`` the process
    group is initialised from the environment: NCCL when the estimator's device is a
    GPU (each process then uses ``cuda:LOCAL_RANK``), gloo on CPUs.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        The estimator to fit; ``random_state`` must be an int (every process must draw
        the same initial weights and shuffles) and ``batch_size`` at least twice the
        number of processes.
    X : {array-like, sparse matrix, memmap} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_columns)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    estimator : MultiTaskNetEstimator
        Fitted, identical in every process, with no trace of the distributed run (its
        ``device`` parameter and callbacks are as before).

    Examples
    --------
    A script ``train.py`` run with ``torchrun --nproc-per-node=2 train.py``::

        from sklearn_mtl import MultiTaskNetEstimator
        from sklearn_mtl._distributed import fit_distributed

        est = MultiTaskNetEstimator(random_state=0, device="cuda")
        fit_distributed(est, X, y)
        if torch.distributed.get_rank() == 0:
            est.save("model.mtl")
    """
    if isinstance(estimator.random_state, bool) or not isinstance(
        estimator.random_state, numbers.Integral
    ):
        raise ValueError(
            "fit_distributed needs an int random_state, so that every process starts from "
            f"the same weights and shuffles alike; got {estimator.random_state!r}."
        )
    device = resolve_device(estimator.device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if estimator.batch_size < 2 * world_size:
        raise ValueError(
            f"batch_size={estimator.batch_size} is too small for {world_size} processes: "
            "each process needs at least 2 rows of every batch."
        )
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    original = {"callbacks": estimator.callbacks, "device": estimator.device}
    callbacks = list(original["callbacks"] or [])
    callbacks.append((_CALLBACK_NAME, DataParallelSync(rank, world_size)))
    estimator.set_params(callbacks=callbacks, device=str(device))
    try:
        estimator.fit(X, y, sample_weight=sample_weight)
    finally:
        estimator.set_params(**original)
        net = getattr(estimator, "net_", None)
        if net is not None:
            net.__dict__.pop("shard_", None)
            net.callbacks_ = [(n, cb) for n, cb in net.callbacks_ if n != _CALLBACK_NAME]
            net.callbacks = [
                entry
                for entry in net.callbacks or []
                if not (isinstance(entry, tuple) and entry[0] == _CALLBACK_NAME)
            ]
    return estimator
