"""Loss weighting: the protocol, numerical safety, and each method's defining property."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from sklearn_mtl.weighting import (
    DBMTL,
    FAMO,
    GRADIENT_LEVEL,
    IMTL,
    MGDA,
    WEIGHTINGS,
    AlignedMTL,
    BackwardContext,
    CAGrad,
    DynamicWeightAverage,
    FixedWeighting,
    GeometricLossStrategy,
    GradNorm,
    LossWeighting,
    NashMTL,
    PCGrad,
    RandomLossWeighting,
    UncertaintyWeighting,
    UPGrad,
    aligned_coefficients,
    get_weighting,
    gradnorm_gradient,
    imtl_coefficients,
    min_norm_simplex,
    nash_coefficients,
    pcgrad_coefficients,
    upgrad_coefficients,
)
from sklearn_mtl.weighting._aligned import aligned_alignment
from sklearn_mtl.weighting._solvers import nonneg_qp, project_simplex

ALL = sorted(WEIGHTINGS)
BOTH = [True, True]


# -- helpers -------------------------------------------------------------------------
class TinyNet(nn.Module):
    """A shared trunk and one linear head per task."""

    def __init__(self, n_features=4, width=5, n_tasks=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(n_features, width), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(width, 1) for _ in range(n_tasks))

    def shared_parameters(self):
        return list(self.trunk.parameters())

    def head_parameters(self):
        return list(self.heads.parameters())


def tiny_step(net, X, Y, present, module):
    """One step: masked per-task MSE losses (0 for absent tasks), handed to the module."""
    for p in list(net.parameters()) + list(module.parameters()):
        p.grad = None
    z = net.trunk(X)
    losses = []
    for t, head in enumerate(net.heads):
        err = (head(z).squeeze(1) - Y[:, t]) ** 2
        losses.append(err.mean() * float(present[t]))  # absent: 0, still in the graph
    losses = torch.stack(losses)
    context = BackwardContext(net.shared_parameters(), z)
    return module.backward(losses, torch.tensor(present), context), losses, z


def linear_losses(theta, gradients):
    """Losses ``theta @ g_t`` whose gradients are exactly the rows of ``gradients``."""
    return torch.stack([theta @ torch.as_tensor(g, dtype=torch.float32) for g in gradients])


def run_linear(weighting, gradients, base=None, present=None):
    """The shared gradient a method writes for fixed task gradients, and its weights."""
    gradients = np.asarray(gradients, dtype=np.float32)
    n, p = gradients.shape
    theta = nn.Parameter(torch.zeros(p))
    base = torch.ones(n) if base is None else torch.as_tensor(base, dtype=torch.float32)
    module = weighting.build(base)
    present = torch.ones(n, dtype=torch.bool) if present is None else torch.tensor(present)
    module.backward(linear_losses(theta, gradients), present, BackwardContext([theta], theta))
    return theta.grad.double().numpy(), module.pop_epoch_weights().double().numpy()


def weightings_for_safety():
    """Every alias, and each gradient-level one also at the representation."""
    out = [(alias, get_weighting(alias)) for alias in ALL]
    for alias in GRADIENT_LEVEL:
        other = "parameters" if WEIGHTINGS[alias]().gradient_on == "representation" else None
        out.append((f"{alias}-rep", get_weighting(alias).set_params(gradient_on="representation")))
        if other:
            out.append((f"{alias}-par", get_weighting(alias).set_params(gradient_on=other)))
    return out


SAFETY = weightings_for_safety()


# -- the protocol --------------------------------------------------------------------
def test_every_issue_alias_is_registered():
    expected = {
        "fixed", "uncertainty", "dwa", "rlw", "geometric", "famo", "dbmtl", "gradnorm",
        "pcgrad", "mgda", "cagrad", "imtl", "nash", "aligned", "upgrad",
    }  # fmt: skip
    assert set(WEIGHTINGS) == expected
    assert set(GRADIENT_LEVEL) <= expected
    for alias, cls in WEIGHTINGS.items():
        assert isinstance(get_weighting(alias), cls)
        assert "References" in cls.__doc__ or cls is FixedWeighting
        assert "Examples" in cls.__doc__


@pytest.mark.parametrize("alias", ALL)
def test_params_roundtrip_and_clone(alias):
    weighting = get_weighting(alias)
    params = weighting.get_params()
    assert clone(weighting).get_params() == params
    for name, value in params.items():
        weighting.set_params(**{name: value})
    assert weighting.get_params() == params
    assert get_weighting(weighting) is weighting


def test_unknown_alias_and_bad_params():
    with pytest.raises(ValueError, match="not supported"):
        get_weighting("nope")
    bad = [
        GradNorm(alpha=-1), GradNorm(gradient_on="trunk"), DynamicWeightAverage(temperature=0),
        RandomLossWeighting(distribution="cauchy"), FAMO(lr=0), MGDA(normalization="max"),
        CAGrad(c=-0.1), DBMTL(beta=1.0), NashMTL(ridge=-1), UPGrad(max_iter=0),
        IMTL(scale_losses="yes"), UncertaintyWeighting(init_log_var="0"),
    ]  # fmt: skip
    for weighting in bad:
        with pytest.raises(ValueError):
            weighting.build(torch.ones(2))
    with pytest.raises(ValueError, match="task_kinds"):
        UncertaintyWeighting().build(torch.ones(2), task_kinds=["regression"])


@pytest.mark.parametrize("name,weighting", SAFETY, ids=[s[0] for s in SAFETY])
def test_absent_and_zero_gradient_tasks_stay_finite(name, weighting):
    """A batch with a task unlabelled, one with no task, one with a zero gradient."""
    net = TinyNet()
    module = weighting.build(torch.tensor([1.0, 0.5, 2.0]))
    rng = torch.Generator().manual_seed(0)
    X = torch.randn(16, 4, generator=rng)
    Y = torch.randn(16, 3, generator=rng)
    for present in ([True, True, True], [True, False, True], [False, False, False]) * 2:
        total, losses, _ = tiny_step(net, X, Y, present, module)
        assert torch.isfinite(total)
        weights = module.weight_sum.clone()
        module.on_epoch_end(losses.detach())
        for p in list(net.parameters()) + list(module.parameters()):
            assert p.grad is None or torch.isfinite(p.grad).all(), name
        mean = module.pop_epoch_weights()
        assert torch.isfinite(mean).all() and torch.isfinite(weights).all()
    # with one task absent: its weight is 0, the others positive
    total, _, _ = tiny_step(net, X, Y, [True, False, True], module)
    w = module.pop_epoch_weights()
    assert w[1] == 0
    assert (w[[0, 2]] > 0).all(), (name, w)
    # a present task whose loss does not depend on the network at all
    for p in net.parameters():
        p.grad = None
    z = net.trunk(X)
    losses = torch.stack(
        [((net.heads[0](z).squeeze(1) - Y[:, 0]) ** 2).mean(), torch.tensor(0.7),
         0.0 * net.heads[2](z).sum() + 0.3]
    )  # fmt: skip
    module.backward(losses, torch.tensor([True, True, True]), BackwardContext(
        net.shared_parameters(), z))  # fmt: skip
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in net.parameters())
    assert torch.isfinite(module.pop_epoch_weights()).all()


@pytest.mark.parametrize("alias", ALL)
def test_a_zero_fixed_weight_removes_the_task(alias):
    net = TinyNet()
    module = get_weighting(alias).build(torch.tensor([1.0, 0.0, 2.0]))
    X, Y = torch.randn(16, 4), torch.randn(16, 3)
    for _ in range(3):
        tiny_step(net, X, Y, [True, True, True], module)
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    weights = module.pop_epoch_weights()
    assert torch.isfinite(weights).all()
    assert weights[1].abs() < 1e-6
    assert net.heads[1].weight.grad.abs().max() == 0


@pytest.mark.parametrize("alias", GRADIENT_LEVEL)
def test_gradient_level_writes_combination_of_task_gradients(alias):
    """Shared grad = sum_t a_t g_t with the recorded a; heads get sum_t w_t grad L_t."""
    if alias in ("dbmtl",):  # combines running averages of log-loss gradients
        pytest.skip("tested separately")
    net = TinyNet()
    base = torch.tensor([1.0, 0.5, 2.0])
    module = get_weighting(alias).set_params(gradient_on="parameters").build(base)
    X, Y = torch.randn(16, 4), torch.randn(16, 3)
    tiny_step(net, X, Y, [*BOTH, True], module)
    weights = module.pop_epoch_weights()
    shared = net.shared_parameters()
    expected = [torch.zeros_like(p) for p in shared]
    head_expected = [torch.zeros_like(p) for p in net.head_parameters()]
    head_w = weights if alias == "gradnorm" else base
    for t in range(3):
        z = net.trunk(X)
        loss = ((net.heads[t](z).squeeze(1) - Y[:, t]) ** 2).mean()
        grads = torch.autograd.grad(loss, shared + net.head_parameters(), allow_unused=True)
        for e, g in zip(expected, grads[: len(shared)], strict=True):
            e += weights[t] * g
        for e, g in zip(head_expected, grads[len(shared) :], strict=True):
            if g is not None:
                e += head_w[t] * g
    for p, e in zip(shared, expected, strict=True):
        torch.testing.assert_close(p.grad, e, atol=1e-5, rtol=1e-4)
    for p, e in zip(net.head_parameters(), head_expected, strict=True):
        torch.testing.assert_close(p.grad, e, atol=1e-5, rtol=1e-4)


def test_representation_mode_backpropagates_the_combined_representation_gradient():
    net = TinyNet()
    module = PCGrad(gradient_on="representation").build(torch.ones(3))
    X, Y = torch.randn(16, 4), torch.randn(16, 3)
    torch.manual_seed(1)
    tiny_step(net, X, Y, [*BOTH, True], module)
    weights = module.pop_epoch_weights()
    z = net.trunk(X)
    dz = sum(
        weights[t] * torch.autograd.grad(((net.heads[t](z).squeeze(1) - Y[:, t]) ** 2).mean(), z)[0]
        for t in range(3)
    )
    expected = torch.autograd.grad((z * dz).sum(), net.shared_parameters())
    for p, e in zip(net.shared_parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e, atol=1e-5, rtol=1e-4)


def test_no_shared_parameters_falls_back_to_fixed_weights():
    theta = nn.Parameter(torch.ones(2))
    module = MGDA(gradient_on="parameters").build(torch.tensor([1.0, 3.0]))
    module.backward(linear_losses(theta, [[1, 0], [0, 1]]), torch.tensor(BOTH),
                    BackwardContext([], theta.detach()))  # fmt: skip
    torch.testing.assert_close(theta.grad, torch.tensor([1.0, 3.0]))


# -- loss-level methods --------------------------------------------------------------
def test_fixed_weighting_is_the_weighted_sum():
    theta = nn.Parameter(torch.zeros(2))
    module = FixedWeighting().build(torch.tensor([1.0, 0.5]))
    total = module.backward(linear_losses(theta, [[1, 0], [0, 4]]), torch.tensor(BOTH),
                            BackwardContext([theta], theta))  # fmt: skip
    torch.testing.assert_close(theta.grad, torch.tensor([1.0, 2.0]))
    assert total == 0


def test_uncertainty_learns_higher_weight_for_less_noisy_task():
    """Two regressions of the same signal with noise 0.1 and 1.0: sigma^2 -> each MSE/1."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(512, 3, generator=gen)
    signal = X @ torch.tensor([1.0, -2.0, 0.5])
    Y = torch.stack([signal + 0.1 * torch.randn(512, generator=gen),
                     signal + 1.0 * torch.randn(512, generator=gen)], 1)  # fmt: skip
    model = nn.Linear(3, 2)
    module = UncertaintyWeighting().build(torch.ones(2), task_kinds=["regression"] * 2)
    opt = torch.optim.Adam(list(model.parameters()) + list(module.parameters()), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        losses = ((model(X) - Y) ** 2).mean(0)
        module.backward(losses, torch.tensor(BOTH), BackwardContext([], X))
        opt.step()
    weights = module.pop_epoch_weights()
    variances = module.log_vars.detach().exp()
    assert weights[0] > 20 * weights[1]  # noise variances differ by 100
    # the optimum of 1/2 e^-s L + s/2 is e^s = L: sigma^2 estimates each task's MSE
    torch.testing.assert_close(variances, losses.detach(), rtol=0.15, atol=0.0)
    # classification variant: L e^-s + s/2, optimum e^s = 2L
    module = UncertaintyWeighting().build(torch.ones(1), task_kinds=["binary"])
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        module.backward(torch.tensor([0.3]), torch.tensor([True]), BackwardContext([], X))
        opt.step()
    assert module.log_vars.exp().item() == pytest.approx(0.6, rel=0.02)


def test_uncertainty_regulariser_is_off_for_absent_tasks():
    module = UncertaintyWeighting().build(torch.ones(2))
    module.backward(torch.tensor([2.0, 0.0]), torch.tensor([True, False]),
                    BackwardContext([], torch.zeros(1)))  # fmt: skip
    assert module.log_vars.grad[1] == 0 and module.log_vars.grad[0] != 0


def test_dwa_weights_follow_loss_ratios_with_temperature():
    epochs = [torch.tensor([1.0, 1.0, 2.0]), torch.tensor([0.5, 0.9, 2.0])]
    ratios = torch.tensor([0.5, 0.9, 1.0])
    for temperature in (0.1, 2.0, 1000.0):
        module = DynamicWeightAverage(temperature=temperature).build(torch.ones(3))
        assert torch.equal(module.dwa_weights, torch.ones(3))  # epochs 1 and 2
        module.on_epoch_end(epochs[0])
        assert torch.equal(module.dwa_weights, torch.ones(3))
        module.on_epoch_end(epochs[1])
        expected = 3 * torch.softmax(ratios / temperature, 0)
        torch.testing.assert_close(module.dwa_weights, expected)
        assert module.dwa_weights.sum().item() == pytest.approx(3.0)
    # large temperature: uniform; small: on the stalled task
    torch.testing.assert_close(module.dwa_weights, torch.ones(3), atol=1e-3, rtol=0)
    cold = DynamicWeightAverage(temperature=0.01).build(torch.ones(3))
    for e in epochs:
        cold.on_epoch_end(e)
    assert cold.dwa_weights.argmax() == 2 and cold.dwa_weights[2] > 2.9
    # fixed weights multiply; a task with no label in an epoch (loss 0) keeps ratio 1
    module = DynamicWeightAverage().build(torch.tensor([2.0, 1.0]))
    module.on_epoch_end(torch.tensor([0.0, 1.0]))
    module.on_epoch_end(torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(module.dwa_weights, torch.ones(2))
    module.combine(torch.ones(2), torch.tensor(BOTH))
    torch.testing.assert_close(module.pop_epoch_weights(), torch.tensor([2.0, 1.0]))


@pytest.mark.parametrize("distribution", ["normal", "uniform", "dirichlet"])
def test_rlw_weights_are_random_points_of_the_simplex(distribution):
    module = RandomLossWeighting(distribution=distribution).build(torch.ones(3))
    torch.manual_seed(0)
    present = torch.tensor([True, True, True])
    draws = torch.stack([module.task_weights(torch.ones(3), present) for _ in range(3000)])
    assert (draws >= 0).all()
    torch.testing.assert_close(draws.sum(1), torch.ones(3000))
    torch.testing.assert_close(draws.mean(0), torch.full((3,), 1 / 3), atol=0.02, rtol=0)
    assert draws.std(0).min() > 0.05  # they do vary
    torch.manual_seed(0)
    again = torch.stack([module.task_weights(torch.ones(3), present) for _ in range(3000)])
    assert torch.equal(draws, again)  # reproducible from torch's seed
    if distribution == "normal":  # softmax of N(0, 1): log-ratios are N(0, 2)
        log_ratio = (draws[:, 0] / draws[:, 1]).log()
        assert log_ratio.var().item() == pytest.approx(2.0, rel=0.1)


def test_geometric_is_invariant_to_loss_scale():
    theta = nn.Parameter(torch.tensor([0.3, -0.2, 0.5]))
    A = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])

    def grad_for(scale):
        theta.grad = None
        module = GeometricLossStrategy().build(torch.ones(2))
        losses = ((A @ theta - 1) ** 2) * torch.tensor([scale, 1.0])
        module.backward(losses, torch.tensor(BOTH), BackwardContext([theta], theta))
        return theta.grad.clone(), module.pop_epoch_weights(), losses.detach()

    g1, w1, l1 = grad_for(1.0)
    g2, w2, _ = grad_for(1000.0)
    cosine = torch.nn.functional.cosine_similarity(g1, g2, dim=0)
    assert cosine.item() == pytest.approx(1.0, abs=1e-6)
    # weights inversely proportional to the losses: w_t L_t equal across tasks
    torch.testing.assert_close(w1 * l1, (w1 * l1).mean().expand(2))
    assert w2[0].item() == pytest.approx(w1[0].item() / 1000**0.5, rel=1e-4)


