"""The README's quickstart (``python -m sklearn_mtl``) runs and prints its table."""

import re

from sklearn_mtl._quickstart import _conclusion, main


def test_quickstart_smoke(capsys):
    results = main(smoke=True)
    assert set(results) == {"multi-task net", "same net, one task", "sklearn MLP", "linear model"}
    assert all(set(scores) == {"spend", "bought", "segment"} for scores in results.values())
    captured = capsys.readouterr()
    out = captured.out
    assert "multi-task net" in out and "spend (regression)" in out
    # it says that it was a smoke run, first and last
    lines = out.strip().splitlines()
    assert lines[0].startswith("Smoke run (SKLEARN_MTL_SMOKE=1): 400 rows and 5 epochs")
    assert "scores mean nothing" in lines[0] and "Smoke run" in lines[-1]
    # what it fits, its progress, and a one-line conclusion
    assert "Fitting the multi-task net (shared hidden layer(s) of 100 units" in out
    assert re.search(r"Fitted 5 epochs in [\d.]+s \(the training loss was still falling", out)
    assert "5/5" in captured.err  # the progress bar of the multi-task fit
    assert sum(line.startswith("Conclusion: ") for line in lines) == 1


def test_conclusion_names_the_task_that_gains_most():
    results = {
        "multi-task net": {"spend": 0.5, "bought": 0.8, "segment": 0.6},
        "same net, one task": {"spend": 0.52, "bought": 0.692, "segment": 0.58},
    }
    line = _conclusion(results, ["spend", "bought", "segment"])
    assert line.startswith("Conclusion: sharing helps bought most: +0.108 over the same net")
    assert "spend -0.020" in line and "segment +0.020" in line
    worse = {"multi-task net": {"a": 0.1}, "same net, one task": {"a": 0.2}}
    assert _conclusion(worse, ["a"]) == (
        "Conclusion: sharing does not help here: no task scores higher than the same net "
        "trained on it alone (a -0.100; one test split)."
    )
