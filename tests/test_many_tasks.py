"""Many tasks at the cost of few: fused linear heads, and what must keep working."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_mixed
from skorch.callbacks import Callback

from sklearn_mtl import MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import ARCHITECTURES, NetworkConfig, TaskHeadSpec
from sklearn_mtl.architectures._heads import FusedRows, TaskHeads

DATA = Path(__file__).parent / "data"
FAST = {"hidden_layer_sizes": (8,), "max_epochs": 2, "batch_size": 32, "random_state": 0}


def many_regression(n_samples=96, n_tasks=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    y = X[:, :3] @ rng.normal(size=(3, n_tasks)) + 0.1 * rng.normal(size=(n_samples, n_tasks))
    y[rng.random(y.shape) < 0.5] = np.nan
    return X, y


# TaskOffsets has no per-task heads to fuse: one shared output layer, a scale and a
# shift per task.
@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - {"task_offsets"}))
def test_fused_heads_compute_what_separate_heads_do(name):
    """Each fused head's output is its own rows' linear map of its features."""
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 3), TaskHeadSpec("c", 1)]
    config = NetworkConfig(hidden_layer_sizes=(6,))
    if name == "custom":
        from sklearn_mtl.architectures import CustomTrunk

        module = CustomTrunk(torch.nn.Linear(4, 5), width=5).build(4, tasks, config)
    else:
        module = ARCHITECTURES[name]().build(4, tasks, config)
    heads = module.task_heads
    assert len(heads.fused) >= 1
    assert all(isinstance(head[0], FusedRows) for head in heads)
    features = []

    def keep(_module, inputs, _output):
        features.append(inputs[0])

    handle = heads.register_forward_hook(keep)
    X = torch.randn(7, 4)
    out = module(X)
    handle.remove()
    for k, task in enumerate(heads.task_names):
        expected = heads[k](features[0][k])
        torch.testing.assert_close(out[task], expected)


def test_plain_heads_of_one_trunk_depth_share_one_matrix():
    tasks = [TaskHeadSpec(f"t{i}", 2 if i == 3 else 1) for i in range(5)]
    heads = TaskHeads([4] * 5, tasks, NetworkConfig(), (), feature_slots=[0] * 5)
    assert len(heads.fused) == 1 and not heads.fused[0].stacked
    assert tuple(heads.fused[0].weight.shape) == (6, 4)
    assert [p.numel() for p in heads.parameters()] == [24, 6]
    # Per-task views write through to the fused matrix.
    with torch.no_grad():
        heads[3][0].weight.fill_(2.0)
    assert bool((heads.fused[0].weight[3:5] == 2.0).all())
    assert not bool((heads.fused[0].weight[:3] == 2.0).any())


def test_heads_with_hidden_layers_or_chains_stay_separate():
    tasks = [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1, inputs_from=("a",))]
    heads = TaskHeads([4, 4], tasks, NetworkConfig(), (), feature_slots=[0, 0])
    assert heads.fused[0].tasks == [0]
    assert isinstance(heads[1][0], torch.nn.Linear) and not isinstance(heads[1][0], FusedRows)
    hidden = TaskHeads([4, 4], [TaskHeadSpec("a", 1), TaskHeadSpec("b", 1)], NetworkConfig(), (3,))
    assert len(hidden.fused) == 0


@pytest.mark.parametrize("arch", ["hard", "mmoe"])
def test_files_saved_before_the_fusion_load(arch):
    # Written by tests/data/make_legacy_heads.py with separate heads (commit e337d0e).
    X, y = make_mixed(n_samples=80, n_features=4)
    expected = np.load(DATA / f"legacy_{arch}.npz")
    est = MultiTaskNetEstimator.load(DATA / f"legacy_{arch}.mtl")
    assert len(est.net_.module_.task_heads.fused) == 1
    np.testing.assert_allclose(est.predict_proba(X)[1], expected["loaded"], rtol=1e-5, atol=1e-6)
    # The optimizer state was fused too: one more epoch goes where it went then.
    est.partial_fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X)[1], expected["continued"], rtol=1e-4, atol=1e-5)


def test_save_load_and_checkpoint_with_many_fused_heads(tmp_path):
    X, y = many_regression()
    est = MultiTaskNetEstimator(**FAST).fit(X, y)
    assert len(est.net_.module_.task_heads.fused) == 1
    est.save(tmp_path / "m.mtl")
    loaded = MultiTaskNetEstimator.load(tmp_path / "m.mtl")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    first = MultiTaskNetEstimator(**FAST, checkpoint_dir=tmp_path / "c").fit(X, y)
    resumed = MultiTaskNetEstimator(**FAST, checkpoint_dir=tmp_path / "c").fit(X, y)
    np.testing.assert_array_equal(resumed.predict(X), first.predict(X))


@pytest.mark.parametrize("head_layer_sizes", [(), (4,)])
@pytest.mark.parametrize("gradient_on", ["parameters", "representation"])
def test_compile_with_gradient_level_weighting(head_layer_sizes, gradient_on):
    # AOTAutograd's donated buffers made a second backward through a compiled part
    # fail as soon as it saved an intermediate (a hidden head layer).
    from sklearn_mtl.weighting import PCGrad

    X, y = many_regression(n_tasks=4)
    params = {
        **FAST,
        "head_layer_sizes": head_layer_sizes,
        "loss_weighting": PCGrad(gradient_on=gradient_on),
    }
    plain = MultiTaskNetEstimator(**params).fit(X, y)
    compiled = MultiTaskNetEstimator(compile={"backend": "aot_eager"}, **params).fit(X, y)
    np.testing.assert_allclose(compiled.predict(X), plain.predict(X), rtol=1e-4, atol=1e-5)


def test_mtrl_and_affinity_with_fused_heads():
    X, y = many_regression(n_tasks=5)
    est = MultiTaskNetEstimator(**FAST, task_relation="mtrl", record_task_affinity=2).fit(X, y)
    assert est.task_relation_.shape == (5, 5)
    assert np.isfinite(est.task_relation_.to_numpy()).all()
    assert np.isfinite(est.task_affinity_.to_numpy()).all()


def test_one_task_many_columns_names():
    tasks = [Task(f"t{i}", "regression", columns=i) for i in range(3)]
    X, y = many_regression(n_tasks=3)
    est = MultiTaskNetEstimator(tasks=tasks, **FAST).fit(X, y)
    assert est.net_.module_.task_heads.task_names == ["t0", "t1", "t2"]


class ThreadCount(Callback):
    """Records torch's thread count at each epoch."""

    def __init__(self):
        self.seen = []

    def on_epoch_begin(self, net, **kwargs):
        self.seen.append(torch.get_num_threads())