def test_famo_direction_is_scale_invariant_and_favours_the_slow_task():
    module = FAMO().build(torch.ones(2))
    weights = []
    for losses in ([1.0, 1.0], [100.0, 1.0]):
        module.combine(torch.tensor(losses), torch.tensor(BOTH))
        weights.append(module.pop_epoch_weights())
    # alpha_t ∝ z_t / L_t: the 100x larger loss gets a 100x smaller weight, times
    # z_0 / z_1 = e^(2 lr) after the first Adam step (one of size lr on each logit)
    ratio = weights[1][0].item() * 100 / weights[1][1].item()
    assert ratio == pytest.approx(np.exp(2 * 0.025), rel=1e-4)
    assert weights[0].sum().item() == pytest.approx(1.0)
    # logits: the task whose log-loss decreased less gains weight, and symmetrically
    module = FAMO(lr=0.1).build(torch.ones(2))
    for step in range(20):
        module.combine(torch.tensor([0.9**step, 0.99**step]), torch.tensor(BOTH))
    z = torch.softmax(module.logits, 0)
    assert z[1] > 0.6  # task 1 improves slower
    # an absent task does not move the logits
    before = module.logits.clone()
    module.combine(torch.tensor([0.1, 0.0]), torch.tensor([True, False]))
    module.combine(torch.tensor([0.05, 0.0]), torch.tensor([True, False]))
    assert module.logits[1] == before[1]


