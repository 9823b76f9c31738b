"""The default-recipe options: lr_schedule, numeric_embedding, wide, ensemble_size, and
the task_offsets architecture for tasks on disjoint rows (issue 18)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._schedule import lr_factor
from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec, TaskOffsets
from sklearn_mtl.architectures._recipe import PeriodicEmbedding, RecipeModule

SMALL = {"hidden_layer_sizes": (8,), "max_epochs": 4, "batch_size": 32, "random_state": 0}
OPTIONS = {
    "numeric_embedding": "periodic",
    "wide": True,
    "ensemble_size": 3,
    "lr_schedule": "cosine",
}


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.column_stack([X @ [1.0, -2.0, 0.5, 0.0], X[:, 0] + X[:, 1] > 0])
    return X, y


@pytest.mark.parametrize("option", list(OPTIONS))
def test_each_option_fits_predicts_and_is_reproducible(option):
    X, y = data()
    params = {**SMALL, option: OPTIONS[option]}
    first = MultiTaskNetEstimator(**params).fit(X, y)
    second = MultiTaskNetEstimator(**params).fit(X, y)
    assert first.predict(X).shape == (len(X), 2)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_lr_factor_shapes():
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("cosine", 0.0) == 1.0
    assert lr_factor("cosine", 1.0) == pytest.approx(0.0)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("flat_cosine", 0.49) == 1.0
    assert lr_factor("flat_cosine", 0.75) == pytest.approx(0.5)
    values = [lr_factor("cosine", p / 10) for p in range(11)]
    assert values == sorted(values, reverse=True)


def test_cosine_schedule_ends_near_zero_and_partial_fit_uses_lr():
    X, y = data()
    est = MultiTaskNetEstimator(**{**SMALL, "lr_schedule": "cosine", "lr": 0.01}).fit(X, y)
    last = est.net_.optimizer_.param_groups[0]["lr"]
    # the last batch of the last epoch: 1/16 of the way through the last of 4 epochs
    assert 0 < last < 0.01 * lr_factor("cosine", 0.9)
    est.partial_fit(X, y)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01)


def test_wide_path_starts_at_zero_and_is_a_task_parameter():
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 3)]
    config = NetworkConfig(hidden_layer_sizes=(8,))
    from sklearn_mtl.architectures import HardSharing

    module = RecipeModule(lambda n: HardSharing().build(n, tasks, config), 4, tasks, wide=True)
    inner = HardSharing().build(4, tasks, config)
    inner.load_state_dict(module.inner.state_dict())
    X = torch.randn(6, 4)
    for name, out in module(X).items():
        torch.testing.assert_close(out, inner(X)[name])
    assert any(p is module.wide["a"].weight for p in module.task_parameters("a", X))
    assert not any(p is module.wide["a"].weight for p in module.task_parameters("b", X))


def test_ensemble_averages_members_in_eval_and_routes_rows_in_training():
    tasks = [TaskHeadSpec("a", 2)]
    config = NetworkConfig(hidden_layer_sizes=(8,))
    from sklearn_mtl.architectures import HardSharing

    torch.manual_seed(0)
    module = RecipeModule(
        lambda n: HardSharing().build(n, tasks, config), 4, tasks, ensemble_size=4
    )
    X = torch.randn(5, 4)
    module.eval()
    averaged = module(X)["a"]
    members = []
    for m in range(4):
        scale = module.member_scale.view(4, -1)[m]
        out = module.inner(X * scale)["a"]
        out = out * module.member_out["a"].view(4, 2)[m] + module.member_shift["a"].view(4, 2)[m]
        members.append(out)
    torch.testing.assert_close(averaged, torch.stack(members).mean(dim=0))
    module.train()
    assert module(X)["a"].shape == (5, 2)


def test_periodic_embedding_is_its_formula():
    """[x_j, relu(W_j cos(2 pi f_j x_j + b_j) + c_j)] for each feature j, in order."""
    torch.manual_seed(0)
    embedding = PeriodicEmbedding(3, n_frequencies=5, n_outputs=2)
    X = torch.randn(7, 3)
    out = embedding(X)
    for j in range(3):
        waves = torch.cos(
            2 * torch.pi * embedding.frequencies[j] * X[:, j : j + 1] + embedding.phases[j]
        )
        expected = torch.relu(waves @ embedding.weight[j] + embedding.bias[j])
        torch.testing.assert_close(out[:, 3 + 2 * j : 5 + 2 * j], expected)


def test_periodic_embedding_keeps_the_raw_value():
    embedding = PeriodicEmbedding(3, n_frequencies=5, n_outputs=2)
    X = torch.randn(7, 3)
    out = embedding(X)
    assert out.shape == (7, 9)
    torch.testing.assert_close(out[:, :3], X)


def test_weight_decay_spares_the_embedding_phases_and_biases():
    X, y = data()
    est = MultiTaskNetEstimator(**SMALL, alpha=0.5, numeric_embedding="periodic").fit(X, y)
    embedding = est.net_.module_.inner.embedding
    decayed = {id(p) for p in est.net_.optimizer_.param_groups[0]["params"]}
    assert id(embedding.frequencies) in decayed and id(embedding.weight) in decayed
    assert id(embedding.phases) not in decayed and id(embedding.bias) not in decayed
    assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.5


def test_options_survive_save_load_and_clone(tmp_path):
    X, y = data()
    est = MultiTaskNetEstimator(**SMALL, **OPTIONS).fit(X, y)
    path = tmp_path / "model.mtl"
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert {k: loaded.get_params()[k] for k in OPTIONS} == OPTIONS
    assert clone(est).get_params()["ensemble_size"] == 3


def test_options_are_grid_searchable():
    X, y = data()
    search = GridSearchCV(
        MultiTaskNetEstimator(**{**SMALL, "max_epochs": 2}),
        {"wide": [False, True], "lr_schedule": ["constant", "flat_cosine"]},
        cv=2,
    ).fit(X, y[:, 0])
    assert len(search.cv_results_["params"]) == 4


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("lr_schedule", "linear", "lr_schedule"),
        ("numeric_embedding", "pbld", "numeric_embedding"),
        ("wide", "yes", "wide"),
        ("ensemble_size", 0, "ensemble_size"),
        ("ensemble_size", 2.5, "ensemble_size"),
    ],
)
def test_bad_option_values_raise(param, value, message):
    X, y = data()
    with pytest.raises(ValueError, match=message):
        MultiTaskNetEstimator(**{**SMALL, param: value}).fit(X, y)


def disjoint_data(n_tasks=6, rows=40, seed=0):
    """Tasks on disjoint rows: a shared slope, a level and a spread of each task's own."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_tasks * rows, 3))
    task = np.repeat(np.arange(n_tasks), rows)
    fixed = np.random.default_rng(123)  # the same tasks for every seed
    level, spread = fixed.normal(size=n_tasks) * 3, 1 + fixed.random(n_tasks)
    y = np.full((len(X), n_tasks), np.nan)
    y[np.arange(len(X)), task] = level[task] + spread[task] * (X @ [1.0, -1.0, 0.5])
    return X, y, task


