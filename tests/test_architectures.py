"""Module-level tests of the architectures (no estimator involved)."""

from __future__ import annotations

import itertools
import pickle

import pytest
import torch
from sklearn.base import clone
from torch import nn

from sklearn_mtl.architectures import (
    ARCHITECTURES,
    PLE,
    Architecture,
    CrossStitch,
    CustomTrunk,
    HardSharing,
    MMoE,
    NetworkConfig,
    SoftSharing,
    TaskAttention,
    TaskHeadSpec,
    get_architecture,
)
from sklearn_mtl.architectures._heads import FusedRows

N_FEATURES = 5
TASKS = [TaskHeadSpec("reg", 1), TaskHeadSpec("bin", 1), TaskHeadSpec("multi", 4)]
CONFIG = NetworkConfig(hidden_layer_sizes=(8, 6))


class EmbeddingTrunk(nn.Module):
    """Embeds column 0 (a category code in 0..9) and passes the other columns through."""

    def __init__(self, n_features: int, n_categories: int = 10, dim: int = 3):
        super().__init__()
        self.embedding = nn.Embedding(n_categories, dim)
        self.linear = nn.Linear(n_features - 1 + dim, 7)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        codes = X[:, 0].long().clamp(0, self.embedding.num_embeddings - 1)
        return torch.relu(self.linear(torch.cat([self.embedding(codes), X[:, 1:]], dim=1)))


class ImageTrunk(nn.Module):
    """A tiny CNN over 4x4 single-channel images given as 16 flat features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(X.view(-1, 1, 4, 4)))


def make_lazy_trunk() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(9), nn.Tanh())


ARCHS = {
    "hard": HardSharing(),
    "soft": SoftSharing(strength=0.1),
    "cross_stitch": CrossStitch(),
    "mmoe": MMoE(n_experts=3),
    "mmoe_towers": MMoE(n_experts=2, expert_layer_sizes=(4,), tower_layer_sizes=(3,)),
    "ple1": PLE(n_levels=1),
    "ple2": PLE(n_levels=2, n_shared_experts=2, n_task_experts=2),
    "ple3": PLE(n_levels=3),
    "task_attention": TaskAttention(),
    "task_attention_last": TaskAttention(layers="last"),
    "custom": CustomTrunk(EmbeddingTrunk),
}


def build(arch: Architecture, tasks=TASKS, config=CONFIG, n_features=N_FEATURES):
    torch.manual_seed(0)
    return arch.build(n_features, tasks, config)


def make_X(n=7, n_features=N_FEATURES, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_features, generator=generator)
    X[:, 0] = torch.randint(0, 10, (n,), generator=generator).float()
    return X


def reached(module, output):
    """Ids of the parameters that get a nonzero gradient from ``output``."""
    params = list(module.parameters())
    grads = torch.autograd.grad(output.sum(), params, allow_unused=True, retain_graph=True)
    return {id(p) for p, g in zip(params, grads, strict=True) if g is not None and g.any()}


def ids(params):
    return {id(p) for p in params}


@pytest.mark.parametrize("name", ARCHS)
def test_output_shapes_and_split(name):
    module = build(ARCHS[name])
    X = make_X()
    out = module(X)
    assert list(out) == ["reg", "bin", "multi"]
    assert [tuple(v.shape) for v in out.values()] == [(7, 1), (7, 1), (7, 4)]
    representation = module.shared(X)
    assert representation.ndim == 2 and representation.shape[0] == 7
    split = module.heads(representation, X)
    for task in out:
        torch.testing.assert_close(split[task], out[task])


@pytest.mark.parametrize("name", ARCHS)
def test_shared_and_task_parameters_match_gradient_reach(name):
    """A task's loss reaches exactly shared_parameters() + task_parameters(task, X)."""
    module = build(ARCHS[name])
    out = module(make_X())
    shared = ids(module.shared_parameters())
    assert len(shared) == len(module.shared_parameters()), "duplicate shared parameters"
    per_task = {}
    for task, value in out.items():
        own = ids(module.task_parameters(task, make_X()))
        assert not own & shared
        per_task[task] = reached(module, value)
        assert per_task[task] == shared | own, task
    # shared = what every task depends on (but the fused heads' matrices, of which
    # each task reaches its own rows only); nothing is dead weight.
    fused = ids(module.task_heads.fused.parameters())
    assert set.intersection(*per_task.values()) - fused == shared
    assert set.union(*per_task.values()) == ids(module.parameters())
    rows = {task: fused_rows_reached(module, value) for task, value in out.items()}
    for first, second in itertools.combinations(rows, 2):
        assert not rows[first] & rows[second], (first, second)