def test_famo_equalises_the_rates_of_log_loss_decrease():
    """Tasks whose log-loss falls at intrinsic rates r_t * z_t: FAMO drives r_t z_t equal."""
    module = FAMO(lr=0.02, weight_decay=0.0).build(torch.ones(2))
    rates = torch.tensor([1.0, 0.1])
    log_losses = torch.zeros(2)
    for _ in range(1500):
        module.combine(log_losses.exp(), torch.tensor(BOTH))
        z = torch.softmax(module.logits, 0)
        log_losses -= 0.01 * rates * z
    decrease = rates * torch.softmax(module.logits, 0)
    torch.testing.assert_close(decrease[0], decrease[1], rtol=0.15, atol=0.0)


def test_dbmtl_rescales_log_loss_gradients_to_the_largest_norm():
    gradients = np.array([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 1.0, 1.0]])
    theta = nn.Parameter(torch.ones(3))

    def step(module, scale=1.0, g=gradients):
        theta.grad = None
        losses = linear_losses(theta, g) * torch.tensor([scale, 1.0, 1.0])
        module.backward(losses, torch.ones(3, dtype=torch.bool), BackwardContext([theta], theta))
        return theta.grad.clone()

    module = DBMTL(beta=0.0).build(torch.ones(3))
    d = step(module)
    # log-loss gradients g_t / L_t, with L_t = g_t . 1
    log_grads = gradients / gradients.sum(1, keepdims=True)
    norms = np.linalg.norm(log_grads, axis=1)
    expected = (norms.max() / norms) @ log_grads
    np.testing.assert_allclose(d.numpy(), expected, rtol=1e-5)
    # each task's part of the update has the same norm
    weights = module.pop_epoch_weights().numpy()
    np.testing.assert_allclose(weights * norms, norms.max(), rtol=1e-5)
    # a loss multiplied by 1000 changes nothing (log)
    torch.testing.assert_close(step(DBMTL(beta=0.0).build(torch.ones(3)), scale=1000.0), d)
    # with beta > 0 the gradients are running averages with beta_k = beta / k^sigma,
    # started at zero (the authors' code)
    module = DBMTL(beta=0.5, beta_sigma=1.0).build(torch.ones(3))
    step(module, g=gradients)
    other = gradients[::-1].copy()
    d2 = step(module, g=other)
    beta2 = 0.5 / 2.0
    first = (1 - 0.5) * log_grads
    avg = beta2 * first + (1 - beta2) * (other / other.sum(1, keepdims=True))
    n = np.linalg.norm(avg, axis=1)
    np.testing.assert_allclose(d2.numpy(), (n.max() / n) @ avg, rtol=1e-5)