@pytest.mark.parametrize("n_threads", [1, 2, -1])
def test_n_threads_bounds_torch_during_fit_and_predict(n_threads, monkeypatch):
    import sklearn_mtl._threads as threads

    monkeypatch.setattr(threads.os, "cpu_count", lambda: 3)
    X, y = many_regression(n_tasks=2)
    before = torch.get_num_threads()
    counter = ThreadCount()
    est = MultiTaskNetEstimator(**FAST, n_threads=n_threads, callbacks=[("n", counter)])
    est.fit(X, y)
    seen = dict(est.net_.callbacks_)["n"].seen
    assert seen == [3 if n_threads == -1 else n_threads] * 2
    assert torch.get_num_threads() == before
    est.predict(X)
    assert torch.get_num_threads() == before


def test_n_threads_none_respects_threadpoolctl_limits():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, y = many_regression(n_tasks=2)
    counter = ThreadCount()
    with threadpoolctl.threadpool_limits(1):
        est = MultiTaskNetEstimator(**FAST, callbacks=[("n", counter)]).fit(X, y)
    assert dict(est.net_.callbacks_)["n"].seen == [1, 1]


@pytest.mark.parametrize("bad", [0, 1.5, True, "2"])
def test_n_threads_rejects_what_is_not_a_count(bad):
    X, y = many_regression(n_tasks=2)
    with pytest.raises(ValueError, match=r"n_threads"):
        MultiTaskNetEstimator(**FAST, n_threads=bad).fit(X, y)


