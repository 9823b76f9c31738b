"""Shared machinery of gradient-level weighting methods.

A gradient-level method looks at the per-task gradients ``g_t`` of the shared part of
the network and chooses the shared update ``d``. Every method here writes ``d`` as a
combination of the task gradients, ``d = sum_t a_t g_t`` (DB-MTL uses running averages
of them), so that the coefficients ``a`` are the "task weights" recorded in the history.

Cost: one backward pass per present task through the shared part (``gradient_on=
"parameters"``) or through the heads only (``gradient_on="representation"``), plus one
ordinary backward pass; the small sub-problem on the ``n_tasks x n_tasks`` Gram matrix
``K = G G^T`` runs on the host (one device-to-host copy per step).

Under fp16 the per-task gradients are those of the losses multiplied by the gradient
scaler's scale, divided by it before the method sees them (the method is scale
invariant only in part: PCGrad is, MGDA's weights are not); a step whose scaled
gradients overflow is skipped, as the scaler skips one whose backward pass overflows.
"""

from __future__ import annotations

import numpy as np
import torch

from ._base import BackwardContext, StepResult, WeightingModule
from ._utils import as_mask, check_choice

__all__ = [
    "GRADIENT_ON",
    "GradientLevelWeighting",
    "check_gradient_on",
    "gradient_on_doc",
]

#: Where gradient-level methods take the task gradients.
GRADIENT_ON = ("parameters", "representation")

GRADIENT_ON_DOC = """gradient_on : {"parameters", "representation"}, default="%s"
        Where the per-task gradients are taken. ``"parameters"``: with respect to the
        shared parameters (exact; one backward pass through the trunk per task, and a
        ``n_tasks x n_shared_parameters`` matrix). ``"representation"``: with respect to
        the shared representation ``Z = module.shared(X)`` of the batch (the "upper
        bound" of Sener & Koltun, 2018; backward passes through the heads only and a
        ``n_tasks x (batch_size * width)`` matrix, much cheaper for wide trunks, but the
        geometry of ``dL/dZ`` differs from that of ``dL/dtheta`` by the trunk's Jacobian,
        so conflicts between tasks are measured approximately)."""


def gradient_on_doc(default: str):
    """Class decorator: put the ``gradient_on`` parameter's text in the docstring."""

    def decorate(cls):
        if cls.__doc__:
            cls.__doc__ = cls.__doc__.replace("%(gradient_on)s", GRADIENT_ON_DOC % default)
        return cls

    return decorate


def check_gradient_on(value: object) -> None:
    """Validate a ``gradient_on`` parameter."""
    check_choice("gradient_on", value, GRADIENT_ON)


def to_host(*tensors: torch.Tensor) -> list[np.ndarray]:
    """Copy small tensors to float64 numpy arrays in one synchronisation."""
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors]).cpu().numpy()
    out, start = [], 0
    for t in tensors:
        out.append(flat[start : start + t.numel()].reshape(tuple(t.shape)))
        start += t.numel()
    return out


def task_gradients(
    losses: torch.Tensor,
    inputs: list[torch.Tensor],
    present: list[bool] | None = None,
    batched: bool | None = None,
) -> torch.Tensor:
    """Matrix ``G`` (n_tasks, n_inputs) of each task's gradient with respect to ``inputs``.

    One batched ``autograd.grad`` call (``is_grads_batched=True``: the backward pass is
    vectorised over the tasks' one-hot output gradients) or, with ``batched=False`` or
    where an operation of the graph has no batching rule, one call per task; the graph
    is kept. By default (``batched=None``) the batched call is used on accelerators and
    the loop on the CPU, where the batched call measured no faster (8.7 against 8.6 ms
    for 3 tasks, 32.0 against 28.6 ms for 10, a (100, 256, 256) trunk, batch 256, one
    thread: the same arithmetic, plus vmap's overhead). Flattened and in float32
    whatever the precision of the forward pass (bf16 autocast). Rows are zero for tasks
    absent from ``present`` (not differentiated at all) and for losses without gradient;
    inputs a loss does not reach count as zero.
    """
    size = sum(x.numel() for x in inputs)
    rows = [
        t
        for t in range(losses.shape[0])
        if (present is None or present[t]) and losses.requires_grad
    ]
    jacobian = torch.zeros(losses.shape[0], size, device=losses.device)
    if not rows:
        return jacobian
    if batched is None:
        batched = losses.device.type != "cpu"
    if batched:
        try:
            outputs = torch.zeros(
                len(rows), losses.shape[0], dtype=losses.dtype, device=losses.device
            )
            outputs[torch.arange(len(rows)), torch.tensor(rows)] = 1.0
            grads = torch.autograd.grad(
                losses,
                inputs,
                grad_outputs=outputs,
                retain_graph=True,
                allow_unused=True,
                is_grads_batched=True,
            )
        except RuntimeError:  # an operation without a batching rule: one call per task
            pass
        else:
            jacobian[rows] = torch.cat(
                [
                    (g if g is not None else torch.zeros(len(rows), *x.shape, device=x.device))
                    .reshape(len(rows), -1)
                    .float()
                    for g, x in zip(grads, inputs, strict=True)
                ],
                dim=1,
            )
            return jacobian
    for t in rows:
        grads = torch.autograd.grad(losses[t], inputs, retain_graph=True, allow_unused=True)
        jacobian[t] = torch.cat(
            [
                (g if g is not None else torch.zeros_like(x)).reshape(-1).float()
                for g, x in zip(grads, inputs, strict=True)
            ]
        )
    return jacobian