def fused_rows_reached(module, output):
    """(parameter id, row) of the fused head rows that get a nonzero gradient."""
    params = list(module.task_heads.fused.parameters())
    if not params:
        return set()
    grads = torch.autograd.grad(output.sum(), params, retain_graph=True, allow_unused=True)
    return {
        (id(p), int(row))
        for p, g in zip(params, grads, strict=True)
        if g is not None
        for row in torch.nonzero(g.reshape(len(g), -1).any(dim=1)).flatten()
    }


@pytest.mark.parametrize("name", ARCHS)
def test_every_task_depends_on_the_representation(name):
    module = build(ARCHS[name])
    X = make_X()
    representation = module.shared(X)
    out = module.heads(representation, X)
    for value in out.values():
        (grad,) = torch.autograd.grad(value.sum(), representation, retain_graph=True)
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("name", ARCHS)
def test_module_pickles(name):
    module = build(ARCHS[name]).eval()
    X = make_X()
    clone_ = pickle.loads(pickle.dumps(module))
    for task, value in module(X).items():
        torch.testing.assert_close(clone_(X)[task], value)


@pytest.mark.parametrize("name", ARCHS)
def test_forward_is_device_agnostic(name):
    """No tensor is created on a fixed device in forward/penalty (so cuda works)."""
    module = build(ARCHS[name]).to("meta")
    out = module(make_X().to("meta"))
    assert all(value.device.type == "meta" for value in out.values())
    penalty = module.penalty()
    assert penalty is None or penalty.device.type == "meta"


@pytest.mark.parametrize("name", ARCHS)
def test_trains_on_small_data(name):
    """A few Adam steps reduce the summed loss of three kinds of tasks."""
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(128, N_FEATURES, generator=generator)
    X[:, 0] = torch.randint(0, 10, (128,), generator=generator).float()
    signal = X[:, 1] - X[:, 2]
    targets = {
        "reg": signal.unsqueeze(1),
        "bin": (signal > 0).float().unsqueeze(1),
        "multi": torch.bucketize(X[:, 3].contiguous(), torch.tensor([-0.6, 0.0, 0.6])),
    }

    def loss_of(module):
        out = module(X)
        loss = (
            nn.functional.mse_loss(out["reg"], targets["reg"])
            + nn.functional.binary_cross_entropy_with_logits(out["bin"], targets["bin"])
            + nn.functional.cross_entropy(out["multi"], targets["multi"])
        )
        penalty = module.penalty()
        return loss if penalty is None else loss + penalty

    module = build(ARCHS[name])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    start = loss_of(module).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss_of(module).backward()
        optimizer.step()
    assert loss_of(module).item() < 0.7 * start


