"""What a fit says: early stopping's message and best_epoch_, ConvergenceWarning, verbose."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_mtl import MultiTaskNetEstimator
from sklearn_mtl._callbacks import still_improving


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=n), X[:, 1] > 0])
    return X, y


def _stopping(**params):
    base = {
        "hidden_layer_sizes": (16,),
        "max_epochs": 200,
        "lr": 0.01,
        "early_stopping": True,
        "n_iter_no_change": 4,
        "random_state": 0,
    }
    return MultiTaskNetEstimator(**{**base, **params})


def test_early_stopping_says_when_it_stopped_and_what_it_restored(capsys):
    X, y = _data()
    est = _stopping(verbose=1).fit(X, y)
    out = capsys.readouterr()
    assert est.n_iter_ < 200
    best = est.best_epoch_
    assert 1 <= best <= est.n_iter_ - 4
    message = re.search(
        r"Early stopping after epoch (\d+): .*restored the weights of epoch (\d+)", out.out
    )
    assert message is not None, out.out
    assert int(message.group(1)) == est.n_iter_
    assert int(message.group(2)) == best
    assert "tol=0.0001 for 4 epochs" in out.out
    # the progress bar counts the epoch in which training stopped
    assert f"{est.n_iter_}/200" in out.err


def test_best_epoch_is_marked_in_history_and_its_weights_are_kept():
    X, y = _data()
    est = _stopping().fit(X, y)
    marks = est.history_[:, "valid_score_best"]
    assert marks[0] is True
    best = est.best_epoch_
    assert marks[best - 1] is True and not any(marks[best:])
    valid = est.history_[:, "valid_score"]
    assert valid[best - 1] == pytest.approx(max(valid), abs=est.tol)
    # the restored weights are those of best_epoch_: refitting for exactly that many
    # epochs without early stopping's restore gives the same predictions
    again = _stopping(max_epochs=best, n_iter_no_change=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(X, y)
    np.testing.assert_allclose(again.predict(X[:20]), est.predict(X[:20]), rtol=1e-5)


def test_best_epoch_without_early_stopping_is_none_and_unfitted_has_none():
    assert not hasattr(MultiTaskNetEstimator(), "best_epoch_")
    X, y = _data(100)
    est = MultiTaskNetEstimator(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.best_epoch_ is None


def test_best_epoch_survives_save_and_load(tmp_path):
    X, y = _data()
    est = _stopping().fit(X, y)
    path = tmp_path / "model.mtl"
    est.save(path)
    assert MultiTaskNetEstimator.load(path).best_epoch_ == est.best_epoch_


def test_convergence_warning_when_max_epochs_runs_out_while_loss_falls():
    X, y = _data()
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(16,), max_epochs=5, random_state=0, early_stopping=False
    )
    with pytest.warns(ConvergenceWarning, match="max_epochs=5 ran out while the training loss"):
        est.fit(X, y)


def test_refit_warns_when_max_epochs_runs_out_while_the_validation_loss_falls():
    """The default early_stopping="refit", in a run shorter than n_iter_no_change."""
    X, y = _data()
    est = MultiTaskNetEstimator(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_epochs=5 ran out while the validation") as rec:
        est.fit(X, y)
    assert "the refit on all rows trains for 5 epochs" in str(rec[0].message)
    assert rec[0].filename == __file__


def test_refit_does_not_warn_when_the_validation_loss_has_flattened():
    X, y = _data()
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(8,), max_epochs=6, n_iter_no_change=3, lr=1e-12, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)


def test_no_convergence_warning_once_the_loss_has_flattened():
    X, y = _data()
    # lr=0: the loss never moves, so the fit has converged by the MLP criterion
    est = MultiTaskNetEstimator(
        hidden_layer_sizes=(8,), max_epochs=6, n_iter_no_change=3, lr=1e-12, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)


def test_convergence_warning_with_early_stopping_that_did_not_stop():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="validation score was still improving") as rec:
        est = _stopping(max_epochs=3).fit(X, y)
    assert f"restored the weights of epoch {est.best_epoch_}" in str(rec[0].message)
    # the warning points at the caller, not at the package
    assert rec[0].filename == __file__


def test_partial_fit_and_stopped_fits_do_not_warn():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _stopping().fit(X, y)
        MultiTaskNetEstimator(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y)


def test_still_improving_is_the_mlp_criterion():
    assert still_improving([1.0, 0.9, 0.8], tol=0.0, n_iter_no_change=2)
    assert not still_improving([1.0, 0.9, 0.95, 0.91], tol=0.0, n_iter_no_change=2)
    # a decrease smaller than tol is no improvement
    assert not still_improving([1.0, 0.99995, 0.9999], tol=1e-3, n_iter_no_change=2)
    assert still_improving([1.0, float("nan"), 0.5], tol=1e-3, n_iter_no_change=2)


def test_verbose_line_labels_losses_and_scores(capsys):
    X, y = _data()
    _stopping(verbose=2, max_epochs=200).fit(X, y)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "score = unweighted mean of the task scores (task0: r2, task1: accuracy)" in lines[0]
    epoch = lines[1]
    assert re.match(
        r"epoch +1 \| train loss task0=[\d.]+ task1=[\d.]+, score [-\d.]+ \| "
        r"valid loss task0=[\d.]+ task1=[\d.]+, score [-\d.]+ \(best\) \| [\d.]+s$",
        epoch,
    ), epoch
    assert sum("(best)" in line for line in lines) >= 1
    assert "Early stopping after epoch" in lines[-1]


def test_progress_bar_names_history_keys(capsys):
    X, y = _data(100)
    est = MultiTaskNetEstimator(hidden_layer_sizes=(8,), max_epochs=2, random_state=0, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    err = capsys.readouterr().err
    assert "train_loss_task0=" in err and "train_score=" in err


def test_convergence_warning_through_a_pipeline_points_at_the_caller():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _data(100)
    pipe = make_pipeline(
        StandardScaler(), MultiTaskNetEstimator(hidden_layer_sizes=(4,), max_epochs=3)
    )
    with pytest.warns(ConvergenceWarning) as record:
        pipe.fit(X, y)
    assert record[0].filename == __file__
