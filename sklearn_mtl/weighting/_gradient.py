"""Shared machinery of gradient-level weighting methods.

A gradient-level method looks at the per-task gradients ``g_t`` of the shared part of
the network and chooses the shared update ``d``. Every method here writes ``d`` as a
combination of the task gradients, ``d = sum_t a_t g_t`` (DB-MTL uses running averages
of them), so that the coefficients ``a`` are the "task weights" recorded in the history.

Cost: one backward pass per present task through the shared part (``gradient_on=
"parameters"``) or through the heads only (``gradient_on="representation"``), plus one
ordinary backward pass; the small sub-problem on the ``n_tasks x n_tasks`` Gram matrix
``K = G G^T`` runs on the host (one device-to-host copy per step). At the parameters,
when the net passes the other parameters (``BackwardContext.task_parameters``: always
but under data parallelism), their gradients come from a backward pass through the
heads alone and the returned surrogate is linear in the parameters,
``<shared, d> + <others, their gradients>``: the step's one backward pass then does not
run through the trunk again.

When the heads are one fused linear layer on the representation ``Z`` (plain linear
heads of hard sharing, see :class:`~sklearn_mtl.architectures.TaskOutputs`), the task
gradients are taken from one backward pass instead (:class:`FactoredJacobian`): at the
representation they are outer products of the loss gradients at the heads' outputs
with rows of the fused weight, and neither they nor their ``n_tasks x (batch * width)``
matrix are formed; at the shared parameters, each task's backward pass starts at ``Z``
from that gradient, through the trunk only (not through the heads and the
``(batch, n_tasks)`` loss graph again).

Under fp16 the per-task gradients are those of the losses multiplied by the gradient
scaler's scale, divided by it before the method sees them (the method is scale
invariant only in part: PCGrad is, MGDA's weights are not); a step whose scaled
gradients overflow is skipped, as the scaler skips one whose backward pass overflows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._base import BackwardContext, StepResult, WeightingModule
from ._surrogate import dot, linear_surrogate
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


class FactoredJacobian:
    r"""The per-task gradients at the representation of heads that are one linear layer.

    With outputs :math:`O = Z W^\top + b` (``Z`` of shape (batch, width)), task
    :math:`t` owning the output columns :math:`c(t)` and its loss reading only them,
    task :math:`t`'s gradient at ``Z`` is :math:`G_t = U_{c(t)} W_{c(t)}`, where
    :math:`U = \partial (\sum_t L_t) / \partial O` comes from one backward pass. The
    Gram matrix is :math:`\langle G_s, G_t \rangle = \sum_{c \in c(s), c' \in c(t)}
    (U^\top U)_{cc'} (W W^\top)_{cc'}` and a combination is :math:`\sum_t a_t G_t =
    (U \operatorname{diag}(a_{c})) W`: :math:`(\text{batch} + \text{width})\, C^2`
    operations for ``C`` output columns, where the rows of the Jacobian would take
    :math:`\text{tasks} \times \text{batch} \times \text{width}` values and as many
    backward passes.

    Parameters
    ----------
    grad_outputs : torch.Tensor of shape (batch, C)
        :math:`U`, zero in the columns of tasks that take no part in the step.
    weight : torch.Tensor of shape (C, width)
        The fused weight :math:`W`.
    column_task : torch.Tensor of int64, shape (C,), or None
        The task of each column; None: column ``t`` is task ``t``.
    n_tasks : int
        The number of tasks (rows of the Jacobian).
    """

    def __init__(
        self,
        grad_outputs: torch.Tensor,
        weight: torch.Tensor,
        column_task: torch.Tensor | None,
        n_tasks: int,
    ):
        self.grad_outputs = grad_outputs.detach().float()
        self.weight = weight.detach().float()
        self.column_task = column_task
        self.n_tasks = n_tasks
        self.batch_shape = (grad_outputs.shape[0], weight.shape[1])
        self.shape = (n_tasks, grad_outputs.shape[0] * weight.shape[1])
        self.dtype = self.grad_outputs.dtype
        self.device = self.grad_outputs.device
        self._columns: list[list[int]] | None = None  # each task's columns, made on demand

    def _per_column(self, weights: torch.Tensor) -> torch.Tensor:
        return weights if self.column_task is None else weights[self.column_task]

    def gram(self) -> torch.Tensor:
        """``G G^T`` in float64, from ``(U^T U) * (W W^T)``."""
        u, w = self.grad_outputs.double(), self.weight.double()
        columns = (u.T @ u) * (w @ w.T)
        if self.column_task is None:
            return columns
        tasks = torch.nn.functional.one_hot(self.column_task, self.n_tasks).to(columns)
        return tasks.T @ columns @ tasks

    def combine(self, weights: torch.Tensor, float64: bool = False) -> torch.Tensor:
        """``weights @ G`` (flat, float32): in float64 when ``float64``."""
        if float64:
            u, w = self.grad_outputs.double(), self.weight.double()
            scaled = u * self._per_column(weights.to(u))
            return (scaled @ w).float().reshape(-1)
        scaled = self.grad_outputs * self._per_column(weights.to(self.grad_outputs))
        return (scaled @ self.weight).reshape(-1)

    def row_norms(self) -> torch.Tensor:
        """Each task's gradient norm (float32)."""
        return torch.diagonal(self.gram()).clamp(min=0).sqrt().float()

    def task_matrices(self, tasks: Sequence[int] | None = None) -> torch.Tensor:
        """Tasks' gradients at the representation, ``(len(tasks), batch, width)`` (all
        tasks when None)."""
        tasks = range(self.n_tasks) if tasks is None else tasks
        if self.column_task is None:
            index = torch.as_tensor(list(tasks), device=self.device)
            u, w = self.grad_outputs.index_select(1, index), self.weight.index_select(0, index)
            return torch.einsum("bt,td->tbd", u, w)
        return torch.stack([self.task_matrix(t) for t in tasks])

    def task_matrix(self, task: int) -> torch.Tensor:
        """Task ``task``'s gradient at the representation, ``(batch, width)``."""
        if self.column_task is None:
            return torch.outer(self.grad_outputs[:, task], self.weight[task])
        if self._columns is None:
            self._columns = [[] for _ in range(self.n_tasks)]
            for c, t in enumerate(self.column_task.tolist()):
                self._columns[t].append(c)
        columns = self._columns[task]
        return self.grad_outputs[:, columns] @ self.weight[columns]

    def dense(self) -> torch.Tensor:
        """The Jacobian ``G`` (n_tasks, batch * width) itself (for checks)."""
        return self.task_matrices().reshape(self.shape)

    def is_finite(self) -> bool:
        """Whether the factors are finite (one synchronisation)."""
        return bool(torch.isfinite(self.grad_outputs).all())


