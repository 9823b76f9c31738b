"""Gradient-level weightings through fused linear heads (issue #15): the per-task
gradients from one backward pass (:class:`FactoredJacobian`, and the trunk's backward
passes from the representation for ``gradient_on="parameters"``) against the generic
path (one backward pass per task through the whole graph), on hard cases: conflicting
tasks, scales 1e-3 to 1e3, a task without labels in the batch, a task of fixed weight
0, and tasks of several output columns (multiclass, multilabel) among single-column
ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._losses import MultiTaskLoss, TaskLossSpec
from sklearn_mtl._registry import WEIGHTINGS
from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec
from sklearn_mtl.architectures._heads import TaskHeads
from sklearn_mtl.weighting import BackwardContext, GradientLevelWeighting, StepResult, _gradient
from sklearn_mtl.weighting._gradient import (
    FactoredJacobian,
    gram_float64,
    readout_jacobian,
    readout_parameter_jacobian,
    task_gradients,
)
from sklearn_mtl.weighting._surrogate import linear_surrogate

# kind, outputs, target columns
KINDS = {
    "regression": ("regression", 1, 1),
    "binary": ("binary", 1, 1),
    "multiclass": ("multiclass", 3, 1),
    "multilabel": ("multilabel", 2, 2),
}
CASES = {
    # tasks' kinds, and how their targets are drawn
    "conflicting": ["regression", "regression", "regression"],
    "scales": ["regression", "regression", "regression", "binary"],
    "no-labels": ["regression", "binary", "regression", "regression"],
    "zero-weight": ["regression", "regression", "binary"],
    "columns": ["regression", "multiclass", "binary", "multilabel", "regression"],
}
GRADIENT_METHODS = sorted(
    alias
    for alias, cls in WEIGHTINGS.items()
    if isinstance(cls().build(torch.ones(2)), GradientLevelWeighting)
)


class Problem:
    """A trunk, fused heads, a criterion and one batch of a case."""

    def __init__(self, case: str, seed: int = 0, batch: int = 24, width: int = 6):
        generator = torch.Generator().manual_seed(seed)
        kinds = CASES[case]
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, width))
        head_specs = [TaskHeadSpec(f"t{k}", KINDS[kind][1]) for k, kind in enumerate(kinds)]
        self.heads = TaskHeads([width] * len(kinds), head_specs, NetworkConfig(), (),
                               feature_slots=[0] * len(kinds))  # fmt: skip
        specs, start = [], 0
        for k, kind in enumerate(kinds):
            specs.append(TaskLossSpec(f"t{k}", KINDS[kind][0], start, start + KINDS[kind][2]))
            start += KINDS[kind][2]
        self.specs = specs
        self.X = torch.randn(batch, 4, generator=generator)
        latent = self.X @ torch.randn(4, 1, generator=generator)
        columns = []
        for k, kind in enumerate(kinds):
            if kind == "regression":
                y = latent + 0.3 * torch.randn(batch, 1, generator=generator)
                if case == "conflicting" and k == 1:
                    y = -latent
                if case == "scales":
                    y = y * 10.0 ** (3 - 3 * k)  # 1e3, 1, 1e-3
                columns.append(y)
            elif kind == "binary":
                columns.append((latent > 0).float())
            elif kind == "multiclass":
                columns.append(torch.randint(0, 3, (batch, 1), generator=generator).float())
            else:
                columns.append(torch.randint(0, 2, (batch, 2), generator=generator).float())
        self.targets = torch.cat(columns, dim=1)
        self.targets[torch.rand(self.targets.shape, generator=generator) < 0.2] = float("nan")
        if case == "no-labels":
            self.targets[:, specs[2].start : specs[2].stop] = float("nan")
        self.base = torch.ones(len(kinds))
        if case == "zero-weight":
            self.base[1] = 0.0

    def parameters(self) -> list[nn.Parameter]:
        return [*self.trunk.parameters(), *self.heads.parameters()]

    def forward(self, weighting):
        criterion = MultiTaskLoss(self.specs, weighting)
        z = self.trunk(self.X)
        outputs = self.heads([z] * len(self.specs))
        losses, present = criterion.task_losses(outputs, self.targets)
        return z, outputs, losses, present


def _objectives(module, losses, present):
    mask = present.to(losses)
    return module.transform_losses(losses, present) * mask


def _assert_rows_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.norm(dim=1, keepdim=True).clamp(min=1e-30)
    torch.testing.assert_close(actual / scale, expected / scale, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_factored_gradients_and_gram_equal_the_generic_jacobian(case):
    problem = Problem(case)
    module = WEIGHTINGS["mgda"]().build(problem.base)
    z, outputs, losses, present = problem.forward(module)
    assert outputs.readout is not None and outputs.readout[0] is z  # the heads read z
    context = BackwardContext(list(problem.trunk.parameters()), z, None, outputs)
    objectives = _objectives(module, losses, present)
    active = [bool(p) for p in (present & (problem.base > 0)).tolist()]
    assert not all(active) or case in ("conflicting", "scales", "columns")
    factored = readout_jacobian(objectives, active, context)
    assert isinstance(factored, FactoredJacobian)
    generic = task_gradients(objectives, [z], active)
    _assert_rows_close(factored.dense(), generic)
    gram, reference = gram_float64(factored), gram_float64(generic)
    torch.testing.assert_close(gram, reference, rtol=1e-4, atol=1e-6 * float(reference.max()))
    weights = torch.rand(len(active), dtype=torch.float64)
    expected = weights @ generic.double()
    torch.testing.assert_close(
        _gradient.combine_float64(weights, factored).double(), expected,
        rtol=1e-4, atol=1e-5 * float(expected.abs().max()),
    )  # fmt: skip
    parameters = list(problem.trunk.parameters())
    for batched in (False, True):
        at_parameters = readout_parameter_jacobian(factored, z, parameters, active, batched)
        _assert_rows_close(at_parameters, task_gradients(objectives, parameters, active))


def _shared_update(
    problem: Problem, alias: str, gradient_on: str, fast: bool, linear: bool = False
):
    """The gradients of every parameter after one step of ``alias``, and its weights
    (``linear``: the heads' parameters given, for the surrogate linear in the parameters)."""
    for p in problem.parameters():
        p.grad = None
    module = WEIGHTINGS[alias](gradient_on=gradient_on).build(problem.base)
    z, outputs, losses, present = problem.forward(module)
    if not fast:
        outputs.readout = None
    heads = list(problem.heads.parameters()) if linear else None
    context = BackwardContext(list(problem.trunk.parameters()), z, None, outputs, heads)
    torch.manual_seed(1)  # PCGrad's orders
    result = module.step(losses, present, context)
    result.objective.backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in problem.parameters()])
    return gradient, result.weights.detach()


