"""The objective a gradient-level method returns: one whose gradient is the chosen update.

The net back-propagates the objective of a step once (through the gradient scaler
under fp16). A gradient-level method has chosen the update ``d`` of the shared inputs
(parameters, or the representation) and gives the other parameters the gradients of
the head-weighted losses; these helpers build objectives with exactly those gradients.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ._base import BackwardContext, StepResult


def dot(inputs: list[torch.Tensor], flat: torch.Tensor) -> torch.Tensor:
    """``sum_i <inputs[i], flat's slice of it>``: its gradient at ``inputs`` is ``flat``.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(2, requires_grad=True)
    >>> dot([x], torch.tensor([1.0, -2.0])).backward()
    >>> x.grad
    tensor([ 1., -2.])
    """
    total = torch.zeros((), device=flat.device)
    start = 0
    for x in inputs:
        n = x.numel()
        total = total + (x * flat[start : start + n].view_as(x).to(x.dtype)).sum()
        start += n
    return total


def linear_surrogate(
    update: torch.Tensor,
    head_objective: torch.Tensor,
    inputs: list[torch.Tensor],
    context: BackwardContext,
    result: StepResult,
) -> StepResult:
    """``result`` with the objective ``<shared, update> + <others, their gradients>``.

    The other parameters (``context.task_parameters``) take the gradients of
    ``head_objective`` from one backward pass through the heads alone (of the scaled
    objective under fp16, divided by the scale); the objective is linear in the
    parameters, so the step's backward pass does not run through the trunk a second
    time. An fp16 overflow in those gradients skips the step (a NaN objective,
    ``skipped``), as one in the task gradients does.
    """
    others = [p for p in context.task_parameters or [] if p.requires_grad]
    surrogate = dot(inputs, update.detach())
    if not others or not head_objective.requires_grad:
        return replace(result, objective=surrogate)
    scaler = context.grad_scaler
    scale = 1.0 if scaler is None else scaler.get_scale()
    grads = torch.autograd.grad(
        head_objective * scale if scale != 1.0 else head_objective,
        others,
        retain_graph=True,
        allow_unused=True,
    )
    reached = [(p, g) for p, g in zip(others, grads, strict=True) if g is not None]
    if scaler is not None and not all(bool(torch.isfinite(g).all()) for _, g in reached):
        nan = torch.full((), float("nan"), device=update.device)
        return replace(result, objective=result.objective * nan, skipped=True)
    for p, g in reached:
        surrogate = surrogate + (p * (g / scale if scale != 1.0 else g)).sum()
    return replace(result, objective=surrogate)