@pytest.mark.parametrize("alias", sorted(ARCHITECTURES))
def test_aliases_and_clone(alias):
    arch = get_architecture(alias)
    assert isinstance(arch, ARCHITECTURES[alias])
    assert get_architecture(arch) is arch
    cloned = clone(arch)
    assert cloned.get_params() == arch.get_params()
    # Building twice from the same seed gives the same weights (no hidden state).
    first, second = build(arch), build(cloned)
    for p, q in zip(first.parameters(), second.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_get_architecture_rejects_unknown():
    with pytest.raises(ValueError, match="not supported"):
        get_architecture("moe")
    with pytest.raises(ValueError, match="not supported"):
        get_architecture(3)


def test_searchable_parameters():
    assert MMoE().get_params() == {
        "n_experts": 4,
        "expert_layer_sizes": None,
        "tower_layer_sizes": None,
    }
    assert set(PLE().get_params()) == {
        "n_levels",
        "n_shared_experts",
        "n_task_experts",
        "expert_layer_sizes",
        "tower_layer_sizes",
    }
    assert SoftSharing().set_params(strength=2.0).strength == 2.0
    assert CrossStitch().get_params() == {"self_weight": 0.9}
    assert TaskAttention().get_params() == {"layers": "all"}


# -- parameter counts ----------------------------------------------------------------


def n_params(params):
    return sum(p.numel() for p in params)


def upstream(heads, name):
    """All tasks whose heads feed task ``name``, directly or through a chain."""
    found = []
    for source in heads.inputs_from[heads.task_names.index(name)]:
        for task in [*upstream(heads, source), source]:
            if task not in found:
                found.append(task)
    return found


def task_size(module, task, n_features=4):
    """Number of values of a task's own parameters: of a fused head, its rows only."""
    heads = module.task_heads
    fused = ids(heads.fused.parameters())
    own = [
        p for p in module.task_parameters(task, make_X(n_features=n_features)) if id(p) not in fused
    ]
    rows = [
        layer.weight.numel() + layer.bias.numel()
        for name in [*upstream(heads, task), task]
        for layer in heads[heads.task_names.index(name)].modules()
        if isinstance(layer, FusedRows)
    ]
    return n_params(own) + sum(rows)


def linear(n_in, n_out):
    return n_in * n_out + n_out


TWO_TASKS = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 3)]
SMALL = NetworkConfig(hidden_layer_sizes=(8,))


def test_parameter_counts_hard():
    module = build(HardSharing(), TWO_TASKS, SMALL, n_features=4)
    assert n_params(module.shared_parameters()) == linear(4, 8)
    assert task_size(module, "a") == linear(8, 1)
    assert task_size(module, "b") == linear(8, 3)


def test_parameter_counts_soft():
    module = build(SoftSharing(), TWO_TASKS, SMALL, n_features=4)
    assert module.shared_parameters() == []
    assert task_size(module, "a") == linear(4, 8) + linear(8, 1)
    assert task_size(module, "b") == linear(4, 8) + linear(8, 3)


def test_parameter_counts_cross_stitch():
    config = NetworkConfig(hidden_layer_sizes=(8, 6))
    module = build(CrossStitch(), TWO_TASKS, config, n_features=4)
    towers = 2 * (linear(4, 8) + linear(8, 6))
    assert n_params(module.shared_parameters()) == towers + 2 * (2 * 2)  # + 2 units
    assert task_size(module, "b") == linear(6, 3)


def test_parameter_counts_mmoe():
    module = build(MMoE(n_experts=3, tower_layer_sizes=(5,)), TWO_TASKS, SMALL, n_features=4)
    assert n_params(module.shared_parameters()) == 3 * linear(4, 8)
    gate = linear(4, 3)
    assert task_size(module, "a") == gate + linear(8, 5) + linear(5, 1)
    assert task_size(module, "b") == gate + linear(8, 5) + linear(5, 3)


def test_parameter_counts_ple():
    # One level (CGC): shared experts are shared; task experts and gates are not.
    module = build(PLE(n_levels=1, n_shared_experts=2, n_task_experts=3), TWO_TASKS, SMALL, 4)
    expert = linear(4, 8)
    assert n_params(module.shared_parameters()) == 2 * expert
    assert task_size(module, "a") == 3 * expert + linear(4, 5) + linear(8, 1)
    # Two levels: level 1 experts and shared gate feed every task.
    module = build(PLE(n_levels=2, n_shared_experts=2, n_task_experts=3), TWO_TASKS, SMALL, 4)
    level1 = (2 + 2 * 3) * expert + linear(4, 2 * 3 + 2)
    assert n_params(module.shared_parameters()) == level1 + 2 * linear(8, 8)
    own = linear(4, 5) + 3 * linear(8, 8) + linear(8, 5)
    assert task_size(module, "a") == own + linear(8, 1)


