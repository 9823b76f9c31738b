"""What a new user meets: reprs, the documentation link, aliases in grids, device checks."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MTRL, MultiTaskNetEstimator, Task
from sklearn_mtl.architectures import MMoE
from sklearn_mtl.weighting import DynamicWeightAverage


def test_task_repr_shows_only_fields_that_differ_from_defaults():
    assert repr(Task("spend")) == "Task(name='spend')"
    assert repr(Task("bought", "binary")) == "Task(name='bought', kind='binary')"
    task = Task("prefs", "multilabel", columns=["a", "b"], depth=1, inputs_from="bought")
    assert repr(task) == (
        "Task(name='prefs', kind='multilabel', columns=('a', 'b'), depth=1, "
        "inputs_from=('bought',))"
    )
    assert eval(repr(task)) == task  # the repr is valid Python


def test_estimator_repr_of_three_default_tasks_fits_in_eight_lines():
    tasks = [Task("spend", "regression"), Task("bought", "binary"), Task("segment", "multiclass")]
    est = MultiTaskNetEstimator(tasks=tasks, hidden_layer_sizes=(128, 64), random_state=0)
    text = repr(est)
    assert len(text.splitlines()) <= 8, text
    assert "depth" not in text and "inputs_from" not in text


@pytest.mark.parametrize(
    "obj, page",
    [
        (MultiTaskNetEstimator(), "sklearn_mtl.MultiTaskNetEstimator"),
        (DynamicWeightAverage(), "sklearn_mtl.weighting.DynamicWeightAverage"),
        (MMoE(), "sklearn_mtl.architectures.MMoE"),
        (MTRL(), "sklearn_mtl.MTRL"),
    ],
)
def test_html_repr_links_to_the_api_page(obj, page):
    link = obj._get_doc_link()
    assert link.endswith(f"/generated/{page}.html")
    assert link.startswith("https://")
    assert link in obj._repr_html_()


def _data(n=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, np.column_stack([X[:, 0], X[:, 1] > 0])


def test_nested_params_of_an_alias_can_be_set_and_grid_searched():
    est = MultiTaskNetEstimator(loss_weighting="dwa", architecture="mmoe", task_relation="mtrl")
    copy = clone(est).set_params(
        loss_weighting__temperature=3.0, architecture__n_experts=3, task_relation__strength=0.5
    )
    assert copy.loss_weighting.get_params()["temperature"] == 3.0
    assert isinstance(copy.architecture, MMoE) and copy.architecture.n_experts == 3
    assert copy.task_relation.strength == 0.5
    assert est.loss_weighting == "dwa"  # the original is untouched
    X, y = _data()
    search = GridSearchCV(
        MultiTaskNetEstimator(loss_weighting="dwa", hidden_layer_sizes=(4,), max_epochs=2),
        {"loss_weighting__temperature": [1.0, 4.0]},
        cv=2,
        error_score="raise",
    )
    with pytest.warns(Warning):  # ConvergenceWarning of the 2-epoch fits
        search.fit(X, y)
    temperatures = [p["loss_weighting__temperature"] for p in search.cv_results_["params"]]
    assert temperatures == [1.0, 4.0]
    assert search.best_estimator_.loss_weighting.temperature in (1.0, 4.0)


def test_nested_param_after_a_new_alias_and_unknown_names():
    est = MultiTaskNetEstimator(loss_weighting="dwa")
    est.set_params(loss_weighting="famo", loss_weighting__lr=0.01)
    assert type(est.loss_weighting).__name__ == "FAMO" and est.loss_weighting.lr == 0.01
    with pytest.raises(ValueError, match="Invalid parameter 'nope' for estimator Dynamic"):
        MultiTaskNetEstimator(loss_weighting="dwa").set_params(loss_weighting__nope=1)
    with pytest.raises(ValueError, match="loss_weighting='xx' is not supported; expected one"):
        MultiTaskNetEstimator().set_params(loss_weighting="xx", loss_weighting__t=1)


@pytest.mark.parametrize(
    "device, message",
    [
        ("mps", "device='mps' was asked for, but MPS (Apple GPU) is not available here"),
        ("meta", "device='meta' is not a device sklearn-mtl can train on"),
        ("gpu0", "device='gpu0' is not a device; expected 'cpu', 'cuda'"),
    ],
)
def test_unavailable_devices_are_clear_errors(device, message):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    X, y = _data()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MultiTaskNetEstimator(device=device, max_epochs=1).fit(X, y)


def test_missing_cuda_device_is_a_clear_error():
    X, y = _data()
    if not torch.cuda.is_available():
        match = "device='cuda:0' was asked for, but CUDA is not available here"
    else:
        match = None
    index = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if match is None:
        match = f"this machine has {index} CUDA device"
    with pytest.raises(ValueError, match=match):
        MultiTaskNetEstimator(device=f"cuda:{index}", max_epochs=1).fit(X, y)


def test_task_scorer_receives_sample_weight_with_metadata_routing():
    import sklearn
    from sklearn.exceptions import UnsetMetadataPassedError

    from sklearn_mtl.metrics import TaskScorer, make_task_scorer

    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        make_task_scorer("task0").set_score_request(sample_weight=True)
    received = []

    class Recording(TaskScorer):
        def __call__(self, estimator, X, y, sample_weight=None):
            score = super().__call__(estimator, X, y, sample_weight=sample_weight)
            received.append((sample_weight, score, estimator.score_tasks(X, y)["task0"]))
            return score

    X, y = _data(80)
    weight = np.random.default_rng(1).uniform(0.0, 3.0, size=len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskNetEstimator(hidden_layer_sizes=(4,), max_epochs=3, random_state=0)
        est = est.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        scorer = Recording("task0").set_score_request(sample_weight=True)
        with pytest.warns(Warning):
            GridSearchCV(est, {"lr": [0.01]}, cv=2, scoring={"s": scorer}, refit=False).fit(
                X, y, sample_weight=weight
            )
        assert len(received) == 2
        for sample_weight, weighted, unweighted in received:
            assert sample_weight is not None and len(sample_weight) == len(X) // 2
            assert weighted != unweighted  # the weights changed the score
        # an unrequested scorer is told, as scikit-learn's scorers are
        search = GridSearchCV(est, {"lr": [0.01]}, cv=2, scoring=make_task_scorer("task0"))
        with pytest.raises(UnsetMetadataPassedError, match=r"TaskScorer\.set_score_request"):
            search.fit(X, y, sample_weight=weight)


def test_api_landing_page_lists_every_top_level_name():
    import inspect
    from pathlib import Path

    import sklearn_mtl

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.rst").read_text()
    for name in sklearn_mtl.__all__:
        if not inspect.ismodule(getattr(sklearn_mtl, name)):
            assert f"~sklearn_mtl.{name}\n" in text, name