_CHUNK_VALUES = 1 << 19
"""Values of the Jacobian converted to float64 at a time by :func:`gram_float64` and
:func:`combine_float64` (4 MB): a float64 copy of a whole ``(tasks, inputs)`` matrix
(50 MB for 100 tasks at a (256, 256) representation) costs its fresh pages each step."""


def _column_chunks(jacobian: torch.Tensor) -> list[slice]:
    step = max(1, _CHUNK_VALUES // max(1, jacobian.shape[0]))
    return [slice(start, start + step) for start in range(0, jacobian.shape[1], step)]


def gram_float64(jacobian: torch.Tensor) -> torch.Tensor:
    """``G G^T`` in float64 (``jacobian.double() @ jacobian.double().T``), summed over
    chunks of columns."""
    n_tasks = jacobian.shape[0]
    gram = torch.zeros(n_tasks, n_tasks, dtype=torch.float64, device=jacobian.device)
    for columns in _column_chunks(jacobian):
        block = jacobian[:, columns].double()
        gram += block @ block.T
    return gram


def combine_float64(weights: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """``weights @ G`` computed in float64 (``weights`` float64), in ``G``'s dtype,
    chunk of columns by chunk of columns."""
    update = torch.empty(jacobian.shape[1], dtype=jacobian.dtype, device=jacobian.device)
    for columns in _column_chunks(jacobian):
        update[columns] = (weights @ jacobian[:, columns].double()).to(jacobian.dtype)
    return update


class GradientLevelWeighting(WeightingModule):
    """Base class of methods that combine per-task gradients of the shared part.

    Subclasses implement :meth:`compute_weights` (coefficients ``a`` such that the shared
    update is ``G^T a``) or, for updates that are not a combination of the current
    gradients, :meth:`direction`. They may transform the per-task losses first
    (:meth:`transform_losses`, e.g. logarithms).

    Task-specific parameters (the heads) receive the gradient of
    ``sum_t base_weights[t] * loss_t`` (of the transformed losses), so that each head
    learns its own task at the scale set by the fixed task weights, as in the original
    implementations of these methods; set the class attribute
    ``heads_use_method_weights = True`` to give them the method's weights instead
    (GradNorm does: its weights are loss weights).

    Tasks absent from the batch, and tasks whose fixed weight is 0, take no part in the
    step: no gradient is computed for them and their weight is 0.

    Parameters
    ----------
    base_weights : torch.Tensor of shape (n_tasks,)
        The fixed task weights.
    gradient_on : {"parameters", "representation"}
        Where the task gradients are taken.
    """

    heads_use_method_weights: bool = False

    def __init__(self, base_weights: torch.Tensor, gradient_on: str = "parameters"):
        super().__init__(base_weights)
        check_gradient_on(gradient_on)
        self.gradient_on = gradient_on

    # -- hooks -------------------------------------------------------------------------
    def transform_losses(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """The per-task objectives whose gradients are combined (finite where absent)."""
        return losses

    def compute_weights(
        self, gram: torch.Tensor, losses: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        """Coefficients ``a`` (n_tasks,) of the shared update ``G^T a``, 0 for absent tasks.

        ``gram`` is ``G G^T`` of the (transformed) task gradients; rows of absent tasks
        are zero. By default, copies the sub-problem of the present tasks to the host
        and calls :meth:`solve`.
        """
        gram_np, losses_np, base_np, present_np = to_host(
            gram, losses, self.base_weights, present.float()
        )
        idx = np.flatnonzero((present_np > 0.5) & (base_np > 0))  # weight 0: left out
        weights = np.zeros(self.n_tasks)
        if idx.size:
            sub = self.solve(gram_np[np.ix_(idx, idx)], losses_np[idx], base_np[idx])
            weights[idx] = np.where(np.isfinite(sub), sub, 0.0)
        return torch.as_tensor(weights, dtype=gram.dtype).to(gram.device, non_blocking=True)

    def solve(self, gram: np.ndarray, losses: np.ndarray, base_weights: np.ndarray) -> np.ndarray:
        """Weights of the present tasks from their Gram matrix, losses and fixed weights."""
        raise NotImplementedError

    def direction(
        self, jacobian: torch.Tensor, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The shared update ``d`` (flat) and the weights to record.

        The Gram matrix and the combination ``G^T a`` are computed in float64 (the
        gradients themselves are float32): ill-conditioned Gram matrices, and updates
        much shorter than the gradients they combine, lose digits in float32.
        """
        gram = gram_float64(jacobian)
        weights = self.compute_weights(gram, losses, present)
        weights = weights.to(device=jacobian.device, dtype=torch.float64)
        return combine_float64(weights, jacobian), weights.to(jacobian.dtype)

    # -- machinery ---------------------------------------------------------------------
    def _inputs(self, context: BackwardContext) -> list[torch.Tensor]:
        if self.gradient_on == "representation":
            z = context.representation
            return [z] if isinstance(z, torch.Tensor) and z.requires_grad else []
        return [p for p in context.shared_parameters if p.requires_grad]

    def task_jacobian(
        self, losses: torch.Tensor, present: list[bool], inputs: list[torch.Tensor]
    ) -> torch.Tensor:
        """Matrix ``G`` (n_tasks, n_inputs) of per-task gradients (``task_gradients``)."""
        return task_gradients(losses, inputs, present)

    def step(
        self, losses: torch.Tensor, present: torch.Tensor, context: BackwardContext
    ) -> StepResult:
        mask = as_mask(present, losses)
        fixed = self.base_weights * mask
        objectives = self.transform_losses(losses, present) * mask
        report = self.fixed_weighted_loss(losses, present).detach()
        inputs = self._inputs(context)
        if not inputs:  # nothing shared to balance: plain fixed weighting
            return StepResult((fixed * objectives).sum(), fixed, report)
        # a task with fixed weight 0 takes no part: no gradient, no say in the balance
        active = present & (self.base_weights > 0)
        active_host = [bool(p) for p in active.detach().cpu().tolist()]
        scaler = context.grad_scaler
        if scaler is None:
            jacobian = self.task_jacobian(objectives, active_host, inputs)
        else:  # fp16: gradients of the scaled losses, unscaled before they are combined
            scale = scaler.get_scale()
            jacobian = self.task_jacobian(objectives * scale, active_host, inputs) / scale
            if not bool(torch.isfinite(jacobian).all()):
                # overflow: a NaN objective makes the scaler skip the step and back off
                nan = torch.full((), float("nan"), device=losses.device)
                return StepResult((fixed * objectives).sum() * nan, fixed, report, True)
        update, weights = self.direction(jacobian, losses.detach(), active)
        weights = weights * mask
        head_weights = weights if self.heads_use_method_weights else fixed
        # surrogate whose gradient is: head_weights-weighted task gradients on every
        # parameter, plus the correction turning the shared gradient into ``update``
        correction = (update - head_weights.to(jacobian) @ jacobian).detach()
        surrogate = (head_weights.detach() * objectives).sum()
        start = 0
        for x in inputs:
            n = x.numel()
            part = correction[start : start + n].view_as(x).to(x.dtype)
            surrogate = surrogate + (x * part).sum()
            start += n
        return StepResult(surrogate, weights, report)