def _reference_losses(specs, outputs, targets, weight):
    """Each task's masked, weighted mean loss, one task at a time."""
    import torch.nn.functional as F

    losses = []
    for spec in specs:
        out, target = outputs[spec.name], targets[:, spec.start : spec.stop]
        mask = ~torch.isnan(target)
        clean = torch.nan_to_num(target)
        if spec.kind == "regression":
            each = (out - clean) ** 2
        elif spec.kind == "multiclass":
            each = F.cross_entropy(out, clean[:, 0].long(), reduction="none")[:, None]
        else:
            each = F.binary_cross_entropy_with_logits(out, clean, reduction="none")
        w = mask * weight[:, None]
        losses.append((each * w).sum() / w.sum())
    return torch.stack(losses)


@pytest.mark.parametrize("missing", [True, False])
def test_one_loss_call_per_kind_matches_per_task_losses(missing):
    from sklearn_mtl._losses import MultiTaskLoss, TaskLossSpec
    from sklearn_mtl.weighting import FixedWeighting

    kinds = [("r1", "regression", 1), ("m", "multiclass", 1), ("b1", "binary", 1)]
    kinds += [("r2", "regression", 1), ("ml", "multilabel", 2), ("b2", "binary", 1)]
    specs, start = [], 0
    for name, kind, width in kinds:
        specs.append(TaskLossSpec(name, kind, start, start + width))
        start += width
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(len(specs))))
    assert [group.names for group in loss.groups] == [("r1", "r2"), ("m",), ("b1", "b2"), ("ml",)]
    g = torch.Generator().manual_seed(0)
    n = 12
    outputs = {name: torch.randn(n, 3 if kind == "multiclass" else width, generator=g)
               for name, kind, width in kinds}  # fmt: skip
    targets = torch.rand(n, start, generator=g).round()
    targets[:, 0] = torch.randn(n, generator=g)
    targets[:, 3] = torch.randn(n, generator=g)
    targets[:, 1] = torch.randint(0, 3, (n,), generator=g).float()
    weight = torch.rand(n, generator=g) + 0.5
    if missing:
        targets[torch.rand(n, start, generator=g) < 0.3] = float("nan")
        targets[0] = 1.0  # every task keeps a label
    losses, present = loss.task_losses(outputs, targets, weight)
    torch.testing.assert_close(losses, _reference_losses(specs, outputs, targets, weight))
    assert bool(present.all())
    if not missing:
        loss.complete_labels = True
        complete, _ = loss.task_losses(outputs, targets)
        torch.testing.assert_close(
            complete, _reference_losses(specs, outputs, targets, torch.ones(n))
        )


def test_losses_read_the_fused_output_without_a_copy():
    from sklearn_mtl._losses import MultiTaskLoss, TaskLossSpec
    from sklearn_mtl.weighting import FixedWeighting

    tasks = [TaskHeadSpec(f"t{i}", 1) for i in range(5)]
    module = ARCHITECTURES["hard"]().build(4, tasks, NetworkConfig(hidden_layer_sizes=(6,)))
    out = module(torch.randn(7, 4))
    specs = [TaskLossSpec(f"t{i}", "regression", i, i + 1) for i in range(5)]
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(5)))
    (grouped,) = loss.group_outputs(out)
    assert grouped.data_ptr() == out.blocks[0].data_ptr()
    torch.testing.assert_close(grouped, torch.cat([out[f"t{i}"] for i in range(5)], dim=1))
    # A group that is not a run of consecutive block columns is concatenated.
    assert out.columns(("t0", "t2")) is None
    torch.testing.assert_close(out.columns(("t1", "t2")), grouped[:, 1:3])