def readout_jacobian(
    objectives: torch.Tensor, active: list[bool], context: BackwardContext
) -> FactoredJacobian | None:
    """The task gradients at the representation as a :class:`FactoredJacobian`, from one
    backward pass, or None when the heads are not one linear layer on it.

    ``objectives`` are the (transformed, masked) per-task losses; tasks not ``active``
    get zero gradients.
    """
    outputs = context.outputs
    readout = getattr(outputs, "readout", None)
    if readout is None or readout[0] is not context.representation:
        return None
    layout = outputs.layout  # type: ignore[union-attr]
    if layout is None or len(layout.names) != 1 or len(layout.names[0]) != len(active):
        return None
    if not objectives.requires_grad or not any(active):
        return None
    block = outputs.blocks[0]  # type: ignore[union-attr]
    (grad,) = torch.autograd.grad(objectives.sum(), block, retain_graph=True, allow_unused=True)
    if grad is None:
        return None
    bounds = layout.bounds[0]
    one_column = all(stop - start == 1 for start, stop in bounds)
    column_task = None
    if not one_column:
        column_task = torch.tensor(
            [t for t, (start, stop) in enumerate(bounds) for _ in range(start, stop)],
            device=grad.device,
        )
    keep = torch.tensor(active, dtype=grad.dtype, device=grad.device)
    keep = keep if column_task is None else keep[column_task]
    return FactoredJacobian(grad * keep, readout[1], column_task, len(active))