def test_parameter_counts_task_attention():
    config = NetworkConfig(hidden_layer_sizes=(8, 6))
    module = build(TaskAttention(), TWO_TASKS, config, n_features=4)
    assert n_params(module.shared_parameters()) == linear(4, 8) + linear(8, 6)
    masks = linear(8, 8) + linear(8, 8) + linear(6 + 8, 6) + linear(6, 6)
    assert task_size(module, "a") == masks + linear(6, 1)
    module = build(TaskAttention(layers="last"), TWO_TASKS, config, n_features=4)
    assert task_size(module, "a") == linear(6, 6) * 2 + linear(6, 1)


# -- architecture-specific behaviour ---------------------------------------------------


def test_mmoe_gates_are_softmax_over_experts():
    module = build(MMoE(n_experts=5))
    weights = module.gate_weights(make_X(n=11))
    assert list(weights) == ["reg", "bin", "multi"]
    for value in weights.values():
        assert value.shape == (11, 5)
        assert (value > 0).all()
        torch.testing.assert_close(value.sum(dim=1), torch.ones(11))


def test_mmoe_representation_is_the_experts():
    module = build(MMoE(n_experts=3, expert_layer_sizes=(4,)))
    X = make_X()
    representation = module.shared(X).view(7, 3, 4)
    torch.testing.assert_close(representation, module.experts(X))


def test_cross_stitch_units_start_near_identity():
    module = build(CrossStitch(self_weight=0.8))
    assert len(module.stitches) == 2
    for unit in module.stitches:
        assert unit.alpha.shape == (3, 3)
        assert unit.no_weight_decay() == [unit.alpha]  # exempt from the estimator's decay
        alpha = unit.matrix.detach()
        torch.testing.assert_close(torch.diag(alpha), torch.full((3,), 0.8))
        torch.testing.assert_close(alpha.sum(dim=1), torch.ones(3))
        assert torch.allclose(alpha[~torch.eye(3, dtype=torch.bool)], torch.tensor(0.1))


def test_cross_stitch_identity_units_give_independent_towers():
    module = build(CrossStitch(self_weight=1.0), TWO_TASKS, SMALL)
    out = module(make_X())
    (grad,) = torch.autograd.grad(out["a"].sum(), module.layers[0][1][0].weight, retain_graph=True)
    assert grad.abs().sum() == 0
    # but the units still learn to share: their off-diagonal weights get a gradient.
    (grad,) = torch.autograd.grad(out["a"].sum(), module.stitches[0].alpha)
    assert grad[0, 1] != 0


def test_cross_stitch_loads_a_flat_mixing_matrix():
    """Models saved when the unit stored its matrix flat still load."""
    module = build(CrossStitch(self_weight=0.7), TWO_TASKS, SMALL)
    state = {k: (v.flatten() if k.endswith("alpha") else v) for k, v in module.state_dict().items()}
    other = build(CrossStitch(self_weight=0.9), TWO_TASKS, SMALL)
    other.load_state_dict(state)
    torch.testing.assert_close(other.stitches[0].matrix, module.stitches[0].matrix)


def test_soft_sharing_penalty():
    module = build(SoftSharing(strength=0.5), TWO_TASKS, SMALL)
    expected = sum(
        (p - q).pow(2).sum()
        for p, q in zip(module.towers[0].parameters(), module.towers[1].parameters(), strict=True)
    )
    torch.testing.assert_close(module.penalty(), 0.5 * expected)
    # Minimising the penalty alone pulls the towers together.
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    distances = []
    for _ in range(5):
        distances.append(module.tower_distance().item())
        optimizer.zero_grad()
        module.penalty().backward()
        optimizer.step()
    assert all(b < a for a, b in itertools.pairwise(distances))
    assert distances[-1] < 0.5 * distances[0]


