"""The README's quickstart (``python -m sklearn_mtl``) runs and prints its table."""

from sklearn_mtl._quickstart import main


def test_quickstart_smoke(capsys):
    results = main(smoke=True)
    assert set(results) == {"multi-task net", "same net, one task", "sklearn MLP", "linear model"}
    assert all(set(scores) == {"spend", "bought", "segment"} for scores in results.values())
    out = capsys.readouterr().out
    assert "multi-task net" in out and "spend (regression)" in out
