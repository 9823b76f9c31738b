"""The README's Python snippet runs as it stands, and says what it does."""

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_one_python_snippet():
    assert len(_python_blocks()) == 1


def test_readme_snippet_runs_as_it_stands():
    pytest.importorskip("pandas")
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        exec(compile(_python_blocks()[0], str(README), "exec"), namespace)
    # the fitted model is the search when there is one, else the estimator
    model = namespace.get("search", namespace.get("est"))
    X_new, Y = namespace["X_new"], namespace["Y"]
    predictions = model.predict(X_new)
    assert list(predictions.columns) == list(Y.columns)
    assert len(predictions) == len(X_new)


def test_readme_comments_count_the_label_columns_right():
    block = _python_blocks()[0]
    pytest.importorskip("pandas")
    from sklearn_mtl.datasets import make_shop

    _, Y = make_shop(n_samples=10)
    words = {3: "three", 4: "four", 5: "five"}
    counts = re.findall(r"(\d+|three|four|five) label columns", block)
    assert counts, "the snippet says how many label columns Y has"
    for count in counts:
        assert count in (str(Y.shape[1]), words[Y.shape[1]])