def test_soft_sharing_penalty_mean_over_pairs():
    module = build(SoftSharing(strength=1.0))
    towers = [list(tower.parameters()) for tower in module.towers]
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum(
        sum((p - q).pow(2).sum() for p, q in zip(towers[i], towers[j], strict=True))
        for i, j in pairs
    ) / len(pairs)
    torch.testing.assert_close(module.penalty(), expected)


def test_soft_sharing_without_penalty():
    assert build(SoftSharing(strength=0.0)).penalty() is None
    assert build(SoftSharing(), [TaskHeadSpec("a", 1)]).penalty() is None
    assert build(HardSharing()).penalty() is None
    with pytest.raises(ValueError, match="strength"):
        build(SoftSharing(strength=-1.0))


@pytest.mark.parametrize("n_levels", [1, 2, 3])
def test_ple_task_experts_stay_with_their_task(n_levels):
    module = build(PLE(n_levels=n_levels, n_task_experts=2))
    out = module(make_X())
    last = module.levels[-1]
    for k, task in enumerate(module.task_names):
        reach = reached(module, out[task])
        for j in range(len(module.task_names)):
            mine = ids(last.task_experts[j].parameters()) | ids(last.task_gates[j].parameters())
            assert (mine <= reach) if j == k else not (mine & reach)
    for level in module.levels:
        for gate in level.task_gates:  # own experts + shared experts, nobody else's
            assert gate.linear.out_features == 2 + 2
    assert module.levels[-1].shared_gate is None
    for level in module.levels[:-1]:
        assert level.shared_gate.linear.out_features == 3 * 2 + 2


def test_task_attention_masks():
    module = build(TaskAttention())
    masks = module.masks(module.shared(make_X()))
    assert [tuple(m.shape) for m in masks["bin"]] == [(7, 8), (7, 6)]
    for value in masks.values():
        for mask in value:
            assert ((mask > 0) & (mask < 1)).all()


@pytest.mark.parametrize(
    "arch", [SoftSharing(), CrossStitch(), TaskAttention(), MMoE(expert_layer_sizes=())]
)
def test_hidden_layers_required(arch):
    with pytest.raises(ValueError, match="at least one hidden layer"):
        build(arch, config=NetworkConfig(hidden_layer_sizes=()))


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match="n_experts"):
        build(MMoE(n_experts=0))
    with pytest.raises(ValueError, match="n_levels"):
        build(PLE(n_levels=0))
    with pytest.raises(ValueError, match="self_weight"):
        build(CrossStitch(self_weight=1.5))
    with pytest.raises(ValueError, match="layers"):
        build(TaskAttention(layers="first"))


# -- hierarchical supervision and task chains -----------------------------------------

HIER = [
    TaskHeadSpec("pos", 5, depth=1),
    TaskHeadSpec("chunk", 3, depth=2),
    TaskHeadSpec("ner", 4),
]


def test_depth_attaches_heads_to_lower_layers():
    config = NetworkConfig(hidden_layer_sizes=(8, 6, 4))
    module = build(HardSharing(), HIER, config)
    assert [head[0].in_features for head in module.task_heads] == [8, 6, 4]
    out = module(make_X())
    trunk = [ids(block.parameters()) for block in module.trunk]
    assert ids(module.shared_parameters()) == trunk[0]
    assert reached(module, out["pos"]) & (trunk[1] | trunk[2]) == set()
    assert trunk[1] <= reached(module, out["chunk"])
    assert not trunk[2] & reached(module, out["chunk"])
    assert trunk[2] <= reached(module, out["ner"])


def test_depth_of_every_task_at_top_is_plain_hard_sharing():
    config = NetworkConfig(hidden_layer_sizes=(8, 6))
    tasks = [TaskHeadSpec("a", 1, depth=2), TaskHeadSpec("b", 1)]
    module = build(HardSharing(), tasks, config)
    assert ids(module.shared_parameters()) == ids(module.trunk.parameters())


