"""Small tensor helpers shared by the weighting methods (no host synchronisation)."""

from __future__ import annotations

import torch

__all__ = ["adam_step", "as_mask", "check_choice", "masked_softmax"]

#: Guard added to denominators and logarithms.
EPS = 1e-8


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise a ValueError when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; expected one of {list(choices)}.")


def as_mask(present: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The boolean ``present`` vector as 0./1. in ``like``'s dtype and device."""
    return present.to(device=like.device, dtype=like.dtype)


def masked_softmax(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax over the present entries; absent entries get 0 (all zeros if none present).

    Examples
    --------
    >>> import torch
    >>> masked_softmax(torch.zeros(3), torch.tensor([True, False, True]))
    tensor([0.5000, 0.0000, 0.5000])
    """
    masked = logits.masked_fill(~present, float("-inf"))
    safe = torch.where(present.any(), masked, torch.zeros_like(logits))
    return torch.where(present, torch.softmax(safe, dim=0), torch.zeros_like(logits))


def adam_step(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: torch.Tensor,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """One in-place Adam update of a buffer (used by methods with their own update rule).

    The state lives in buffers of the weighting module, so that it moves with ``device``,
    is saved with the net and pickles, unlike a ``torch.optim`` optimizer attribute.
    """
    beta1, beta2 = betas
    step += 1
    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias1 = 1 - beta1**step
    bias2 = 1 - beta2**step
    param.sub_(lr * (exp_avg / bias1) / ((exp_avg_sq / bias2).sqrt() + eps))