# -- gradient-level methods ----------------------------------------------------------
def test_gradnorm_gradient_pushes_towards_targets():
    w, valid = torch.ones(3), torch.ones(3, dtype=torch.bool)
    # equal norms, task 2 trains slowest: its weight must go up (negative gradient)
    grad = gradnorm_gradient(w, torch.ones(3), torch.tensor([0.2, 0.5, 1.0]), 1.0, valid)
    assert grad[2] < 0 and grad[0] > 0
    # alpha = 0: only the gradient norms matter
    grad = gradnorm_gradient(w, torch.tensor([1.0, 2.0, 3.0]), torch.ones(3), 0.0, valid)
    assert grad[0] < 0 and grad[2] > 0


def test_gradnorm_equalises_training_rates():
    """With equal gradient norms the weighted norms settle at mean * r_t^alpha."""
    module = GradNorm(alpha=1.0, lr=0.01).build(torch.ones(2))
    gram = torch.eye(2)
    present = torch.tensor(BOTH)
    module.compute_weights(gram, torch.tensor([1.0, 1.0]), present)  # L(0)
    for _ in range(600):
        module.compute_weights(gram, torch.tensor([0.25, 1.0]), present)
    # relative inverse rates r = (0.25, 1) / 0.625 = (0.4, 1.6); weights -> r (sum 2)
    torch.testing.assert_close(module.gradnorm_weights, torch.tensor([0.4, 1.6]), atol=0.03, rtol=0)
    # alpha = 0 and unequal norms: weights equalise the weighted gradient norms
    module = GradNorm(alpha=0.0, lr=0.01).build(torch.ones(3))
    gram = torch.diag(torch.tensor([1.0, 4.0, 16.0]))  # norms 1, 2, 4
    for _ in range(800):
        module.compute_weights(gram, torch.ones(3), torch.ones(3, dtype=torch.bool))
    weighted = module.gradnorm_weights * torch.tensor([1.0, 2.0, 4.0])
    torch.testing.assert_close(weighted, weighted.mean().expand(3), atol=0.05, rtol=0)
    assert module.gradnorm_weights.sum().item() == pytest.approx(3.0)