@pytest.mark.parametrize("depth", [0, 3, -1, 1.5, True])
def test_depth_out_of_range_names_the_task(depth):
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("pos", 3, depth=depth)]
    with pytest.raises(ValueError, match="Task 'pos'"):
        build(HardSharing(), tasks, NetworkConfig(hidden_layer_sizes=(8, 6)))


def test_depth_without_hidden_layers():
    with pytest.raises(ValueError, match=r"Task 'a' has depth=1.*0 hidden layers"):
        build(HardSharing(), [TaskHeadSpec("a", 1, depth=1)], NetworkConfig(hidden_layer_sizes=()))


@pytest.mark.parametrize("name", [n for n in ARCHS if n != "hard"])
def test_depth_unsupported_names_the_task(name):
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("pos", 3, depth=1)]
    with pytest.raises(ValueError, match=r"Task 'pos' has depth=1, but .* does not attach"):
        build(ARCHS[name], tasks)


@pytest.mark.parametrize("name", ARCHS)
def test_task_chain(name):
    tasks = [
        TaskHeadSpec("click", 1),
        TaskHeadSpec("buy", 1, inputs_from=("click",)),
        TaskHeadSpec("amount", 2, inputs_from=["buy", "click"]),
    ]
    module = build(ARCHS[name], tasks)
    heads = module.task_heads
    width = heads[0][0].in_features
    assert [head[0].in_features for head in heads] == [width, width + 1, width + 2]
    out = module(make_X())
    click_head = ids(heads[0].parameters())
    assert click_head <= reached(module, out["buy"])
    assert click_head <= reached(module, out["amount"])
    assert not ids(heads[1].parameters()) & reached(module, out["click"])
    assert ids(heads[1].parameters()) <= ids(module.task_parameters("amount", make_X()))


def test_task_chain_with_depth():
    config = NetworkConfig(hidden_layer_sizes=(8, 6))
    tasks = [TaskHeadSpec("top", 1), TaskHeadSpec("low", 1, depth=1, inputs_from=("top",))]
    module = build(HardSharing(), tasks, config)
    out = module(make_X())
    assert ids(module.trunk[1].parameters()) <= reached(module, out["low"])
    assert ids(module.trunk[1].parameters()) <= ids(module.task_parameters("low", make_X()))


@pytest.mark.parametrize(
    ("inputs_from", "message"),
    [
        (("b",), "Task 'a' takes inputs_from 'b', which comes after it"),
        (("zz",), "Task 'a' takes inputs_from 'zz', which is not a task"),
        (("a",), "Task 'a' cannot take its own output"),
    ],
)
def test_task_chain_errors(inputs_from, message):
    tasks = [TaskHeadSpec("a", 1, inputs_from=inputs_from), TaskHeadSpec("b", 1)]
    with pytest.raises(ValueError, match=message):
        build(HardSharing(), tasks)


def test_duplicate_task_names():
    with pytest.raises(ValueError, match="'a' appears twice"):
        build(MMoE(), [TaskHeadSpec("a", 1), TaskHeadSpec("a", 2)])


# -- custom networks -------------------------------------------------------------------


def test_custom_trunk_infers_width_and_passes_n_features():
    module = build(CustomTrunk(EmbeddingTrunk, module_kwargs={"dim": 2}))
    assert module.width == 7
    assert module.trunk.linear.in_features == N_FEATURES - 1 + 2
    assert ids(module.shared_parameters()) == ids(module.trunk.parameters())


def test_custom_trunk_cnn_flattened():
    module = build(CustomTrunk(ImageTrunk), n_features=16)
    assert module.width == 2 * 4 * 4
    assert module(torch.randn(3, 16))["multi"].shape == (3, 4)


