"""Gradient-level and stateful weightings against independent references (issue #12).

Both sides get the same Jacobians: 2, 3 and 5 tasks, 10 and 1,000 parameters, random,
conflicting, nearly parallel, with one zero gradient, with gradient norms from 1e-2 to
1e2, and nearly parallel with different norms. The reference is torchjd (a library of
this field) where it has the method, otherwise the paper's equations solved here
independently (brute force over supports, a conic solver on the primal problem, a root
finder); the stateful methods (DB-MTL, FAMO) follow the authors' update equations over
several steps. Every case must agree to a cosine of 0.999 and a relative norm error of
1e-3.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import optimize

from sklearn_mtl.weighting import (
    DBMTL,
    FAMO,
    IMTL,
    MGDA,
    AlignedMTL,
    BackwardContext,
    CAGrad,
    NashMTL,
    PCGrad,
    RandomLossWeighting,
    UPGrad,
)

aggregation = pytest.importorskip("torchjd.aggregation")

N_TASKS = (2, 3, 5)
N_PARAMS = (10, 1000)
KINDS = ("random", "conflicting", "parallel", "zero", "scales", "ill-conditioned")
CASES = list(itertools.product(N_TASKS, N_PARAMS, KINDS))
IDS = [f"{n}tasks-{p}params-{kind}" for n, p, kind in CASES]


def jacobian(n_tasks: int, n_params: int, kind: str) -> torch.Tensor:
    """A float32 Jacobian (as training computes them) of the given kind."""
    rng = np.random.default_rng(1000 * n_tasks + n_params + KINDS.index(kind))
    g = rng.normal(size=(n_tasks, n_params))
    if kind == "conflicting":
        g[1] = -g[0] + 0.3 * g[1]
    elif kind == "parallel":
        g = g[0] + 1e-3 * g
    elif kind == "zero":
        g[0] = 0.0
    elif kind == "scales":
        g = g * np.logspace(-2, 2, n_tasks)[:, None]
    elif kind == "ill-conditioned":  # nearly parallel and of different norms
        g = (g[0] + 1e-4 * g) * np.logspace(-1, 1, n_tasks)[:, None]
    return torch.tensor(g, dtype=torch.float32)


def our_update(method, jac: torch.Tensor) -> np.ndarray:
    n = jac.shape[0]
    module = method.build(torch.ones(n))
    update, _ = module.direction(jac, torch.ones(n), torch.ones(n, dtype=torch.bool))
    return update.double().numpy()


def assert_agrees(update: np.ndarray, reference: np.ndarray, jac: torch.Tensor) -> None:
    """Cosine >= 0.999 and relative norm error <= 1e-3 (absolute, for a zero reference)."""
    scale = float(jac.double().norm(dim=1).max())
    ref_norm = float(np.linalg.norm(reference))
    error = float(np.linalg.norm(update - reference))
    if ref_norm <= 1e-6 * scale:  # the reference is 0 (Pareto-stationary point)
        assert error <= 1e-3 * scale
        return
    cosine = float(update @ reference) / (np.linalg.norm(update) * ref_norm)
    assert cosine >= 0.999
    assert error / ref_norm <= 1e-3


# -- references written from the papers -----------------------------------------------
def min_norm_point(g: np.ndarray) -> np.ndarray:
    """Min-norm point of the convex hull of the rows of g, by brute force over supports.

    On the face spanned by a support S the affine minimiser solves the KKT system
    ``K_SS a = mu 1, 1^T a = 1``; the global minimum is the smallest feasible one.
    """
    n = g.shape[0]
    best, best_norm = None, np.inf
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            idx = list(support)
            k = g[idx] @ g[idx].T
            kkt = np.block([[k, -np.ones((size, 1))], [np.ones((1, size)), np.zeros((1, 1))]])
            rhs = np.zeros(size + 1)
            rhs[-1] = 1.0
            a = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if np.any(a < -1e-12):
                continue
            point = a @ g[idx]
            norm = float(np.linalg.norm(point))
            if norm < best_norm - 1e-15:
                best, best_norm = point, norm
    return best


def cagrad_primal(g: np.ndarray, c: float) -> np.ndarray:
    """CAGrad's primal problem, max_d min_t g_t . d s.t. |d - g0| <= c |g0| (cvxpy)."""
    cp = pytest.importorskip("cvxpy")
    scale = np.linalg.norm(g, axis=1).max()
    gs = g / scale
    g0 = gs.mean(axis=0)
    d, t = cp.Variable(g.shape[1]), cp.Variable()
    problem = cp.Problem(
        cp.Maximize(t), [gs @ d >= t, cp.norm(d - g0, 2) <= c * np.linalg.norm(g0)]
    )
    problem.solve(cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return d.value * scale


def nash_solution(g: np.ndarray) -> np.ndarray | None:
    """The Nash bargaining update: alpha_t (K alpha)_t = 1, alpha > 0 (None if none)."""
    norms = np.linalg.norm(g, axis=1)
    keep = norms > 0
    k = (g @ g.T)[np.ix_(keep, keep)]
    solution = optimize.root(
        lambda u: np.exp(u) * (k @ np.exp(u)) - 1.0,
        -np.log(norms[keep]),
        method="lm",
        options={"xtol": 1e-15, "ftol": 1e-15},
    )
    alpha = np.exp(solution.x)
    if np.abs(alpha * (k @ alpha) - 1.0).max() > 1e-9:
        return None
    return alpha @ g[keep]


# -- stateless methods ------------------------------------------------------------------
@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_mgda_is_the_min_norm_point(n_tasks, n_params, kind):
    jac = jacobian(n_tasks, n_params, kind)
    g = jac.double().numpy()
    update = our_update(MGDA(gradient_on="parameters"), jac)
    assert_agrees(update, min_norm_point(g), jac)
    # optimality certificate: every gradient has at least |d|^2 along d
    scale = np.linalg.norm(g, axis=1).max() ** 2
    assert (g @ update - update @ update).min() >= -1e-6 * scale


@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_cagrad_solves_its_primal_problem(n_tasks, n_params, kind):
    pytest.importorskip("cvxpy")
    jac = jacobian(n_tasks, n_params, kind)
    g = jac.double().numpy()
    update = our_update(CAGrad(c=0.5), jac)
    if kind == "zero":
        # 0 is in the hull: every d in the ball with G d >= 0 is optimal; the authors'
        # code then steps along the mean gradient (the ball term vanishes)
        reference = g.mean(axis=0)
    else:
        reference = cagrad_primal(g, 0.5)
    assert_agrees(update, reference, jac)
    if kind not in ("zero", "scales"):  # torchjd returns 0 where |g_w| < 1e-4 |G|
        torchjd = aggregation.CAGrad(c=0.5)(jac.double()).numpy()
        assert_agrees(update, torchjd, jac)


@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_imtl_matches_torchjd(n_tasks, n_params, kind):
    jac = jacobian(n_tasks, n_params, kind)
    reference = aggregation.IMTLG()(jac.double()).numpy()
    assert_agrees(our_update(IMTL(), jac), reference, jac)


@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_upgrad_matches_torchjd(n_tasks, n_params, kind):
    pytest.importorskip("quadprog")
    from torchjd.linalg import QuadprogProjector

    jac = jacobian(n_tasks, n_params, kind)
    # torchjd's default ridge (1e-4 of the normalised Gram matrix) would bias the
    # projections of the smallest gradients; ours is exact
    projector = QuadprogProjector(norm_eps=1e-12, reg_eps=1e-12)
    reference = aggregation.UPGrad(projector=projector)(jac.double()).numpy()
    assert_agrees(our_update(UPGrad(), jac), reference, jac)


@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_aligned_mtl_matches_torchjd(n_tasks, n_params, kind):
    jac = jacobian(n_tasks, n_params, kind)
    # torchjd weighs the aligned gradients by their mean, LibMTL (and we) by their sum
    reference = n_tasks * aggregation.AlignedMTL()(jac.double()).numpy()
    assert_agrees(our_update(AlignedMTL(), jac), reference, jac)


@pytest.mark.parametrize(("n_params", "kind"), list(itertools.product(N_PARAMS, KINDS)))
def test_pcgrad_matches_torchjd_with_two_tasks(n_params, kind):
    # with more tasks both sides draw random projection orders
    jac = jacobian(2, n_params, kind)
    reference = aggregation.PCGrad()(jac.double()).numpy()
    assert_agrees(our_update(PCGrad(), jac), reference, jac)


@pytest.mark.parametrize(("n_tasks", "n_params", "kind"), CASES, ids=IDS)
def test_nash_mtl_solves_the_bargaining_equation(n_tasks, n_params, kind):
    jac = jacobian(n_tasks, n_params, kind)
    g = jac.double().numpy()
    update = our_update(NashMTL(), jac)
    reference = nash_solution(g)
    if reference is not None:
        assert_agrees(update, reference, jac)
    else:  # no d improves every task: only the regularised equation has a solution
        assert kind == "conflicting"
        assert np.all(np.isfinite(update))


@pytest.mark.parametrize("kind", KINDS)
def test_nash_mtl_is_invariant_to_each_gradient_scale(kind):
    jac = jacobian(3, 100, kind)
    scaled = jac * torch.tensor([[1e-2], [1.0], [1e2]])
    assert_agrees(our_update(NashMTL(), scaled), our_update(NashMTL(), jac), jac)


# -- stateful methods: trajectories against the authors' update equations -------------
def test_dbmtl_trajectory_matches_the_authors_update():
    """LibMTL's DB_MTL: buffer <- g + beta_k (buffer - g) from 0, alpha = max|.|/|.|."""
    beta, sigma, n_tasks, n_params = 0.9, 0.5, 3, 50
    rng = np.random.default_rng(0)
    theta = torch.nn.Parameter(torch.zeros(n_params))
    module = DBMTL(beta=beta, beta_sigma=sigma).build(torch.ones(n_tasks))
    buffer = np.zeros((n_tasks, n_params))
    for step in range(1, 6):
        a = rng.normal(size=(n_tasks, n_params)) * np.logspace(-1, 1, n_tasks)[:, None]
        offsets = rng.uniform(1, 5, size=n_tasks)
        # loss_t = a_t . theta + c_t, so grad log(loss_t + 1e-8) = a_t / (loss_t + 1e-8)
        losses = torch.tensor(a, dtype=torch.float32) @ theta + torch.tensor(offsets).float()
        theta.grad = None
        module.backward(
            losses, torch.ones(n_tasks, dtype=torch.bool), BackwardContext([theta], theta)
        )
        loss_values = a @ theta.detach().double().numpy() + offsets
        grads = a / (loss_values + 1e-8)[:, None]
        beta_k = beta / step**sigma
        buffer = grads + beta_k * (buffer - grads)
        norms = np.linalg.norm(buffer, axis=1)
        expected = (norms.max() / (norms + 1e-8)) @ buffer
        assert_agrees(theta.grad.double().numpy(), expected, torch.tensor(grads))
        with torch.no_grad():
            theta -= 0.01 * theta.grad


def test_famo_trajectory_matches_the_authors_update():
    """FAMO's authors: weights z / (L + eps) normalised; logits by Adam after each step.

    The authors call ``update(new_losses)`` after the optimizer step; here the "new"
    losses are the next batch's, which is what the estimator's single pass sees.
    """
    n_tasks, lr, gamma = 3, 0.025, 0.01
    rng = np.random.default_rng(0)
    history = rng.uniform(0.1, 3.0, size=(8, n_tasks))
    module = FAMO(lr=lr, weight_decay=gamma).build(torch.ones(n_tasks))
    w = torch.zeros(n_tasks, requires_grad=True, dtype=torch.float64)
    optimizer = torch.optim.Adam([w], lr=lr, weight_decay=gamma)
    both = torch.ones(n_tasks, dtype=torch.bool)
    previous = None
    for losses in history:
        loss_t = torch.tensor(losses, dtype=torch.float64)
        if previous is not None:  # the authors' FAMO.update(curr_loss)
            delta = torch.log(previous + 1e-8) - torch.log(loss_t + 1e-8)
            with torch.enable_grad():
                d = torch.autograd.grad(torch.softmax(w, -1), w, grad_outputs=delta)[0]
            optimizer.zero_grad()
            w.grad = d
            optimizer.step()
        z = torch.softmax(w, -1).detach()
        c = (z / (loss_t + 1e-8)).sum()
        expected = (z / (loss_t + 1e-8) / c).numpy()
        module.combine(torch.tensor(losses, dtype=torch.float32), both)
        ours = module.pop_epoch_weights().double().numpy()
        np.testing.assert_allclose(ours, expected, rtol=1e-5)
        previous = loss_t


@pytest.mark.parametrize("distribution", ["normal", "uniform", "dirichlet"])
def test_rlw_normalises_every_draw_with_a_softmax(distribution):
    """The RLW paper and its authors' code: lambda = softmax(draw) for each distribution."""
    module = RandomLossWeighting(distribution=distribution).build(torch.ones(4))
    present = torch.ones(4, dtype=torch.bool)
    torch.manual_seed(3)
    weights = module.task_weights(torch.ones(4), present)
    torch.manual_seed(3)
    if distribution == "normal":
        draws = torch.randn(4)
    elif distribution == "uniform":
        draws = torch.rand(4)
    else:
        draws = torch.empty(4).exponential_()
        draws = draws / draws.sum()
    torch.testing.assert_close(weights, torch.softmax(draws, 0))