def test_task_offsets_shares_everything_but_a_scale_and_shift():
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1), TaskHeadSpec("c", 3)]
    module = TaskOffsets().build(4, tasks, NetworkConfig(hidden_layer_sizes=(8,)))
    X = torch.randn(5, 4)
    out = module(X)
    assert {name: tuple(v.shape) for name, v in out.items()} == {
        "a": (5, 1),
        "b": (5, 1),
        "c": (5, 3),
    }
    torch.testing.assert_close(out["a"], out["b"])  # scale 1, shift 0 at the start
    assert len(module.task_parameters("a", X)) == 2
    shared = {id(p) for p in module.shared_parameters()}
    own = {id(p) for p in module.task_parameters("a", X)}
    assert shared.isdisjoint(own)
    assert shared | own | {id(p) for p in module.task_parameters("c", X)} >= {
        id(p) for p in module.parameters() if p.shape[0] != 1
    }


def test_task_offsets_rejects_task_chains():
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1, inputs_from=("a",))]
    with pytest.raises(ValueError, match="no task chains"):
        TaskOffsets().build(4, tasks, NetworkConfig())


def test_task_offsets_learns_tasks_on_disjoint_rows():
    """Shared slopes, each task's own level and spread: learned from 25 rows a task."""
    X, y, _ = disjoint_data(n_tasks=8, rows=25)
    X_test, y_test, task_test = disjoint_data(n_tasks=8, rows=25, seed=1)
    est = MultiTaskNetEstimator(
        architecture="task_offsets",
        hidden_layer_sizes=(16,),
        max_epochs=60,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    own = np.asarray(est.predict(X_test))[np.arange(len(X_test)), task_test]
    truth = y_test[np.arange(len(X_test)), task_test]
    assert 1 - np.mean((own - truth) ** 2) / np.var(truth) > 0.9
    # two numbers per task of its own, everything else shared
    module = est.net_.module_
    batch = torch.as_tensor(X_test[:8], dtype=torch.float32)
    assert sum(p.numel() for p in module.task_parameters("task0", batch)) == 2


def test_smoothed_best_epoch_ignores_one_lucky_epoch():
    from sklearn_mtl._schedule import smoothed_best_epoch

    assert smoothed_best_epoch([3.0, 2.0, 1.0, 1.1, 1.2, 2.0, 2.5, 3.0, 3.0]) == 4
    assert smoothed_best_epoch([3.0, 3.0, 0.1, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0]) == 8
    assert smoothed_best_epoch([float("nan"), 2.0, 1.0]) == 3
    assert smoothed_best_epoch([3.0, 2.0, 1.5]) == 3  # shorter than the window
    # lowest at the start: the first full window's centre, not a cut window's epoch 1
    assert smoothed_best_epoch([1.0, 1.1, 1.2, 1.3, 1.4, 1.5]) == 3
    assert smoothed_best_epoch([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], window=3) == 2
    # a noisy start: the cut window of epoch 1 (a mean of 3) no longer wins
    assert smoothed_best_epoch([1.0, 1.1, 1.1, 1.3, 1.3, 1.05, 1.05, 1.3, 1.6]) == 3
    # still improving at the end: the last epoch stays a candidate
    assert smoothed_best_epoch([5.0, 4.0, 3.0, 2.0, 1.0, 0.5]) == 6
    # no finite full window: the lowest finite epoch
    assert smoothed_best_epoch([1.0, 2.0] + [float("inf")] * 4) == 1
    with pytest.raises(ValueError, match="No validation loss"):
        smoothed_best_epoch([])


def test_refit_trains_again_on_every_row_for_the_chosen_epochs(monkeypatch):
    from sklearn_mtl._schedule import smoothed_best_epoch

    runs = []
    original = MultiTaskNetEstimator._run

    def recording_run(self, split, epochs, full_fit=True):
        n_run = original(self, split, epochs, full_fit)
        runs.append((len(split.train), split.valid is not None, list(self.net_.history)))
        return n_run

    monkeypatch.setattr(MultiTaskNetEstimator, "_run", recording_run)
    X, y = data(n=150)
    params = {**SMALL, "max_epochs": 12, "validation_fraction": 0.2, "n_iter_no_change": 3}
    refit = MultiTaskNetEstimator(**params, early_stopping="refit").fit(X, y)
    (n_first, validated, first), (n_second, validated_again, second) = runs
    assert (n_first, validated) == (120, True)
    assert (n_second, validated_again) == (150, False)  # every row, no validation
    chosen = smoothed_best_epoch([record["valid_loss"] for record in first])
    assert refit.n_iter_ == len(second) == chosen
    assert "valid_loss" not in refit.history_[-1]
    again = MultiTaskNetEstimator(**params, early_stopping="refit").fit(X, y)
    np.testing.assert_array_equal(again.predict(X), refit.predict(X))


def test_bad_early_stopping_value_raises():
    X, y = data()
    with pytest.raises(ValueError, match="early_stopping"):
        MultiTaskNetEstimator(**SMALL, early_stopping="yes").fit(X, y)


def core(estimator):
    """The architecture's module, inside the input encoding layer and the recipe's
    wrapper (numeric embedding) when there are."""
    return estimator.net_.module_.unwrap()[0]


def test_auto_architecture_picks_task_offsets_for_disjoint_rows(tmp_path):
    from sklearn_mtl.architectures._hard import HardSharingModule
    from sklearn_mtl.architectures._offsets import TaskOffsetsModule

    X, y, _ = disjoint_data(n_tasks=4, rows=20)
    est = MultiTaskNetEstimator(**SMALL, architecture="auto").fit(X, y)
    assert isinstance(core(est), TaskOffsetsModule)
    path = tmp_path / "model.mtl"
    est.save(path)
    loaded = MultiTaskNetEstimator.load(path)
    assert isinstance(core(loaded), TaskOffsetsModule)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    # shared rows, or tasks of different kinds: one head per task
    X2, y2 = data()
    auto = MultiTaskNetEstimator(**SMALL, architecture="auto")
    assert isinstance(core(auto.fit(X2, y2)), HardSharingModule)
    mixed = y[:, :2].copy()
    mixed[~np.isnan(mixed[:, 1]), 1] = mixed[~np.isnan(mixed[:, 1]), 1] > 0
    est = MultiTaskNetEstimator(
        **SMALL, architecture="auto", tasks={"a": "regression", "b": "binary"}
    )
    assert isinstance(core(est.fit(X, mixed)), HardSharingModule)
    # an explicit choice is kept
    est = MultiTaskNetEstimator(**SMALL, architecture="hard").fit(X, y)
    assert isinstance(core(est), HardSharingModule)


def test_auto_architecture_has_no_parameters_to_set():
    with pytest.raises(ValueError, match="architecture='auto' has no parameters"):
        MultiTaskNetEstimator(architecture="auto").set_params(architecture__n_experts=2)


@pytest.mark.parametrize(
    "recipe",
    [
        {},  # the defaults: the periodic embedding
        {"wide": True, "ensemble_size": 3},
    ],
)
def test_compile_with_the_recipe_and_gradient_level_weighting(recipe):
    """The recipe's wrapper keeps no state between shared() and heads(), so that each
    compiles on its own (dynamo once failed with 'Guard failed on the same frame it was
    created' when RecipeModule kept its input as module state)."""
    from sklearn_mtl.weighting import PCGrad

    X, y = data()
    params = {**SMALL, **recipe, "loss_weighting": PCGrad(gradient_on="parameters")}
    plain = MultiTaskNetEstimator(**params).fit(X, y)
    compiled = MultiTaskNetEstimator(compile={"backend": "aot_eager"}, **params).fit(X, y)
    np.testing.assert_allclose(compiled.predict(X), plain.predict(X), rtol=1e-4, atol=1e-5)


def test_forward_keeps_no_state_on_the_wrappers():
    X, y = data()
    est = MultiTaskNetEstimator(**SMALL, ensemble_size=2, wide=True).fit(X, y)
    module = est.net_.module_.eval()

    def state():
        return {
            (path, name): id(value)
            for path, sub in module.named_modules()
            for name, value in vars(sub).items()
            if name != "training"
        }

    before = state()
    module.train()
    module(torch.randn(7, 4))
    module.eval()
    module(torch.randn(5, 4))
    assert state() == before


def test_ensemble_members_in_training_are_the_row_positions():
    tasks = [TaskHeadSpec("a", 1)]
    config = NetworkConfig(hidden_layer_sizes=(8,))
    from sklearn_mtl.architectures import HardSharing

    module = RecipeModule(
        lambda n: HardSharing().build(n, tasks, config), 4, tasks, ensemble_size=3
    ).train()
    X = torch.randn(7, 4)
    out = module(X)["a"]
    for i in range(7):
        m = i % 3
        row = module.inner(X[i : i + 1] * module.member_scale.view(3, -1)[m])["a"]
        expected = (
            row * module.member_out["a"].view(3, 1)[m] + module.member_shift["a"].view(3, 1)[m]
        )
        torch.testing.assert_close(out[i : i + 1], expected)


def test_unwrap_gives_mmoe_gates_with_the_default_recipe():
    """With the defaults the MMoE module sits inside the input layer and the recipe's
    wrapper: its attributes are reachable, and unwrap gives it with its input."""
    from sklearn_mtl._input_layer import EncodedInputModule
    from sklearn_mtl.architectures import MMoE
    from sklearn_mtl.architectures._mmoe import MMoEModule

    X, y = data()
    est = MultiTaskNetEstimator(**SMALL, architecture=MMoE(n_experts=3)).fit(X, y)
    module = est.net_.module_.eval()
    assert isinstance(module, EncodedInputModule) and isinstance(module.inner, RecipeModule)
    mmoe, encode = module.unwrap()
    assert isinstance(mmoe, MMoEModule)
    assert module.gates is mmoe.gates  # attributes forward through every wrapper
    batch = torch.as_tensor(X[:6], dtype=torch.float32)
    with torch.no_grad():
        inner_X = module.inner.embedding(module.input(batch))
        torch.testing.assert_close(encode(batch), inner_X)
        gates = mmoe.gate_weights(encode(batch))
        for gate, weights in zip(mmoe.gates, gates.values(), strict=True):
            torch.testing.assert_close(weights, torch.softmax(gate.linear(inner_X), dim=1))
        # the unwrapped module on its input is the whole network (no wide path here)
        whole = module(batch)
        for name, output in mmoe(inner_X).items():
            torch.testing.assert_close(output, whole[name])