def test_gradnorm_on_a_network_moves_weight_to_the_slower_task():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(256, 4, generator=gen)
    Y = torch.stack([X[:, 0], torch.sin(3 * X[:, 1]) * X[:, 2], X[:, 3]], 1)  # task 1 is hard
    net = TinyNet(width=16)
    module = GradNorm(alpha=1.5, lr=0.05).build(torch.ones(3))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        tiny_step(net, X, Y, [True] * 3, module)
        opt.step()
    w = module.gradnorm_weights
    assert w[1] > w[0] and w[1] > w[2]


def test_pcgrad_removes_exactly_the_conflicting_component():
    g = np.array([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.5]])
    d, weights = run_linear(PCGrad(), g)
    coef = pcgrad_coefficients(g @ g.T, [[1], [0]])
    projected = coef @ g
    # each projected gradient is orthogonal to the other task's gradient
    assert projected[0] @ g[1] == pytest.approx(0.0, abs=1e-12)
    assert projected[1] @ g[0] == pytest.approx(0.0, abs=1e-12)
    # what was removed is along the other gradient only
    removed = g - projected
    assert np.linalg.matrix_rank(np.vstack([removed[0], g[1]])) == 1
    np.testing.assert_allclose(d, projected.sum(0), rtol=1e-6)
    np.testing.assert_allclose(weights, coef.sum(0), rtol=1e-6)
    # agreeing gradients are untouched
    agree = np.array([[1.0, 0.2, 0.0], [0.5, 1.0, 0.0]])
    d, weights = run_linear(PCGrad(), agree, base=[1.0, 2.0])
    np.testing.assert_allclose(d, agree[0] + 2 * agree[1], rtol=1e-6)
    np.testing.assert_allclose(weights, [1.0, 2.0], rtol=1e-6)