@pytest.mark.parametrize("gradient_on", ["representation", "parameters"])
@pytest.mark.parametrize("alias", GRADIENT_METHODS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_weighting_step_through_the_readout_equals_the_generic_step(case, alias, gradient_on):
    problem = Problem(case, seed=3)
    fast, fast_weights = _shared_update(problem, alias, gradient_on, fast=True)
    generic, generic_weights = _shared_update(problem, alias, gradient_on, fast=False)
    assert torch.isfinite(fast).all()
    cosine = float(fast @ generic / (fast.norm() * generic.norm()).clamp(min=1e-30))
    assert cosine >= 0.999 or float(generic.norm()) < 1e-12
    assert float((fast - generic).norm()) <= 1e-3 * float(generic.norm()) + 1e-12
    torch.testing.assert_close(fast_weights, generic_weights, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("alias", GRADIENT_METHODS)
@pytest.mark.parametrize("case", ["conflicting", "scales", "zero-weight", "columns"])
def test_surrogate_linear_in_the_parameters_gives_the_same_gradients(case, alias, fast):
    # the heads' gradients from their own backward pass, and an objective that does not
    # run through the trunk again, against the surrogate through the whole graph
    problem = Problem(case, seed=5)
    linear, linear_weights = _shared_update(problem, alias, "parameters", fast, linear=True)
    whole, whole_weights = _shared_update(problem, alias, "parameters", fast)
    scale = float(whole.norm()) + 1e-12
    torch.testing.assert_close(linear / scale, whole / scale, atol=1e-6, rtol=0)
    torch.testing.assert_close(linear_weights, whole_weights)


def test_readout_is_dropped_when_an_output_changes():
    problem = Problem("conflicting")
    _, outputs, _, _ = problem.forward(WEIGHTINGS["fixed"]().build(problem.base))
    assert outputs.readout is not None and outputs.columns(("t0", "t1", "t2")) is not None
    outputs["t1"] = outputs["t1"] * 2.0
    assert outputs.readout is None and outputs.columns(("t0", "t1", "t2")) is None


def test_heads_on_another_tensor_take_the_generic_path():
    problem = Problem("conflicting")
    module = WEIGHTINGS["mgda"]().build(problem.base)
    z, outputs, losses, present = problem.forward(module)
    other = z * 1.0  # the representation handed over is not the heads' features
    context = BackwardContext(list(problem.trunk.parameters()), other, None, outputs)
    assert readout_jacobian(_objectives(module, losses, present), [True] * 3, context) is None


@pytest.mark.parametrize("gradient_on", ["representation", "parameters"])
def test_a_fit_takes_no_backward_pass_per_task_through_fused_heads(monkeypatch, gradient_on):
    """Hard sharing with plain linear heads: the fit never calls the per-task loop."""
    calls = []
    original = _gradient.task_gradients

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_gradient, "task_gradients", counting)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = X[:, :3] @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(64, 6))
    y[rng.random(y.shape) < 0.3] = np.nan
    params = {
        "architecture": "hard",
        "numeric_embedding": None,
        "hidden_layer_sizes": (8,),
        "max_epochs": 2,
        "batch_size": 16,
        "random_state": 0,
        "early_stopping": False,
    }
    for alias in ("pcgrad", "mgda"):
        weighting = WEIGHTINGS[alias](gradient_on=gradient_on)
        fitted = MultiTaskNetEstimator(loss_weighting=weighting, **params).fit(X, y)
        assert np.isfinite(fitted.history_[-1]["train_loss"])
    assert calls == []