def test_grouped_regression_tasks_around_a_binary_one():
    # Found by the hostile-input property test: the running predictions of a group
    # of regression tasks must keep one column per task.
    X = np.array([[-1.9553734], [-0.52415186]], dtype=np.float32)
    y = np.array([[1.66, False, -0.62], [0.659, True, 0.1486]], dtype=object)
    est = MultiTaskNetEstimator(max_epochs=1, hidden_layer_sizes=(4,), random_state=0)
    assert est.fit(X, y).predict(X).shape == (2, 3)
    for loss in ["poisson", "absolute_error"]:
        tasks = [Task(f"t{i}", "regression", columns=i, loss=loss) for i in range(3)]
        positive = np.abs(np.random.default_rng(0).normal(size=(20, 3))) + 0.1
        fitted = MultiTaskNetEstimator(tasks=tasks, max_epochs=2, random_state=0)
        assert np.isfinite(fitted.fit(np.ones((20, 1)), positive).predict(np.ones((2, 1)))).all()


def _reference_statistics(recorder, loss):
    """The epoch statistics as first written: every statistic over every column."""
    count = recorder.count
    predictions, targets = recorder.predictions[:count], recorder.targets[:count]
    weight = (~torch.isnan(targets)).float()
    if recorder.weights is not None:
        weight = weight * recorder.weights[:count, None]
    clean = torch.nan_to_num(targets)
    per_column = torch.stack(
        [
            (weight * (predictions == clean)).sum(0),
            (weight * clean).sum(0),
            (weight * clean * clean).sum(0),
            (weight * (predictions - clean) ** 2).sum(0),
        ]
    )
    hits, sums, squares, errors = (loss._per_task(row) for row in per_column)
    regression = loss.is_regression
    return torch.stack(
        [
            torch.where(regression, sums, hits),
            torch.where(regression, squares, 0.0),
            torch.where(regression, errors, 0.0),
        ],
        dim=1,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["regression", "classification", "mixed"])
def test_epoch_statistics_match_every_column_reference(weighted, layout):
    """The per-kind statistics (nansum over the columns of one kind), reduced at the
    epoch's end or batch by batch, equal the sums over every column with a label mask,
    NaN predictions included."""
    from sklearn_mtl._losses import EpochPredictions, MultiTaskLoss, TaskLossSpec
    from sklearn_mtl.weighting import FixedWeighting

    kinds = {
        "regression": ["regression"] * 4,
        "classification": ["binary", "multiclass", "multilabel"],
        "mixed": ["regression", "binary", "multilabel", "regression", "multiclass"],
    }[layout]
    specs, start = [], 0
    for index, kind in enumerate(kinds):
        width = 2 if kind == "multilabel" else 1
        specs.append(TaskLossSpec(f"t{index}", kind, start, start + width))
        start += width
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(len(specs))))
    generator = torch.Generator().manual_seed(0)
    recorder = EpochPredictions(30, start, torch.device("cpu"), weighted=weighted, stream=False)
    streamed = EpochPredictions(30, start, torch.device("cpu"), weighted=weighted, stream=True)
    for batch in range(3):
        outputs = {
            spec.name: torch.randn(10, 3 if spec.kind == "multiclass" else spec.stop - spec.start,
                                   generator=generator)
            for spec in specs
        }  # fmt: skip
        targets = torch.cat(
            [
                torch.randn(10, 1, generator=generator)
                if spec.kind == "regression"
                else torch.randint(0, 3 if spec.kind == "multiclass" else 2,
                                   (10, spec.stop - spec.start), generator=generator).float()
                for spec in specs
            ],
            dim=1,
        )  # fmt: skip
        targets[torch.rand(targets.shape, generator=generator) < 0.3] = float("nan")
        if batch == 2 and layout != "classification":
            outputs[specs[0].name][3, 0] = float("nan")  # a diverged prediction
        weight = torch.rand(10, generator=generator) if weighted else None
        recorder.add(loss, outputs, targets, weight)
        streamed.add(loss, outputs, targets, weight)
    expected = _reference_statistics(recorder, loss)
    for chunk_rows in (None, 7):
        torch.testing.assert_close(
            recorder.statistics(loss, chunk_rows=chunk_rows), expected, equal_nan=True
        )
    torch.testing.assert_close(streamed.statistics(loss), expected, equal_nan=True)