def test_pcgrad_coefficients_match_explicit_projections():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 6))
    orders = [list(rng.permutation(4)) for _ in range(4)]
    expected = []
    for i in range(4):
        v = g[i].copy()
        for j in orders[i]:
            if j != i and v @ g[j] < 0:
                v -= (v @ g[j]) / (g[j] @ g[j]) * g[j]
        expected.append(v)
    np.testing.assert_allclose(pcgrad_coefficients(g @ g.T, orders) @ g, expected, atol=1e-12)


def _simplex_grid(n, steps):
    for point in itertools.product(range(steps + 1), repeat=n - 1):
        if sum(point) <= steps:
            yield np.array([*point, steps - sum(point)]) / steps


@pytest.mark.parametrize("n_tasks", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mgda_is_the_min_norm_point_of_the_convex_hull(n_tasks, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n_tasks, 4)) + np.array([0.5, 0, 0, 0])
    d, weights = run_linear(MGDA(gradient_on="parameters"), g)
    brute = min(np.linalg.norm(a @ g) for a in _simplex_grid(n_tasks, 300))
    assert np.linalg.norm(d) <= brute + 1e-4
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    np.testing.assert_allclose(d, weights @ g, rtol=1e-5, atol=1e-6)
    # optimality: every gradient makes at least |d|^2 of progress along d
    assert (g @ d >= d @ d - 1e-4).all()