def test_custom_trunk_lazy_factory_and_instance():
    module = build(CustomTrunk(make_lazy_trunk))
    assert module.width == 9
    assert module.trunk[0].in_features == N_FEATURES
    instance = nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU())
    module = build(CustomTrunk(instance))
    assert module.trunk is not instance
    torch.testing.assert_close(module.trunk[0].weight, instance[0].weight)
    with pytest.raises(ValueError, match="module_kwargs cannot be used"):
        build(CustomTrunk(instance, module_kwargs={"a": 1}))


def test_get_architecture_wraps_modules():
    arch = get_architecture(EmbeddingTrunk)
    assert isinstance(arch, CustomTrunk) and arch.module is EmbeddingTrunk
    assert isinstance(get_architecture(make_lazy_trunk), CustomTrunk)
    assert isinstance(get_architecture(nn.Linear(N_FEATURES, 3)), CustomTrunk)
    assert get_architecture(PLE).get_params() == PLE().get_params()  # a class, not a module


def test_custom_trunk_params_are_searchable():
    arch = CustomTrunk(EmbeddingTrunk, module_kwargs={"dim": 2})
    assert arch.get_params()["module_kwargs__dim"] == 2
    assert "module_kwargs__dim" not in arch.get_params(deep=False)
    cloned = clone(arch).set_params(module_kwargs__dim=5, module_kwargs__n_categories=12)
    assert cloned.module_kwargs == {"dim": 5, "n_categories": 12}
    assert arch.module_kwargs == {"dim": 2}
    assert build(cloned).trunk.embedding.weight.shape == (12, 5)


def test_custom_trunk_errors():
    with pytest.raises(TypeError, match=r"not a torch\.nn\.Module"):
        build(CustomTrunk(lambda: 3))
    with pytest.raises(TypeError, match=r"must be a torch\.nn\.Module class"):
        build(CustomTrunk("resnet"))
    with pytest.raises(ValueError, match="failed on a dummy batch"):
        build(CustomTrunk(nn.Linear, module_kwargs={"in_features": 3, "out_features": 2}))
    with pytest.raises(ValueError, match="must return a tensor of shape"):
        build(CustomTrunk(nn.Flatten, module_kwargs={"start_dim": 0}))


def test_custom_trunk_pickles_with_importable_class():
    arch = CustomTrunk(EmbeddingTrunk)
    restored = pickle.loads(pickle.dumps(arch))
    assert restored.module is EmbeddingTrunk


# -- expert groups and network options ------------------------------------------------


def test_expert_group_equals_separate_mlps():
    from sklearn_mtl.architectures._base import make_mlp
    from sklearn_mtl.architectures._experts import ExpertGroup

    config = NetworkConfig(activation="tanh")
    torch.manual_seed(0)
    group = ExpertGroup(5, (6, 4), config, n_experts=3)
    X = make_X()
    out = group(X)
    assert out.shape == (7, 3, 4)
    for e in range(3):
        mlp = make_mlp(5, (6, 4), config)
        with torch.no_grad():
            mlp[0].weight.copy_(group.first.weight[e * 6 : (e + 1) * 6])
            mlp[0].bias.copy_(group.first.bias[e * 6 : (e + 1) * 6])
            mlp[2].weight.copy_(group.weights[0][e].T)
            mlp[2].bias.copy_(group.biases[0][e])
        torch.testing.assert_close(out[:, e], mlp(X))
    # expert 1's output does not depend on expert 0's weights
    (grad,) = torch.autograd.grad(out[:, 1].sum(), group.weights[0])
    assert grad[0].abs().sum() == 0 and grad[1].abs().sum() > 0


@pytest.mark.parametrize("name", ARCHS)
def test_batch_norm_and_dropout(name):
    config = NetworkConfig(hidden_layer_sizes=(8, 6), batch_norm=True, dropout=0.2)
    module = build(ARCHS[name], config=config)
    X = make_X()
    module.train()
    assert module(X)["multi"].shape == (7, 4)
    module.eval()
    torch.testing.assert_close(module(X)["multi"], module(X)["multi"])