def test_task_outputs_make_per_task_views_on_demand():
    """One fused block: ``outputs[name]`` makes that view only, iteration all of them in
    task order (the views already made kept), and they equal the block's split."""
    tasks = [TaskHeadSpec(f"t{i}", 2 if i == 1 else 1) for i in range(4)]
    heads = TaskHeads([5] * 4, tasks, NetworkConfig(), (), feature_slots=[0] * 4)
    z = torch.randn(3, 5)
    outputs = heads([z] * 4)
    block = outputs.columns(("t0", "t1", "t2", "t3"))
    expected = dict(zip(heads.task_names, block.split([1, 2, 1, 1], dim=1), strict=True))
    third = outputs["t2"]
    assert dict.__len__(outputs) == 1  # the other views are not made yet
    torch.testing.assert_close(third, expected["t2"])
    assert list(outputs) == ["t0", "t1", "t2", "t3"] and len(outputs) == 4
    assert outputs["t2"] is third
    for name, value in outputs.items():
        torch.testing.assert_close(value, expected[name])
    assert list(dict(heads([z] * 4))) == heads.task_names


# -- per-fit set-up: the label matrix's summary and X's input statistics -------------
def _plain_summary(matrix, first_rows):
    """The summary of a label matrix in one plain pass over every column and row (no
    probe, no column left out; the shift from ``first_rows``): what _MatrixSummary
    must give."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the column without labels
        first = np.round(np.nanmean(matrix[first_rows], axis=0))
    shift = np.nan_to_num(first, nan=0.0, posinf=0.0, neginf=0.0)
    shifted = np.nan_to_num(np.subtract(matrix, shift, dtype=np.float64), nan=0.0,
                            posinf=np.inf, neginf=-np.inf)  # fmt: skip
    with np.errstate(invalid="ignore"):
        fractions = np.abs(shifted - np.trunc(shifted)).max(axis=0)
    return {
        "known_range": np.isfinite(first) & (np.abs(first) < 2.0**50),
        "integral": fractions == 0,
        "low": shift + shifted.min(axis=0),
        "high": shift + shifted.max(axis=0),
    }


def _summary_matrix(dtype=np.float64, order="C"):
    rng = np.random.default_rng(3)
    n = 300
    late_fraction = np.arange(n, dtype=float) % 3  # integers up to row 250, then 0.5
    late_fraction[250] = 0.5
    columns = [
        rng.normal(size=n),  # a fraction in the first rows
        rng.integers(0, 2, n).astype(float),  # binary
        late_fraction,  # integral in the probe and the first chunks, not in all
        rng.integers(-3, 3, n).astype(float),
        np.where(np.arange(n) == 200, np.inf, 1.0),  # an infinite label, late
        np.full(n, np.nan),  # no label
    ]
    y = np.column_stack(columns)
    y[rng.random(y.shape) < 0.3] = np.nan
    y[:, 2][250] = 0.5
    return np.asarray(y, dtype=dtype, order=order)


@pytest.mark.parametrize("chunk_values", [None, 60])
@pytest.mark.parametrize("dtype, order", [(np.float64, "C"), (np.float32, "C"), (np.float64, "F")])
def test_label_summary_finds_integers_and_ranges_as_a_plain_pass(
    chunk_values, dtype, order, monkeypatch
):
    """The summary looks for integers only in the columns without a fraction so far
    (most regression columns show one in the first rows): the integral columns and
    their ranges are those of a pass over every value, also when a fraction appears
    only after the first rows and chunks."""
    from sklearn_mtl import _task_encoding

    if chunk_values is not None:  # chunks of 10 rows: the fraction is in a late chunk
        monkeypatch.setattr(_task_encoding, "_CHUNK_VALUES", chunk_values)
    matrix = _summary_matrix(dtype, order)
    summary = _task_encoding._MatrixSummary(matrix, kinds=True)
    reference = _plain_summary(matrix, _task_encoding._row_chunks(*matrix.shape)[0])
    np.testing.assert_array_equal(summary.known_range, reference["known_range"])
    np.testing.assert_array_equal(summary.integral, reference["integral"])
    assert summary.integral.tolist() == [False, True, False, True, False, True]
    for j in np.flatnonzero(reference["integral"] & reference["known_range"]):
        assert summary.low[j] == reference["low"][j]
        assert summary.high[j] == reference["high"][j]
    present = ~np.isnan(matrix)
    np.testing.assert_array_equal(summary.counts, present.sum(axis=0))
    assert summary.finite.tolist() == [True, True, True, True, False, True]
    for j in range(4):
        column = matrix[present[:, j], j].astype(np.float64)
        assert summary.mean[j] == pytest.approx(column.mean(), rel=1e-12)
        assert summary.std[j] == pytest.approx(column.std(), rel=1e-9)


@pytest.mark.parametrize("dtype, order", [(np.float64, "C"), (np.float32, "C"), (np.float64, "F")])
def test_label_summary_shift_is_numpys_nanmean(dtype, order):
    """The first rows' mean (the summary's shift) is np.nanmean's, to the last bit."""
    from sklearn_mtl._task_encoding import _nanmean

    rng = np.random.default_rng(1)
    block = rng.normal(3.0, 100.0, size=(500, 7))
    block[rng.random(block.shape) < 0.4] = np.nan
    block[:, 5] = np.nan
    block[10, 6] = np.inf
    block = np.asarray(block, dtype=dtype, order=order)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmean(block, axis=0)
    with np.errstate(invalid="ignore"):
        got = _nanmean(block)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["finite", "nan", "huge", "frame"])