def test_mgda_normalization_and_base_weights():
    g = np.array([[10.0, 0.0], [0.0, 1.0]])
    d, _ = run_linear(MGDA(gradient_on="parameters", normalization="l2"), g)
    np.testing.assert_allclose(d, [0.5, 0.5], rtol=1e-5)  # min-norm of the unit vectors
    d, _ = run_linear(MGDA(gradient_on="parameters"), g, base=[0.1, 1.0])  # (1, 0), (0, 1)
    np.testing.assert_allclose(d, [0.5, 0.5], rtol=1e-5)
    weights = min_norm_simplex(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    np.testing.assert_allclose(weights, [0.5, 0.5])  # opposed gradients: d = 0


def test_cagrad_with_c_zero_is_the_mean_gradient():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 5))
    d, weights = run_linear(CAGrad(c=0.0), g)
    np.testing.assert_allclose(d, g.mean(0), rtol=1e-5)
    np.testing.assert_allclose(weights, np.full(3, 1 / 3), rtol=1e-6)
    d, _ = run_linear(CAGrad(c=0.0), g, base=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(d, (np.array([1.0, 2.0, 3.0]) @ g) / 3, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_cagrad_maximises_the_worst_improvement_in_the_ball(seed):
    rng = np.random.default_rng(seed)
    g = np.array([[1.0, 0.1], [-0.6, 1.0], [0.2, -0.3]]) + 0.1 * rng.normal(size=(3, 2))
    c = 0.6
    d, _ = run_linear(CAGrad(c=c), g)
    g0 = g.mean(0)
    radius = c * np.linalg.norm(g0)
    assert np.linalg.norm(d - g0) <= radius * (1 + 1e-4)
    # brute force over the ball (the optimum is on its boundary)
    angles = np.linspace(0, 2 * np.pi, 20000)
    ring = g0 + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    best = (ring @ g.T).min(1).max()
    assert (g @ d).min() >= best - 1e-3
    assert (g @ d).min() > (g @ g0).min()  # better for the worst task than the mean


def test_imtl_gives_equal_projections_on_unit_gradients():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 6)) * np.array([[1.0], [10.0], [0.1]])
    d, weights = run_linear(IMTL(), g)
    units = g / np.linalg.norm(g, axis=1, keepdims=True)
    projections = units @ d
    np.testing.assert_allclose(projections, projections.mean(), rtol=1e-4)
    assert weights.sum() == pytest.approx(1.0, rel=1e-5)
    # fixed weights: projections proportional to them
    d, _ = run_linear(IMTL(), g, base=[1.0, 2.0, 4.0])
    p = units @ d
    np.testing.assert_allclose(p / p[0], [1.0, 2.0, 4.0], rtol=1e-4)
    # linearly dependent gradients stay finite
    assert np.isfinite(imtl_coefficients(np.ones((3, 3)))).all()


