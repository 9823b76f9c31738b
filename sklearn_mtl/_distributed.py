"""Data-parallel training of one estimator over several processes, through torch's DDP.

Run one process per GPU (or several CPU processes) with ``torchrun``; each process
builds the same estimator, reads the same data (a memmap is ideal: nothing is copied)
and calls :func:`fit_distributed`. Every process then holds the same fitted estimator,
a plain one that predicts, pickles and saves like any other.

How it works:

- the network and the criterion (the loss weighting's parameters and state, the
  relationship plugins) are wrapped together in one
  :class:`torch.nn.parallel.DistributedDataParallel`, whose forward runs the shared
  part and the heads (:class:`TrainingModules`). DDP broadcasts rank 0's weights and
  buffers when it is built and its buffers before every forward pass, and averages the
  gradients over the processes during the step's one backward pass (bucketed
  all-reduces overlapping the backward). Gradient-level weightings take their per-task
  gradients with ``torch.autograd.grad``, which DDP does not see: each process combines
  the task gradients of its share of the batch, and DDP averages the combined updates;
- each global batch of ``batch_size`` rows is cut into ``world_size`` near-equal
  parts, one per process (the same shuffling permutation everywhere);
- the buffers that are per-process sums (the weighting's record of applied weights, the
  affinities' epoch sums: ``MultiTaskLoss.summed_buffers``) are left out of DDP's
  broadcast and summed over the processes at the end of each epoch, with the epoch's
  per-task statistics, so history, early stopping and divergence checks agree
  everywhere (:meth:`DataParallel.reduce_epoch`, called by the net).

Why not skorch's ``AccelerateMixin`` with Hugging Face Accelerate: one more dependency,
and traps found on this project (``accelerate launch --cpu`` starts one process; its
CPU path wraps parameter-free modules in DDP and fails; an unpickled accelerated net can
return padded predictions).
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ._training import resolve_device

__all__ = ["DataParallel", "TrainingModules", "fit_distributed"]

_CALLBACK_NAME = "data_parallel"


class TrainingModules(nn.Module):
    """The network and the criterion as one module, for DDP to wrap.

    Its forward pass is the training step's: ``(representation, outputs)`` of the
    network's shared part and heads. The criterion is inside so that DDP averages the
    gradients of the loss weighting's parameters too and broadcasts its state.

    Parameters
    ----------
    network : MultiTaskModule
    criterion : MultiTaskLoss
    """

    def __init__(self, network: nn.Module, criterion: nn.Module):
        super().__init__()
        self.network = network
        self.criterion = criterion

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, Any]:
        network: Any = self.network
        representation = network.shared(X)
        return representation, network.heads(representation, X)


class DataParallel:
    """A net's data-parallel state: the DDP wrapper, the rank and the epoch reduction.

    Held by the net (``MultiTaskNet.data_parallel_``) while a distributed fit runs.

    Parameters
    ----------
    net : MultiTaskNet
        An initialised net whose module and criterion are on their device.
    rank, world_size : int
        This process's rank and the number of processes.
    """

    def __init__(self, net: Any, rank: int, world_size: int):
        self.rank = rank
        self.world_size = world_size
        modules = TrainingModules(net.module_, net.criterion_)
        summed = {id(t) for t in net.criterion_.summed_buffers()}
        ignored = [name for name, b in modules.named_buffers() if id(b) in summed]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(modules, ignored)
        device = torch.device(net.device)
        self.ddp = DistributedDataParallel(
            modules, device_ids=[device] if device.type == "cuda" else None
        )

    @property
    def shard(self) -> tuple[int, int]:
        """``(rank, world_size)``: which part of every batch this process takes."""
        return self.rank, self.world_size

    def forward(self, X: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The training forward pass through DDP (so that the backward is averaged)."""
        return self.ddp(X)

    def reduce_epoch(self, net: Any, mean_loss: torch.Tensor, training: bool) -> None:
        """Sum the epoch's loss, per-task statistics and (training) summed buffers in
        place over the processes; then give every process rank 0's criterion state."""
        tensors = [mean_loss, net.stats_]
        if training:
            tensors += net.criterion_.summed_buffers()
        for tensor in tensors:
            dist.all_reduce(tensor)
        if training:  # the state a last step changed after DDP's last broadcast
            summed = {id(t) for t in tensors}
            for buffer in net.criterion_.buffers():
                if buffer is not None and id(buffer) not in summed:
                    dist.broadcast(buffer, src=0)


class _DataParallelRun(Callback):
    """skorch callback of :func:`fit_distributed`: gives the net its
    :class:`DataParallel` state when training begins, and takes it back at the end."""

    def __init__(self, rank: int, world_size: int):
        self.rank = rank
        self.world_size = world_size

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        net.data_parallel_ = DataParallel(net, self.rank, self.world_size)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        net.__dict__.pop("data_parallel_", None)


def fit_distributed(estimator, X, y, sample_weight=None, groups=None):
    """Fit an estimator data-parallel over the processes of a ``torch.distributed`` group.

    Call it in every process (e.g. under ``torchrun``), with the same estimator
    parameters and the same X and y; each process trains on its share of every batch
    through :class:`torch.nn.parallel.DistributedDataParallel`. When no process group
    is initialised it is initialised from the environment (``torchrun`` sets it):
    NCCL when the estimator's device is a GPU (each process then uses
    ``cuda:LOCAL_RANK``), gloo on CPUs.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator
        The estimator to fit; ``random_state`` must be an int (every process must draw
        the same initial weights and shuffles) and ``batch_size`` at least twice the
        number of processes. ``compile`` is not used in the distributed training step.
    X : {array-like, sparse matrix, memmap} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_columns)
    sample_weight : array-like of shape (n_samples,), default=None
    groups : array-like of shape (n_samples,), default=None
        Group labels of the rows, for early stopping's holdout (whole groups on one
        side), as in :meth:`MultiTaskNetEstimator.fit`.

    Returns
    -------
    estimator : MultiTaskNetEstimator
        Fitted, identical in every process, with no trace of the distributed run (its
        ``device`` parameter and callbacks are as before).

    Notes
    -----
    A loss-level weighting gives the model a single process would fit on the whole
    batches (up to floating-point rounding). A gradient-level weighting combines, in
    each process, the task gradients of its share of the batch, and the processes'
    combined updates are averaged: the step is the mean of per-shard balanced updates.

    Examples
    --------
    A script ``train.py`` run with ``torchrun --nproc-per-node=2 train.py``::

        import torch.distributed as dist
        from sklearn_mtl import MultiTaskNetEstimator, fit_distributed

        est = MultiTaskNetEstimator(random_state=0, device="cuda")
        fit_distributed(est, X, y)
        if dist.get_rank() == 0:
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
    callbacks.append((_CALLBACK_NAME, _DataParallelRun(rank, world_size)))
    estimator.set_params(callbacks=callbacks, device=str(device))
    try:
        estimator.fit(X, y, sample_weight=sample_weight, groups=groups)
    finally:
        estimator.set_params(**original)
        net = getattr(estimator, "net_", None)
        if net is not None:
            net.__dict__.pop("data_parallel_", None)
            net.callbacks_ = [(n, cb) for n, cb in net.callbacks_ if n != _CALLBACK_NAME]
            net.callbacks = [
                entry
                for entry in net.callbacks or []
                if not (isinstance(entry, tuple) and entry[0] == _CALLBACK_NAME)
            ]
    return estimator