def test_input_statistics_without_scaling_skip_no_check(kind, monkeypatch):
    """With numeric_scaling=None and no category the input encoder measures nothing
    when X is finite (a sum tells it); it gives what the full pass gives: the missing
    flags, the constant statistics and the errors (a float64 value beyond float32)."""
    import pandas as pd

    from sklearn_mtl import _input
    from sklearn_mtl._input import InputEncoder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    if kind == "nan":
        X[3, 2] = np.nan
    if kind == "huge":
        X[7, 1] = 1e300
    data = pd.DataFrame(X, columns=list("abcd")) if kind == "frame" else X.astype(
        np.float64 if kind == "huge" else np.float32
    )  # fmt: skip

    def fitted(full_pass):
        if full_pass:
            monkeypatch.setattr(_input, "_all_finite", lambda block: False)
        try:
            return InputEncoder(numeric_scaling=None).fit(data)
        except ValueError as error:
            return str(error)
        finally:
            monkeypatch.undo()

    fast, full = fitted(False), fitted(True)
    if kind == "huge":
        assert fast == full
        assert "infinite" in fast
        return
    np.testing.assert_array_equal(fast.missing_, full.missing_)
    assert fast.missing_.tolist() == [False, False, kind == "nan", False]
    assert fast.stats_.keys() == full.stats_.keys()
    for key in full.stats_:
        np.testing.assert_array_equal(fast.stats_[key], full.stats_[key])
    assert fast.scalings_ == full.scalings_