def test_imtl_loss_scales_drive_scaled_losses_to_one():
    module = IMTL(scale_losses=True).build(torch.ones(2))
    theta = nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        theta.grad = None
        losses = linear_losses(theta, [[2.0, 0.0], [0.0, 0.25]])  # values 2 and 0.25
        module.backward(losses, torch.tensor(BOTH), BackwardContext([theta], theta))
        opt.step()
    scaled = module.loss_scales.exp().detach() * torch.tensor([2.0, 0.25])
    torch.testing.assert_close(scaled, torch.ones(2), atol=0.02, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nash_weights_solve_the_fixed_point_equation(seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(3, 8)) * np.array([[1.0], [5.0], [0.2]])
    d, alpha = run_linear(NashMTL(ridge=0.0), g)
    gram = g @ g.T
    assert (alpha > 0).all()
    np.testing.assert_allclose(gram @ alpha, 1 / alpha, rtol=1e-4)
    np.testing.assert_allclose(g @ d, 1 / alpha, rtol=1e-4)  # g_t . d = 1 / alpha_t
    # bargaining powers: alpha_t (K alpha)_t = b_t
    b = np.array([1.0, 2.0, 0.5])
    alpha = nash_coefficients(gram, b, ridge=0.0)
    np.testing.assert_allclose(alpha * (gram @ alpha), b, rtol=1e-6)
    # scale invariance: scaling one task's gradient leaves d unchanged
    g2 = g * np.array([[100.0], [1.0], [1.0]])
    d2, _ = run_linear(NashMTL(ridge=0.0), g2)
    np.testing.assert_allclose(d2, d, rtol=1e-3, atol=1e-5)
    # dependent gradients (more tasks than dimensions) stay finite and positive
    alpha = nash_coefficients(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    assert np.isfinite(alpha).all() and (alpha > 0).all()


def test_aligned_mtl_has_orthogonal_rows_of_equal_norm():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 6)) * np.array([[1.0], [10.0], [0.1]])
    gram = g @ g.T
    b = aligned_alignment(gram)
    aligned = b @ g
    sigma_min = np.sqrt(np.linalg.eigvalsh(gram).min())
    np.testing.assert_allclose(aligned @ aligned.T, sigma_min**2 * np.eye(3), atol=1e-8)
    d, weights = run_linear(AlignedMTL(), g, base=[1.0, 2.0, 1.0])
    np.testing.assert_allclose(d, aligned.T @ [1.0, 2.0, 1.0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(weights, aligned_coefficients(gram, [1.0, 2.0, 1.0]), rtol=1e-5)
    # rank-deficient: the zero singular value is left out, rows stay finite
    dep = np.vstack([g[:2], g[0] + g[1]])
    assert np.isfinite(aligned_coefficients(dep @ dep.T)).all()


def test_upgrad_never_conflicts_and_projects_onto_the_dual_cone():
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = rng.normal(size=(3, 5))
        d, weights = run_linear(UPGrad(), g)
        assert (g @ d >= -1e-5).all()
        lam = nonneg_qp(g @ g.T, np.eye(3))  # projections of g_0, g_1, g_2
        for i in range(3):
            proj = g[i] + lam[:, i] @ g
            # KKT: feasible, multipliers >= 0, complementary slackness
            assert (g @ proj >= -1e-7).all()
            assert (lam[:, i] >= 0).all()
            np.testing.assert_allclose(lam[:, i] * (g @ proj), 0, atol=1e-7)
        np.testing.assert_allclose(weights, upgrad_coefficients(g @ g.T), rtol=1e-5)
    agree = np.array([[1.0, 0.2, 0.0], [0.5, 1.0, 0.0]])
    d, _ = run_linear(UPGrad(), agree)
    np.testing.assert_allclose(d, agree.mean(0), rtol=1e-6)


def test_simplex_projection():
    for v in np.random.default_rng(0).normal(size=(20, 4)):
        p = project_simplex(v)
        assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
        # optimality against a grid of simplex points
        dist = min(np.linalg.norm(v - a) for a in _simplex_grid(4, 20))
        assert np.linalg.norm(v - p) <= dist + 1e-12


def test_weighting_modules_pickle_and_save_state():
    import pickle

    for alias in ALL:
        module = get_weighting(alias).build(torch.ones(2))
        clone_ = pickle.loads(pickle.dumps(module))
        assert set(clone_.state_dict()) == set(module.state_dict())


def test_loss_weighting_base_is_abstract():
    with pytest.raises(NotImplementedError):
        LossWeighting().build(torch.ones(2))