def test_a_fit_gives_the_heads_parameters_and_the_step_skips_the_trunk(monkeypatch):
    """The net passes the parameters besides the shared ones, and with them the step's
    objective at the parameters has no path through the trunk's layers (its backward
    pass runs through products with the parameters alone)."""
    objectives = []
    original = GradientLevelWeighting.step

    def recording(self, losses, present, context):
        result = original(self, losses, present, context)
        objectives.append((result.objective, context.task_parameters))
        return result

    monkeypatch.setattr(GradientLevelWeighting, "step", recording)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(48, 4)).astype(np.float32)
    y = np.column_stack([X[:, 0], X[:, 1] > 0, X[:, 2] - X[:, 0]])
    est = MultiTaskNetEstimator(
        tasks={"a": "regression", "b": "binary", "c": "regression"},
        loss_weighting="upgrad",
        hidden_layer_sizes=(8, 8),
        numeric_embedding=None,
        early_stopping=False,
        max_epochs=2,
        batch_size=16,
        random_state=0,
    ).fit(X, y)
    assert np.isfinite(est.history_[-1]["train_loss"]) and objectives

    def layers(fn, seen) -> set[str]:
        # the names of the autograd nodes reachable from ``fn``
        if fn is None or fn in seen:
            return set()
        seen.add(fn)
        names = {type(fn).__name__}
        for child, _ in fn.next_functions:
            names |= layers(child, seen)
        return names

    for objective, heads in objectives:
        assert heads, "the net passes the heads' parameters"
        names = layers(objective.grad_fn, set())
        assert not any("Relu" in n or "Addmm" in n or "Mm" in n for n in names), names


def test_an_overflow_in_the_heads_gradients_skips_the_step():
    """Under fp16, head gradients of the scaled losses that overflow skip the step (a NaN
    objective, ``skipped``), as task gradients that overflow do."""

    class Scaler:  # the one method of GradScaler the step reads
        def get_scale(self):
            return 1e38

    problem = Problem("scales", seed=2)
    module = WEIGHTINGS["pcgrad"]().build(problem.base)
    z, outputs, losses, _ = problem.forward(module)
    head_objective = (problem.base * losses).sum() * 1e3  # times 1e38: beyond float32
    context = BackwardContext(
        list(problem.trunk.parameters()), z, Scaler(), outputs, list(problem.heads.parameters())
    )
    update = torch.zeros(sum(p.numel() for p in problem.trunk.parameters()))
    result = linear_surrogate(
        update, head_objective, list(problem.trunk.parameters()), context,
        StepResult(head_objective, torch.ones(4), head_objective.detach()),
    )  # fmt: skip
    assert result.skipped and torch.isnan(result.objective)
    context.grad_scaler = None  # the same without the scaler: finite, not skipped
    result = linear_surrogate(
        update, head_objective, list(problem.trunk.parameters()), context,
        StepResult(head_objective, torch.ones(4), head_objective.detach()),
    )  # fmt: skip
    assert not result.skipped and torch.isfinite(result.objective)