# -- per-step records: fewer tensor operations, the same values ----------------------
def test_unit_base_weights_skip_a_product_and_follow_changes():
    """With every base weight 1.0 the fixed weighting sums ``loss * present`` (the same
    values and gradients as with the product); the check follows an in-place change
    of the weights and a loaded state."""
    from sklearn_mtl.weighting import FixedWeighting

    losses = torch.tensor([0.5, float("nan"), 2.0, 3.0], requires_grad=True)
    present = torch.tensor([True, False, True, True])
    weighting = FixedWeighting().build(torch.ones(4))
    assert weighting.unit_base_weights()
    total = weighting.fixed_weighted_loss(losses, present)
    (gradient,) = torch.autograd.grad(total, losses)
    reference = (torch.ones(4) * losses * present).sum()
    (expected,) = torch.autograd.grad(reference, losses)
    assert torch.equal(total, reference) or (total.isnan() and reference.isnan())
    torch.testing.assert_close(gradient, expected, equal_nan=True, rtol=0, atol=0)

    clean = losses.detach().nan_to_num()
    weighting.base_weights.mul_(2.0)  # in place: the version counter moves
    assert not weighting.unit_base_weights()
    assert float(weighting.fixed_weighted_loss(clean, present)) == 2.0 * (0.5 + 2.0 + 3.0)
    weighting.load_state_dict({**weighting.state_dict(), "base_weights": torch.ones(4)})
    assert weighting.unit_base_weights()
    assert float(weighting.weigh(clean, present)[0]) == 0.5 + 2.0 + 3.0


def test_kept_epoch_predictions_are_detached_and_read_by_rows():
    """The kept batches hold no autograd graph, and any range of rows reads back what
    was added, across batches and in column order."""
    from sklearn_mtl._losses import EpochPredictions, MultiTaskLoss, TaskLossSpec
    from sklearn_mtl.weighting import FixedWeighting

    specs = [
        TaskLossSpec("r0", "regression", 0, 1),
        TaskLossSpec("b", "binary", 1, 2),
        TaskLossSpec("r1", "regression", 2, 3),
    ]
    loss = MultiTaskLoss(specs, FixedWeighting().build(torch.ones(3)))
    assert not loss.columns_in_order  # the two regression columns are grouped
    recorder = EpochPredictions(25, 3, torch.device("cpu"), weighted=False, stream=False)
    generator = torch.Generator().manual_seed(0)
    weight = torch.ones(1, requires_grad=True)
    added = []
    for rows in (10, 10, 5):
        outputs = {s.name: torch.randn(rows, 1, generator=generator) * weight for s in specs}
        targets = torch.randn(rows, 3, generator=generator)
        recorder.add(loss, outputs, targets, None)
        binary = (outputs["b"] > 0).float()
        added.append((torch.cat([outputs["r0"], binary, outputs["r1"]], 1).detach(), targets))
    assert not recorder._predictions.requires_grad and not recorder._targets.requires_grad
    predictions = torch.cat([p for p, _ in added])
    targets = torch.cat([t for _, t in added])
    for start, stop in [(0, 25), (3, 17), (10, 20), (24, 25)]:
        got_predictions, got_targets = recorder._rows(start, stop)
        assert torch.equal(got_predictions, predictions[start:stop])
        assert torch.equal(got_targets, targets[start:stop])


class _CountBatches(Callback):
    def initialize(self):
        self.calls = 0
        return self

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        self.calls += 1
        net.history.record_batch("seen", 1)


def test_batch_hooks_run_only_for_callbacks_that_implement_them():
    """Without a per-batch callback no batch hook is called (skorch's own would only
    open empty batch records, which the epoch's end drops); a callback implementing
    one gets every batch and its batch records are kept."""
    X, y = many_regression(64, 3)
    plain = MultiTaskNetEstimator(**FAST).fit(X, y)
    assert not plain.net_._listens_to_batches()
    assert all(row["batches"] == [] for row in plain.history_)
    counter = _CountBatches()
    counted = MultiTaskNetEstimator(**FAST, callbacks=[("count", counter)]).fit(X, y)
    assert counted.net_._listens_to_batches()
    n_batches = sum(row["train_batch_count"] for row in counted.history_)
    assert dict(counted.net_.callbacks_)["count"].calls == n_batches
    assert [len(row["batches"]) for row in counted.history_] == [2, 2]
    np.testing.assert_array_equal(plain.predict(X), counted.predict(X))