def readout_parameter_jacobian(
    factored: FactoredJacobian,
    representation: torch.Tensor,
    inputs: list[torch.Tensor],
    active: list[bool],
    batched: bool | None = None,
) -> torch.Tensor:
    """The task gradients at the shared parameters ``inputs``, each from the task's
    gradient at the representation back through the trunk alone (``G``, float32,
    (n_tasks, n_inputs); zero rows for tasks not ``active``).

    Batched ``autograd.grad`` calls (``is_grads_batched``, the backward pass vectorised
    over up to ``_BATCHED_VALUES`` values of representation gradients at a time), or one
    call per task (each from its ``(batch, width)`` outer product, never all of them at
    once). By default (``batched=None``) the batched calls on accelerators and the loop
    on the CPU, where it measured faster: an epoch of PCGrad took 0.49 s of CPU time
    against 0.71 s batched at K = 100, 0.095 against 0.118 s at K = 10 (2,560 rows, a
    (50, 256) trunk, batch 256, one thread, medians of 5 interleaved rounds on a loaded
    machine, 2026-12-02). Tasks whose trunk has an operation without a batching rule
    fall back to the loop.
    """
    size = sum(x.numel() for x in inputs)
    jacobian = torch.zeros(factored.n_tasks, size, device=representation.device)
    rows = [t for t in range(factored.n_tasks) if active[t]]
    if not rows:
        return jacobian
    dtype = representation.dtype
    if batched is None:
        batched = representation.device.type != "cpu"
    if batched:
        step = max(1, _BATCHED_VALUES // max(1, representation.numel()))
        try:
            for first in range(0, len(rows), step):
                chunk = rows[first : first + step]
                grads = _vjp(representation, inputs, factored.task_matrices(chunk).to(dtype), True)
                jacobian[chunk] = _flat_rows(grads, inputs, len(chunk))
        except RuntimeError:  # an operation without a batching rule: one call per task
            pass
        else:
            return jacobian
    for t in rows:
        grads = _vjp(representation, inputs, factored.task_matrix(t).to(dtype))
        jacobian[t] = _flat_rows(grads, inputs, None)
    return jacobian


_BATCHED_VALUES = 1 << 22
"""Values of representation gradients (16 MB in float32) that one batched backward pass
of :func:`readout_parameter_jacobian` takes: 64 tasks at a time for a (256, 256)
representation."""


def _vjp(
    outputs: torch.Tensor,
    inputs: list[torch.Tensor],
    grad_outputs: torch.Tensor | None,
    batched: bool = False,
) -> tuple[torch.Tensor | None, ...]:
    """``autograd.grad`` of ``outputs`` at ``inputs``, keeping the graph (``batched``:
    over the first dimension of ``grad_outputs``); None for inputs it does not reach."""
    return torch.autograd.grad(
        outputs,
        inputs,
        grad_outputs=grad_outputs,
        retain_graph=True,
        allow_unused=True,
        is_grads_batched=batched,
    )


def _flat_rows(
    grads: tuple[torch.Tensor | None, ...], inputs: list[torch.Tensor], n_rows: int | None
) -> torch.Tensor:
    """Gradients (batched over ``n_rows``, or one) flattened and side by side, float32."""
    lead = () if n_rows is None else (n_rows,)
    return torch.cat(
        [
            (g if g is not None else torch.zeros(*lead, *x.shape, device=x.device))
            .reshape(*lead, -1)
            .float()
            for g, x in zip(grads, inputs, strict=True)
        ],
        dim=-1,
    )


Jacobian = torch.Tensor | FactoredJacobian
"""The per-task gradients: a matrix, or their factors (:class:`FactoredJacobian`)."""


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
            grads = _vjp(losses, inputs, outputs, True)
        except RuntimeError:  # an operation without a batching rule: one call per task
            pass
        else:
            jacobian[rows] = _flat_rows(grads, inputs, len(rows))
            return jacobian
    for t in rows:
        jacobian[t] = _flat_rows(_vjp(losses[t], inputs, None), inputs, None)
    return jacobian


_CHUNK_VALUES = 1 << 19
"""Values of the Jacobian converted to float64 at a time by :func:`gram_float64` and
:func:`combine_float64` (4 MB): a float64 copy of a whole ``(tasks, inputs)`` matrix
(50 MB for 100 tasks at a (256, 256) representation) costs its fresh pages each step."""


def combine(weights: torch.Tensor, jacobian: Jacobian) -> torch.Tensor:
    """``weights @ G`` in ``G``'s dtype (float32)."""
    if isinstance(jacobian, FactoredJacobian):
        return jacobian.combine(weights)
    return weights.to(jacobian) @ jacobian


def row_norms(jacobian: Jacobian) -> torch.Tensor:
    """Each task's gradient norm, in ``G``'s dtype."""
    if isinstance(jacobian, FactoredJacobian):
        return jacobian.row_norms()
    return jacobian.norm(dim=1)


def _column_chunks(jacobian: torch.Tensor) -> list[slice]:
    step = max(1, _CHUNK_VALUES // max(1, jacobian.shape[0]))
    return [slice(start, start + step) for start in range(0, jacobian.shape[1], step)]


def gram_float64(jacobian: Jacobian) -> torch.Tensor:
    """``G G^T`` in float64 (``jacobian.double() @ jacobian.double().T``), summed over
    chunks of columns (from the factors of a :class:`FactoredJacobian`)."""
    if isinstance(jacobian, FactoredJacobian):
        return jacobian.gram()
    n_tasks = jacobian.shape[0]
    gram = torch.zeros(n_tasks, n_tasks, dtype=torch.float64, device=jacobian.device)
    for columns in _column_chunks(jacobian):
        block = jacobian[:, columns].double()
        gram += block @ block.T
    return gram


def combine_float64(weights: torch.Tensor, jacobian: Jacobian) -> torch.Tensor:
    """``weights @ G`` computed in float64 (``weights`` float64), in ``G``'s dtype,
    chunk of columns by chunk of columns."""
    if isinstance(jacobian, FactoredJacobian):
        return jacobian.combine(weights, float64=True)
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
        self, jacobian: Jacobian, losses: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The shared update ``d`` (flat) and the weights to record.

        The Gram matrix and the combination ``G^T a`` are computed in float64 (the
        gradients themselves are float32): ill-conditioned Gram matrices, and updates
        much shorter than the gradients they combine, lose digits in float32.
        ``jacobian`` is a matrix or a ``FactoredJacobian`` (use ``gram_float64``,
        ``combine_float64``, ``combine`` and ``row_norms`` of this module on it).
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
        self,
        losses: torch.Tensor,
        present: list[bool],
        inputs: list[torch.Tensor],
        context: BackwardContext | None = None,
    ) -> Jacobian:
        """The per-task gradients ``G`` (n_tasks, n_inputs) of ``losses`` at ``inputs``.

        From one backward pass when the heads are one fused linear layer on the
        representation (``readout_jacobian``: factors at the representation, or the
        trunk's backward passes from there at the shared parameters), else one backward
        pass per task through the whole graph (``task_gradients``).
        """
        if context is not None:
            factored = readout_jacobian(losses, present, context)
            if factored is not None:
                if self.gradient_on == "representation":
                    return factored
                readout = getattr(context.outputs, "readout", None)
                heads = {id(t) for t in readout[1:]} if readout is not None else set()
                if not any(id(x) in heads for x in inputs):
                    return readout_parameter_jacobian(
                        factored, context.representation, inputs, present
                    )
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
            jacobian = self.task_jacobian(objectives, active_host, inputs, context)
        else:  # fp16: gradients of the scaled losses, unscaled before they are combined
            scale = scaler.get_scale()
            jacobian = _unscaled(
                self.task_jacobian(objectives * scale, active_host, inputs, context), scale
            )
            finite = (
                jacobian.is_finite()
                if isinstance(jacobian, FactoredJacobian)
                else bool(torch.isfinite(jacobian).all())
            )
            if not finite:
                # overflow: a NaN objective makes the scaler skip the step and back off
                nan = torch.full((), float("nan"), device=losses.device)
                return StepResult((fixed * objectives).sum() * nan, fixed, report, True)
        update, weights = self.direction(jacobian, losses.detach(), active)
        weights = weights * mask
        head_weights = weights if self.heads_use_method_weights else fixed
        head_objective = (head_weights.detach() * objectives).sum()
        if self.gradient_on == "parameters" and context.task_parameters is not None:
            result = StepResult(head_objective, weights, report)
            return linear_surrogate(update, head_objective, inputs, context, result)
        # surrogate whose gradient is: head_weights-weighted task gradients on every
        # parameter, plus the correction turning the shared gradient into ``update``
        correction = (update - combine(head_weights, jacobian)).detach()
        return StepResult(head_objective + dot(inputs, correction), weights, report)


def _unscaled(jacobian: Jacobian, scale: float) -> Jacobian:
    """The task gradients of losses multiplied by ``scale``, divided by it."""
    if isinstance(jacobian, FactoredJacobian):
        jacobian.grad_outputs = jacobian.grad_outputs / scale
        return jacobian
    return jacobian / scale
