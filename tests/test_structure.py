"""The package's plumbing: registries, the unwrap helper, the affinity accumulator, the
training-side helpers, and the import graph."""

import ast
import pathlib
import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_mtl
from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._net_speed import check_precision
from sklearn_mtl._pairwise import PairwiseMean
from sklearn_mtl._registry import OPTIMIZERS, WEIGHTINGS, Registry
from sklearn_mtl._training import resolve_device, resolve_optimizer
from sklearn_mtl._unwrap import final_estimator, fitted_estimator

PACKAGE = pathlib.Path(sklearn_mtl.__file__).parent


def test_registry_decorator_and_its_errors():
    registry = Registry("gadget")

    @registry.register("a")
    class A:
        pass

    assert registry["a"] is A and registry.by_class_name() == {"A": A}
    assert registry.register("a")(A) is A  # the same class again is fine
    with pytest.raises(ValueError, match="alias 'a' is already taken by A"):

        @registry.register("a")
        class B:
            pass

    with pytest.raises(ValueError, match="already named 'A'"):
        registry.register("other")(type("A", (), {}))
    with pytest.raises(TypeError, match="Only classes"):
        registry.register("f")(len)
    with pytest.raises(ValueError, match="non-empty str"):
        registry.register("")


def test_builtin_registries_are_filled_by_their_modules():
    assert WEIGHTINGS["dwa"].__name__ == "DynamicWeightAverage"
    assert sklearn_mtl.weighting.WEIGHTINGS is WEIGHTINGS
    assert OPTIMIZERS["adamw"] is torch.optim.AdamW
    assert resolve_optimizer("AdamW") is torch.optim.AdamW
    with pytest.raises(ValueError, match="optimizer='nope' is not supported"):
        resolve_optimizer("nope")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="is not a device"):
        resolve_device("toaster")


def test_check_precision_refuses_fp16_only_where_impossible():
    check_precision("bf16", torch.device("cpu"), None)
    check_precision("fp16", torch.device("cpu"), None)  # torch has CPU autocast and scaler
    with pytest.raises(ValueError, match="precision='fp16' needs float16 autocast"):
        check_precision("fp16", torch.device("meta"), None)
    parameter = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="cannot be used with optimizer=LBFGS"):
        check_precision("fp16", torch.device("cpu"), None, torch.optim.LBFGS([parameter]))


def test_pairwise_mean_masks_pairs_and_keeps_its_state_in_buffers():
    pairs = PairwiseMean(2)
    assert np.isnan(pairs.mean()).all()
    pairs.add(torch.ones(2, 2), torch.tensor([True, False]))
    pairs.add(3 * torch.ones(2, 2), torch.tensor([True, True]))
    np.testing.assert_array_equal(pairs.mean(), [[2.0, 3.0], [3.0, 3.0]])
    again = pickle.loads(pickle.dumps(pairs))
    np.testing.assert_array_equal(again.mean(), pairs.mean())
    assert set(pairs.state_dict()) == {"sum", "count"}
    pairs.reset()
    assert np.isnan(pairs.mean()).all()


def test_unwrap_pipelines_and_searches():
    est = MultiTaskNetEstimator()
    final, X, prefix = final_estimator(make_pipeline(StandardScaler(), est))
    assert final is est and X is None and prefix == "multitasknetestimator__"
    with pytest.raises(TypeError, match="not a MultiTaskNetEstimator, nor a Pipeline"):
        final_estimator(StandardScaler())
    with pytest.raises(TypeError, match="not a fitted MultiTaskNetEstimator"):
        fitted_estimator(est)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.column_stack([X[:, 0], X[:, 1] > 0])
    pipe = make_pipeline(StandardScaler(), MultiTaskNetEstimator(max_epochs=2, random_state=0))
    pipe.fit(X, y)
    final, Xt = fitted_estimator(pipe, X)
    assert final is pipe[-1]
    np.testing.assert_allclose(Xt, pipe[0].transform(X))


def _imports(path: pathlib.Path) -> set[str]:
    """The sklearn_mtl modules ``path`` imports (at any level of the file)."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.startswith("sklearn_mtl"):
                found.add(module)
    return found


def test_no_module_is_longer_than_600_lines():
    """One job a module: none of the package's modules is over 600 lines."""
    lengths = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > 600} == {}


PUBLIC_MODULES = [
    "sklearn_mtl",
    "sklearn_mtl.tasks",
    "sklearn_mtl.metrics",
    "sklearn_mtl.architectures",
    "sklearn_mtl.weighting",
    "sklearn_mtl.diagnostics",
    "sklearn_mtl.plotting",
    "sklearn_mtl.datasets",
    "sklearn_mtl.model_selection",
]


def test_the_public_name_count_is_the_documented_one():
    """design.rst states how many names the public modules' ``__all__`` hold."""
    import importlib

    count = sum(len(importlib.import_module(name).__all__) for name in PUBLIC_MODULES)
    design = (PACKAGE.parent / "docs" / "design.rst").read_text(encoding="utf-8")
    stated = re.search(r"in ``__all__`` \((\d+) names", design)
    assert stated is not None
    assert count == int(stated.group(1))


PRIVATE_IMPORT = re.compile(r"(from|import) sklearn_mtl\.(_\w+|\w+\._\w+)")


def test_no_doc_or_doctest_imports_a_private_module():
    """Docs, the README, examples and doctests import public modules only."""
    root = PACKAGE.parent
    sources = [root / "README.md", *root.glob("examples/*.py"), *root.glob("docs/*.rst")]
    sources += root.glob("docs/user_guide/*.rst")
    found = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in sources
        for line in path.read_text(encoding="utf-8").splitlines()
        if PRIVATE_IMPORT.search(line)
    ]
    for path in PACKAGE.rglob("*.py"):  # doctests
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith((">>>", "...")) and PRIVATE_IMPORT.search(stripped):
                found.append(f"{path.relative_to(root)}: {stripped}")
    assert found == []


def test_persistence_does_not_import_the_estimator():
    """No import cycle: the estimator imports the file format, never the reverse."""
    for name in ("_safe_format.py", "_persistence.py", "_checkpoint.py", "_training.py"):
        imported = _imports(PACKAGE / name)
        assert "sklearn_mtl._estimator" not in imported, name


def test_return_types_do_not_depend_on_pandas_being_installed(monkeypatch):
    """Without pandas, what returns a DataFrame raises a clear ImportError, before any fit."""
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.column_stack([X[:, 0], X[:, 1]])
    est = MultiTaskNetEstimator(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    with pytest.raises(ImportError, match=r"compare_single_task\(as_frame=True\).*pip install"):
        sklearn_mtl.diagnostics.compare_single_task(est, X, y, cv=2)
    with pytest.raises(ImportError, match=r"task_affinity .*pip install pandas"):
        sklearn_mtl.diagnostics.task_affinity(est, X, y)
    with pytest.raises(ImportError, match="record_task_affinity and task_relation"):
        clone_est = MultiTaskNetEstimator(
            hidden_layer_sizes=(4,), max_epochs=1, record_task_affinity=True
        )
        clone_est.fit(X, y)
    report = sklearn_mtl.diagnostics.compare_single_task(est, X, y, cv=2, as_frame=False)
    assert isinstance(report, dict) and list(report["task"]) == ["task0", "task1"]


def test_pickles_made_before_the_splits_find_their_classes():
    """Classes that moved keep their old import path, which pickles name."""
    from sklearn_mtl import _callbacks, _kinds, _net, _net_guard

    assert _net.BestValidScore is _callbacks.BestValidScore
    assert _net.NonFiniteLossError is _net_guard.NonFiniteLossError
    for name in ("Regression", "Binary", "Multiclass", "Multilabel", "Ordinal"):
        assert getattr(_kinds, name) is _kinds.KIND_CLASSES[name.lower()]
