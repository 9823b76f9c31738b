"""Does multi-task learning pay? Single-task baselines, task affinity, task groups.

- :func:`compare_single_task` cross-validates the multi-task model against the same
  network trained on each task alone (and, optionally, any other estimator per task),
  with paired tests across folds, the overall :func:`delta_m`, and a negative-transfer
  flag per task.
- :func:`task_affinity` measures the lookahead inter-task affinity of TAG (Fifty et
  al., 2021) during a training run; :func:`suggest_task_groups` proposes which tasks to
  train together from any affinity matrix.

The gradient cosine similarity recorded during an ordinary fit is the estimator's
``record_task_affinity`` option, and the learned task correlation of multi-task
relationship learning its ``task_relation`` option (:class:`~sklearn_mtl.MTRL`).
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import _safe_indexing
from skorch.callbacks import Callback

from ._kinds import kind_of
from ._relationship import relation_matrix_frame
from ._targets import as_target_table, missing_mask
from .metrics import METRICS, _metric_spec, _unwrap, task_score
from .tasks import Task, TaskEncoder, resolve_tasks

__all__ = ["compare_single_task", "delta_m", "suggest_task_groups", "task_affinity"]

_TESTS = ("ttest", "corrected_ttest", "wilcoxon")


# -- helpers: the estimator inside a Pipeline ------------------------------------------------
def _final_step(estimator):
    """The MultiTaskNetEstimator at the end of ``estimator`` and its parameter prefix."""
    prefix = ""
    while hasattr(estimator, "steps"):
        name, last = estimator.steps[-1]
        prefix += f"{name}__"
        estimator = last
    if not hasattr(estimator, "score_tasks") or not hasattr(estimator, "tasks"):
        raise TypeError(
            f"{type(estimator).__name__} is not a MultiTaskNetEstimator, nor a Pipeline "
            "ending with one."
        )
    return estimator, prefix


def _resolved_tasks(estimator, y) -> list[tuple[Task, tuple[int, ...]]]:
    """The tasks of ``estimator`` on y, with kinds inferred from all of y."""
    final, _ = _final_step(estimator)
    table = as_target_table(y)
    resolved = []
    for task, positions in resolve_tasks(final.tasks, table):
        encoder = TaskEncoder(task, positions).fit(table)
        resolved.append((encoder.task_, positions))
    return resolved


def _metrics_for(tasks: Sequence[Task], scoring) -> dict[str, str]:
    """Metric name of every task from ``scoring`` (None, a name, or a dict)."""
    names = [task.name for task in tasks]
    if scoring is None:
        scoring = {}
    elif isinstance(scoring, str):
        scoring = dict.fromkeys(names, scoring)
    elif not isinstance(scoring, Mapping):
        raise TypeError(
            f"scoring must be None, a metric name or a dict {{task: metric name}}; got {scoring!r}."
        )
    unknown = sorted(set(scoring) - set(names))
    if unknown:
        raise ValueError(f"scoring names unknown task(s) {unknown}; the tasks are {names}.")
    metrics = {}
    for task in tasks:
        metric = scoring.get(task.name) or task.metric or kind_of(task).default_metric
        _metric_spec(metric, kind_of(task), task.name)
        metrics[task.name] = metric
    return metrics


def _with_tasks(estimator, tasks: Sequence[Task]):
    """``clone(estimator)`` with its tasks (kinds, columns) resolved on all of y."""
    _, prefix = _final_step(estimator)
    return clone(estimator).set_params(**{f"{prefix}tasks": list(tasks)})


def _strata(table, resolved) -> np.ndarray:
    """A 1-D target for stratified splitters: the labels (as text) of the first
    classification task, ``"<missing>"`` where missing; zeros without one."""
    for task, positions in resolved:
        if kind_of(task).is_classification and len(positions) == 1:
            column = table.columns[positions[0]]
            labels = np.array([str(v) for v in column], dtype=object)
            labels[missing_mask(column)] = "<missing>"
            return labels
    return np.zeros(table.n_samples)


def _warn_missing_folds(scores: np.ndarray, names: Sequence[str]) -> None:
    """Warn, naming task and fold, about folds whose test rows hold no label of a task
    (or whose fits failed there): they are left out of that task's means and tests."""
    for j, name in enumerate(names):
        folds = np.flatnonzero(np.isnan(scores[:, j])).tolist()
        if folds:
            warnings.warn(
                f"compare_single_task: task {name!r} has no score in fold(s) {folds} (no "
                "label in their test rows); they are left out of its mean, standard error "
                "and test. Use a splitter that gives every fold labels of every task.",
                UserWarning,
                stacklevel=3,
            )


def _single_task_estimator(estimator, task: Task, n_columns: int, is_frame: bool):
    """``clone(estimator)`` set up to learn ``task`` alone from its own columns of y."""
    final, prefix = _final_step(estimator)
    columns = task.columns if is_frame else tuple(range(n_columns))
    alone = replace(task, columns=columns, inputs_from=())
    weights = final.task_weights
    weight = weights.get(task.name) if isinstance(weights, Mapping) else None
    single_weights = {task.name: weight} if weight else None
    return clone(estimator).set_params(
        **{f"{prefix}tasks": [alone], f"{prefix}task_weights": single_weights}
    )


def _columns(y, positions: Sequence[int]):
    """y restricted to some columns, keeping a DataFrame's names (always 2-D)."""
    if hasattr(y, "iloc") and hasattr(y, "columns"):
        return y.iloc[:, list(positions)]
    array = np.asarray(y)
    if array.ndim == 1:
        return array[:, None]
    return array[:, list(positions)]


# -- helpers: a user baseline scored like the network ----------------------------------------
def _baseline_for(baseline, task: Task):
    if isinstance(baseline, Mapping):
        found = baseline.get(task.name, baseline.get(str(task.kind)))
        if found is None:
            raise ValueError(
                f"baseline has no estimator for task {task.name!r} (kind {task.kind!r}); "
                "key the dict by task name or by kind."
            )
        baseline = found
    if not task.is_classification and is_classifier(baseline):
        raise ValueError(
            f"The baseline for regression task {task.name!r} is a classifier "
            f"({type(baseline).__name__}); pass a dict {{kind: estimator}}."
        )
    if task.is_classification and is_regressor(baseline):
        raise ValueError(
            f"The baseline for {task.kind} task {task.name!r} is a regressor "
            f"({type(baseline).__name__}); pass a dict {{kind: estimator}}."
        )
    return baseline


def _model_name(baseline) -> str:
    """A readable name of a baseline: its class, a Pipeline's last step, a dict's values."""
    if isinstance(baseline, Mapping):
        names = dict.fromkeys(_model_name(model) for model in baseline.values())
        return " / ".join(names)
    steps = getattr(baseline, "steps", None)
    if steps:
        return _model_name(steps[-1][1])
    return type(baseline).__name__


def _class_columns(model, probabilities, n_classes: int) -> np.ndarray:
    """Probabilities in the encoder's class order (classes the model never saw get 0)."""
    classes = np.asarray(getattr(model, "classes_", np.arange(n_classes))).astype(np.int64)
    full = np.zeros((probabilities.shape[0], n_classes))
    full[:, classes] = probabilities
    return full


def _baseline_outputs(model, encoder: TaskEncoder, X, response: str) -> np.ndarray:
    """The baseline's predictions on X as raw network-like outputs of ``encoder``'s task."""
    kind = encoder.kind_
    if response != "proba":
        return kind.raw_from_predictions(encoder, np.asarray(model.predict(X)))
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"The metric of task {encoder.task_.name!r} needs probabilities, but the "
            f"baseline {type(model).__name__} has no predict_proba."
        )
    proba = model.predict_proba(X)
    if kind.multi_column:
        if isinstance(proba, list):  # MultiOutputClassifier: one (n, 2) array per label
            proba = np.column_stack([p[:, -1] for p in proba])
        return kind.raw_from_proba(encoder, proba)
    assert encoder.classes_ is not None
    n_classes = len(encoder.classes_)
    return kind.raw_from_proba(encoder, _class_columns(model, np.asarray(proba), n_classes))


def _fit_score_baseline(baseline, task, positions, metric, X, y, train, test):
    """Fit ``baseline`` on the task's labelled training rows and score it on the test rows."""
    table_train = as_target_table(_safe_indexing(y, train))
    encoder = TaskEncoder(task, positions).fit(table_train)
    targets = encoder.encode(table_train)
    rows = ~np.isnan(targets).any(axis=1)
    if not encoder.kind_.is_classification:
        values = table_train.columns[positions[0]][rows].astype(np.float64)
    elif encoder.kind_.multi_column:
        values = targets[rows].astype(np.int64)
    else:
        values = targets[rows, 0].astype(np.int64)
    X_train = _safe_indexing(X, train)
    model = clone(baseline).fit(_safe_indexing(X_train, np.flatnonzero(rows)), values)
    X_test = _safe_indexing(X, test)
    table_test = as_target_table(_safe_indexing(y, test))
    outputs = _baseline_outputs(model, encoder, X_test, METRICS[metric].response)
    return task_score(encoder, table_test, outputs, metric)


# -- the cross-validation jobs -------------------------------------------------------------
def _fit_score_network(estimator, X, y, train, test, metrics, fit_params):
    model = clone(estimator).fit(_safe_indexing(X, train), _safe_indexing(y, train), **fit_params)
    final, X_test = _unwrap(model, _safe_indexing(X, test))
    return final.score_tasks(X_test, _safe_indexing(y, test), metrics=metrics)


def _job(
    kind, fold, estimator, X, y, train, test, metrics, task=None, positions=None, fit_params=None
):
    if kind == "baseline":
        score = _fit_score_baseline(
            estimator, task, positions, metrics[task.name], X, y, train, test
        )
        return kind, fold, {task.name: score}
    if kind == "single":
        y = _columns(y, positions)
        metrics = {task.name: metrics[task.name]}
    return kind, fold, _fit_score_network(estimator, X, y, train, test, metrics, fit_params or {})


# -- statistics ----------------------------------------------------------------------------
def delta_m(scores, reference_scores, higher_is_better=True) -> float:
    """Mean relative improvement over a reference, in percent (Maninis et al., 2019).

    ``Delta_m = 100 / T * sum_t (-1)^l_t (M_t - R_t) / |R_t|`` where ``l_t`` is 1 when a
    lower value of task t's metric is better. With the scores of this package (higher is
    better; errors are negated), this is the mean of ``(M_t - R_t) / |R_t|``. Tasks
    whose reference is 0 or whose scores are NaN are left out.

    Parameters
    ----------
    scores : array-like or dict of str to float
        The multi-task model's score per task.
    reference_scores : array-like or dict of str to float
        The single-task reference's score per task (same tasks, same order or keys).
    higher_is_better : bool or array-like of bool, default=True
        Per task or for all tasks.

    Returns
    -------
    float
        Delta_m in percent: positive when multi-task learning improves on the reference.

    References
    ----------
    Maninis, K.-K., Radosavovic, I. and Kokkinos, I. (2019). Attentive single-tasking of
    multiple tasks. *CVPR 2019*.

    Examples
    --------
    >>> from sklearn_mtl import delta_m
    >>> round(delta_m({"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.5}), 6)
    6.25
    >>> round(delta_m([0.2, 0.5], [0.25, 0.5], higher_is_better=[False, True]), 6)  # an error
    10.0
    """
    if isinstance(scores, Mapping):
        if not isinstance(reference_scores, Mapping) or set(scores) != set(reference_scores):
            raise ValueError("scores and reference_scores must name the same tasks.")
        names = list(scores)
        if isinstance(higher_is_better, Mapping):
            higher_is_better = [higher_is_better[name] for name in names]
        scores = [scores[name] for name in names]
        reference_scores = [reference_scores[name] for name in names]
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    reference = np.asarray(reference_scores, dtype=np.float64).reshape(-1)
    if values.shape != reference.shape:
        raise ValueError(
            f"scores has {values.size} task(s) but reference_scores has {reference.size}."
        )
    sign = np.where(
        np.broadcast_to(np.asarray(higher_is_better, dtype=bool), values.shape), 1.0, -1.0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = sign * (values - reference) / np.abs(reference)
    relative = relative[np.isfinite(relative)]
    return float(100.0 * relative.mean()) if relative.size else float("nan")


def _paired(a: np.ndarray, b: np.ndarray, test: str, test_fraction: float):
    """Mean difference a - b, its standard error over folds and a two-sided p-value."""
    keep = np.isfinite(a) & np.isfinite(b)
    diff = a[keep] - b[keep]
    k = diff.size
    if k == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(diff.mean())
    if k < 2:
        return mean, float("nan"), float("nan")
    sd = float(diff.std(ddof=1))
    se = sd / math.sqrt(k)
    if test == "wilcoxon":
        if np.all(diff == 0):
            return mean, se, 1.0
        return mean, se, float(stats.wilcoxon(diff).pvalue)
    if sd == 0:
        return mean, se, 1.0 if mean == 0 else 0.0
    if test == "corrected_ttest":  # Nadeau and Bengio (2003)
        scale = sd * math.sqrt(1.0 / k + test_fraction / (1.0 - test_fraction))
        t = mean / scale
        return mean, se, float(2 * stats.t.sf(abs(t), k - 1))
    return mean, se, float(stats.ttest_rel(a[keep], b[keep]).pvalue)


def _standard_error(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) / math.sqrt(values.size))


def compare_single_task(
    estimator,
    X,
    y,
    *,
    cv=5,
    scoring=None,
    baseline=None,
    groups=None,
    n_jobs=None,
    test="ttest",
    alpha=0.05,
    fit_params=None,
    as_frame=True,
):
    """Cross-validate a multi-task model against single-task models of the same network.

    For each split of ``cv``, fits on the training rows (a) the multi-task
    ``estimator``, (b) for every task, the same network with the same hyperparameters
    trained on that task alone (``tasks=[task]``, one head, y restricted to the task's
    columns; rows where the task's label is missing still pass through the network but
    do not enter its loss, as in the multi-task fit) and (c) optionally a ``baseline``
    estimator per task, fitted on the task's labelled rows only; then scores every task
    on the test rows. The jobs (splits x models) run in parallel with joblib.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline ending with one
        The multi-task model (not fitted; it is cloned).
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : array-like or DataFrame of shape (n_samples, n_columns)
        Labels, NaN where missing.
    cv : int, cross-validation generator or iterable, default=5
        An int is ``KFold(cv, shuffle=True, random_state=0)``: tables are often sorted
        (by class, by date) and contiguous folds would miss whole classes. Pass
        ``GroupKFold`` with ``groups`` for grouped rows, ``TimeSeriesSplit`` for time
        order, or a dataset's ``cv``; a stratified splitter stratifies on the first
        classification task. The task kinds are inferred once, from all of y, and
        given to every fold's models. A fold whose test rows hold no label of a task
        gives it no score there: it is left out of that task's mean and test, with a
        warning naming the task and the fold.
    scoring : None, str or dict of str to str, default=None
        Metric per task from :data:`sklearn_mtl.metrics.METRICS` (higher is better;
        errors are negated). None is each task's ``metric``, else its kind's default
        (R², accuracy, 1 - Hamming loss); a str applies to every task; a dict names
        some tasks, the others keep their default.
    baseline : estimator or dict, default=None
        An extra per-task reference such as ``HistGradientBoostingRegressor()``. A dict
        maps a task name or a kind (``"regression"``, ``"binary"``, ...) to an estimator.
        It is fitted on raw X (wrap it in its own Pipeline for preprocessing) and, for a
        classification task, on the class indices 0..k-1 (a multilabel task: the 0/1
        label matrix, e.g. for a ``MultiOutputClassifier``); metrics that need
        probabilities use its ``predict_proba``.
    groups : array-like of shape (n_samples,), default=None
        Group labels for the splitter (e.g. patient ids with ``GroupKFold``).
    n_jobs : int, default=None
        Parallel jobs (joblib); None is 1, -1 all cores. With the default loky backend
        each worker gets ``n_cores // n_jobs`` torch threads. Seeded fits are
        reproducible with the threading backend too, but threads share the cores.
    test : {"ttest", "corrected_ttest", "wilcoxon"}, default="ttest"
        Paired test of the per-fold differences: Student's paired t-test, the t-test
        with Nadeau and Bengio's correction for the overlap of cross-validation training
        sets (more conservative, recommended with repeated or many splits), or the
        Wilcoxon signed-rank test.
    alpha : float, default=0.05
        Level for the ``significant`` column.
    fit_params : dict, default=None
        Extra arguments of every network's ``fit`` (e.g. ``sample_weight`` is not
        split: pass per-row arrays through a Pipeline's routing instead).
    as_frame : bool, default=True
        Return a pandas DataFrame (when pandas is installed); False returns a dict.

    Returns
    -------
    report : DataFrame or dict
        One row per task (the index is the task name), with columns ``kind``,
        ``metric``, ``multi_task`` and ``multi_task_se`` (mean score over folds and its
        standard error), ``single_task`` and ``single_task_se``, ``difference``
        (multi-task minus single-task, positive when sharing helps) and
        ``difference_se``, ``p_value`` (paired test), ``relative_improvement`` (percent
        of the single-task score's magnitude), ``significant`` (``p_value < alpha``),
        ``negative_transfer`` (True when the multi-task score is lower on average
        *and* the difference is significant: a lower mean alone is not flagged);
        with a baseline also ``baseline``, ``baseline_se``, ``difference_baseline``,
        ``difference_baseline_se``, ``p_value_baseline``. ``report.attrs`` holds
        ``delta_m`` (:func:`delta_m` of the mean scores, percent), ``delta_m_se`` (the
        standard error of the per-fold Delta_m), ``n_splits``, ``test``, ``baseline_name``
        (the baseline's model name, None without one) and
        ``fold_scores`` (a dict of ``(n_splits, n_tasks)`` arrays). The dict form has
        the same keys, with ``"task"`` and per-task arrays.

    Notes
    -----
    Folds share most of their training rows, so their scores are not independent: the
    standard errors and the plain t-test are optimistic (Nadeau and Bengio, 2003;
    Bouckaert and Frank, 2004). Read small differences with care, prefer
    ``test="corrected_ttest"``, and more splits (e.g. ``RepeatedKFold``) when the
    budget allows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, compare_single_task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(150, 5))
    >>> y = np.column_stack([X[:, 0] + X[:, 1], X[:, 0] - X[:, 1] > 0])
    >>> est = MultiTaskNetEstimator(hidden_layer_sizes=(16,), max_epochs=20, lr=0.01,
    ...                             random_state=0)
    >>> report = compare_single_task(est, X, y, cv=3)
    >>> report.columns[:6].tolist()
    ['kind', 'metric', 'multi_task', 'multi_task_se', 'single_task', 'single_task_se']
    >>> report.loc["task1", "metric"], report.attrs["n_splits"]
    ('accuracy', 3)
    """
    if test not in _TESTS:
        raise ValueError(f"test must be one of {_TESTS}; got {test!r}.")
    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    fit_params = dict(fit_params or {})
    resolved = _resolved_tasks(estimator, y)
    tasks = [task for task, _ in resolved]
    names = [task.name for task in tasks]
    metrics = _metrics_for(tasks, scoring)
    table = as_target_table(y)
    n_samples = table.n_samples
    # An int is a shuffled KFold: tables are often sorted (by class, by date), and
    # contiguous folds would then miss whole classes.
    splitter = (
        KFold(int(cv), shuffle=True, random_state=0)
        if isinstance(cv, numbers.Integral)
        else check_cv(cv)
    )
    # Stratified splitters read a 1-D target: the first classification task's labels.
    splits = list(splitter.split(X, _strata(table, resolved), groups))
    if not splits:
        raise ValueError("cv produced no split.")
    # The kinds inferred from all of y, given to every fold (a fold would re-infer).
    multi_estimator = _with_tasks(estimator, tasks)
    test_fraction = float(np.mean([len(te) / (len(tr) + len(te)) for tr, te in splits]))

    jobs = []
    for fold, (train, test_rows) in enumerate(splits):
        jobs.append(
            delayed(_job)(
                "multi",
                fold,
                multi_estimator,
                X,
                y,
                train,
                test_rows,
                metrics,
                fit_params=fit_params,
            )
        )
        for task, positions in resolved:
            single = _single_task_estimator(estimator, task, len(positions), table.is_frame)
            jobs.append(
                delayed(_job)(
                    "single",
                    fold,
                    single,
                    X,
                    y,
                    train,
                    test_rows,
                    metrics,
                    task=task,
                    positions=positions,
                    fit_params=fit_params,
                )
            )
            if baseline is not None:
                jobs.append(
                    delayed(_job)(
                        "baseline",
                        fold,
                        _baseline_for(baseline, task),
                        X,
                        y,
                        train,
                        test_rows,
                        metrics,
                        task=task,
                        positions=positions,
                    )
                )
    results = Parallel(n_jobs=n_jobs)(jobs)

    kinds = ["multi", "single"] + (["baseline"] if baseline is not None else [])
    fold_scores = {kind: np.full((len(splits), len(names)), np.nan) for kind in kinds}
    for kind, fold, scores in results:
        for name, score in scores.items():
            fold_scores[kind][fold, names.index(name)] = score
    _warn_missing_folds(fold_scores["multi"], names)

    multi, single = fold_scores["multi"], fold_scores["single"]
    report: dict[str, object] = {
        "task": np.array(names, dtype=object),
        "kind": np.array([task.kind for task in tasks], dtype=object),
        "metric": np.array([metrics[name] for name in names], dtype=object),
    }
    columns = {
        key: []
        for key in (
            "multi_task",
            "multi_task_se",
            "single_task",
            "single_task_se",
            "difference",
            "difference_se",
            "p_value",
            "relative_improvement",
        )
    }
    baseline_columns = {
        key: []
        for key in (
            "baseline",
            "baseline_se",
            "difference_baseline",
            "difference_baseline_se",
            "p_value_baseline",
        )
    }
    for j in range(len(names)):
        diff, diff_se, p_value = _paired(multi[:, j], single[:, j], test, test_fraction)
        columns["multi_task"].append(np.nanmean(multi[:, j]))
        columns["multi_task_se"].append(_standard_error(multi[:, j]))
        columns["single_task"].append(np.nanmean(single[:, j]))
        columns["single_task_se"].append(_standard_error(single[:, j]))
        columns["difference"].append(diff)
        columns["difference_se"].append(diff_se)
        columns["p_value"].append(p_value)
        columns["relative_improvement"].append(
            delta_m([columns["multi_task"][-1]], [columns["single_task"][-1]])
        )
        if baseline is not None:
            other = fold_scores["baseline"][:, j]
            diff_b, diff_b_se, p_b = _paired(multi[:, j], other, test, test_fraction)
            baseline_columns["baseline"].append(np.nanmean(other))
            baseline_columns["baseline_se"].append(_standard_error(other))
            baseline_columns["difference_baseline"].append(diff_b)
            baseline_columns["difference_baseline_se"].append(diff_b_se)
            baseline_columns["p_value_baseline"].append(p_b)
    for key, values in columns.items():
        report[key] = np.asarray(values, dtype=np.float64)
    difference = np.asarray(report["difference"])
    p_values = np.asarray(report["p_value"])
    report["significant"] = np.nan_to_num(p_values, nan=1.0) < alpha
    # Flag only what the test supports: a lower mean score is not yet negative transfer.
    report["negative_transfer"] = (difference < 0) & report["significant"]
    if baseline is not None:
        for key, values in baseline_columns.items():
            report[key] = np.asarray(values, dtype=np.float64)

    per_fold = np.array([delta_m(multi[f], single[f]) for f in range(len(splits))])
    summary = {
        "delta_m": delta_m(np.asarray(report["multi_task"]), np.asarray(report["single_task"])),
        "delta_m_se": _standard_error(per_fold),
        "n_splits": len(splits),
        "n_samples": n_samples,
        "test": test,
        "fold_scores": fold_scores,
        "baseline_name": None if baseline is None else _model_name(baseline),
    }
    if as_frame:
        try:
            import pandas as pd
        except ImportError:
            as_frame = False
    if not as_frame:
        return {**report, **summary}
    frame = pd.DataFrame(
        {k: v for k, v in report.items() if k != "task"}, index=pd.Index(names, name="task")
    )
    frame.attrs.update(summary)
    return frame


# -- TAG lookahead affinity ------------------------------------------------------------------
class LookaheadAffinity(Callback):
    """skorch callback: TAG's lookahead inter-task affinity, accumulated during training.

    Before a sampled training step, for every task ``i`` with labels in the batch, the
    shared parameters take a plain gradient step on task ``i``'s loss alone,
    ``theta_s' = theta_s - lr * grad L_i``, and the affinity of ``i`` onto ``j`` is
    ``1 - L_j(theta_s', theta_j) / L_j(theta_s, theta_j)`` on the same batch: positive
    when a step for task ``i`` lowers task ``j``'s loss. The network itself is not
    changed; evaluation is in eval mode (no dropout).

    Parameters
    ----------
    lr : float or None
        Step size of the lookahead; None takes the net's ``lr``.
    every : int
        Use every ``every``-th training batch.
    """

    def __init__(self, lr: float | None = None, every: int = 1):
        self.lr = lr
        self.every = every

    def initialize(self):
        self.sum_: torch.Tensor | None = None
        self.count_: torch.Tensor | None = None
        self.batches_ = 0
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        self.batches_ += 1
        if (self.batches_ - 1) % self.every:
            return
        module = net.module_
        shared = [p for p in module.shared_parameters() if p.requires_grad]
        if not shared:
            raise ValueError(
                f"task_affinity needs shared parameters; the architecture "
                f"{type(module).__name__} declares none (no parameter is shared by all tasks)."
            )
        ids = {id(p): name for name, p in module.named_parameters()}
        names = [ids[id(p)] for p in shared]
        X, targets, weight = batch
        was_training = module.training
        module.eval()
        try:
            with torch.enable_grad():
                losses, present = net.criterion_.task_losses(module(X), targets, weight)
            n_tasks = losses.shape[0]
            step = net.lr if self.lr is None else self.lr
            rows = []
            with torch.no_grad():
                base = losses.detach()
            for i in range(n_tasks):
                grads = torch.autograd.grad(losses[i], shared, retain_graph=True, allow_unused=True)
                moved = {
                    name: p - step * (g if g is not None else torch.zeros_like(p))
                    for name, p, g in zip(names, shared, grads, strict=True)
                }
                with torch.no_grad():
                    outputs = torch.func.functional_call(module, moved, (X,))
                    after, _ = net.criterion_.task_losses(outputs, targets, weight)
                rows.append(1.0 - after / base.clamp(min=1e-12))
        finally:
            module.train(was_training)
        affinity = torch.stack(rows).detach()
        valid = present & (base > 0)
        pair = (valid[:, None] & valid[None, :]).to(affinity.dtype)
        if self.sum_ is None:
            self.sum_ = torch.zeros_like(affinity)
            self.count_ = torch.zeros_like(affinity)
        assert self.count_ is not None
        self.sum_ += torch.where(pair > 0, affinity, torch.zeros_like(affinity))
        self.count_ += pair

    def affinity(self) -> np.ndarray:
        """The mean affinity over the sampled steps (NaN for pairs never seen together)."""
        if self.sum_ is None or self.count_ is None:
            raise ValueError("No training batch was sampled: the affinity is undefined.")
        count = self.count_.cpu().numpy()
        mean = (self.sum_ / self.count_.clamp(min=1)).cpu().numpy().astype(np.float64)
        mean[count == 0] = np.nan
        return mean


def task_affinity(estimator, X, y, *, lookahead_lr=None, every=1, symmetric=False):
    """Lookahead inter-task affinity (TAG, Fifty et al., 2021) measured over one training run.

    Fits a clone of ``estimator`` on X, y and, on every ``every``-th training batch,
    measures how one gradient step on task ``i`` alone changes the loss of task ``j``
    on that batch: ``Z[i, j] = 1 - L_j(after step on i) / L_j(before)``, averaged over
    training. Positive values mean that training on ``i`` helps ``j``; negative, that it
    hurts (a sign of negative transfer). The step is a plain gradient step of size
    ``lookahead_lr`` on the shared parameters only (the task heads are unchanged).

    Cost: on each sampled batch, one forward pass, one backward pass per task through
    the shared layers and one forward pass per task, on top of the ordinary training
    step; ``every=k`` divides this by about k.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator or Pipeline ending with one
        The model (cloned; the preprocessing steps of a Pipeline are fitted on X first).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples, n_columns)
    lookahead_lr : float, default=None
        Step size of the lookahead; None is the estimator's ``lr``. The affinities scale
        roughly with it, their ordering hardly.
    every : int, default=1
        Measure on every ``every``-th training batch.
    symmetric : bool, default=False
        Return ``(Z + Z^T) / 2`` instead of the directed matrix.

    Returns
    -------
    affinity : DataFrame or ndarray of shape (n_tasks, n_tasks)
        ``affinity[i, j]``: effect of a step on task ``i`` (row) on task ``j``'s loss
        (column), indexed by task names (an array when pandas is missing). The diagonal
        is each task's own relative loss decrease.

    See Also
    --------
    suggest_task_groups : which tasks to train together, from this matrix.

    References
    ----------
    Fifty, C., Amid, E., Zhao, Z., Yu, T., Anil, R. and Finn, C. (2021). Efficiently
    identifying task groupings for multi-task learning. *NeurIPS 2021*.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator, task_affinity
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0], X[:, 0] + 0.1 * rng.normal(size=200), X[:, 3] ** 2])
    >>> est = MultiTaskNetEstimator(hidden_layer_sizes=(16,), max_epochs=5, lr=0.05,
    ...                             batch_size=32, random_state=0)
    >>> affinity = task_affinity(est, X, y)  # 35 steps, while the losses still fall
    >>> affinity.shape
    (3, 3)
    >>> bool(affinity.loc["task0", "task1"] > affinity.loc["task0", "task2"])
    True
    """
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"every must be a positive int; got {every!r}.")
    if lookahead_lr is not None and (
        not isinstance(lookahead_lr, numbers.Real) or not lookahead_lr > 0
    ):
        raise ValueError(f"lookahead_lr must be a positive number; got {lookahead_lr!r}.")
    model, Xt = clone(estimator), X
    while hasattr(model, "steps"):  # fit the transformers of (nested) Pipelines in front
        if len(model.steps) > 1:
            Xt = model[:-1].fit_transform(Xt, y)
        model = model.steps[-1][1]
    _final_step(model)
    callbacks = list(model.callbacks or [])
    callbacks.append(("task_affinity", LookaheadAffinity(lr=lookahead_lr, every=int(every))))
    model.set_params(callbacks=callbacks)
    model.fit(Xt, y)
    callback = dict(model.net_.callbacks_)["task_affinity"]
    matrix = callback.affinity()
    if symmetric:
        matrix = (matrix + matrix.T) / 2
    return relation_matrix_frame(matrix, [task.name for task in model.tasks_])


# -- task groups -------------------------------------------------------------------------------
def _as_matrix(affinity, task_names):
    if hasattr(affinity, "to_numpy") and hasattr(affinity, "index"):
        names = [str(name) for name in affinity.index]
        matrix = affinity.to_numpy(dtype=np.float64)
    else:
        matrix = np.asarray(affinity, dtype=np.float64)
        names = None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"affinity must be a square matrix; got shape {matrix.shape}.")
    if task_names is not None:
        names = [str(name) for name in task_names]
        if len(names) != matrix.shape[0]:
            raise ValueError(
                f"task_names has {len(names)} names for a {matrix.shape[0]}-task affinity."
            )
    if names is None:
        names = [f"task{i}" for i in range(matrix.shape[0])]
    return np.nan_to_num(matrix, nan=0.0), names


def _group_score(matrix: np.ndarray, group: Sequence[int]) -> float:
    """Sum over the group's tasks of the mean affinity onto each from the group's others."""
    if len(group) < 2:
        return 0.0
    index = np.asarray(group)
    block = matrix[np.ix_(index, index)]
    return float((block.sum(axis=0) - np.diag(block)).sum() / (len(group) - 1))


def _partitions(items: list[int], n_groups: int):
    """All partitions of ``items`` into exactly ``n_groups`` non-empty blocks."""
    if n_groups == 1:
        yield [items]
        return
    if len(items) == n_groups:
        yield [[item] for item in items]
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest, n_groups - 1):
        yield [[first], *partition]
    for partition in _partitions(rest, n_groups):
        for k in range(len(partition)):
            yield [*partition[:k], [first, *partition[k]], *partition[k + 1 :]]


def _greedy(matrix: np.ndarray, n_groups: int) -> list[list[int]]:
    groups = [[i] for i in range(matrix.shape[0])]
    while len(groups) > n_groups:
        best = None
        for a, b in itertools.combinations(range(len(groups)), 2):
            merged = groups[a] + groups[b]
            gain = (
                _group_score(matrix, merged)
                - _group_score(matrix, groups[a])
                - _group_score(matrix, groups[b])
            )
            if best is None or gain > best[0]:
                best = (gain, a, b)
        assert best is not None
        _, a, b = best
        groups = [g for k, g in enumerate(groups) if k not in (a, b)] + [groups[a] + groups[b]]
    improved = True
    while improved:  # move single tasks between groups while the total improves
        improved = False
        for source in range(len(groups)):
            for task in list(groups[source]):
                if len(groups[source]) == 1:
                    continue
                for target in range(len(groups)):
                    if target == source:
                        continue
                    before = _group_score(matrix, groups[source]) + _group_score(
                        matrix, groups[target]
                    )
                    left = [t for t in groups[source] if t != task]
                    after = _group_score(matrix, left) + _group_score(
                        matrix, groups[target] + [task]
                    )
                    if after > before + 1e-12:
                        groups[source] = left
                        groups[target] = groups[target] + [task]
                        improved = True
                        break
    return groups


def suggest_task_groups(affinity, n_groups, *, task_names=None, method="auto", max_exhaustive=10):
    """Propose which tasks to train together: a partition maximising within-group affinity.

    A group's score is the sum over its tasks of the mean affinity that the group's
    other tasks have onto it (``affinity[i, j]``: effect of task ``i`` on task ``j``),
    the criterion of TAG (Fifty et al., 2021) restricted to non-overlapping groups; a
    task alone scores 0. The partition into exactly ``n_groups`` groups with the highest
    total is returned.

    ``method="exhaustive"`` enumerates every partition (Stirling numbers of the second
    kind: 9,330 for 10 tasks into 3 groups, 42,525 into 5). ``method="greedy"``, the
    default beyond ``max_exhaustive`` tasks, starts from one group per task, merges the
    pair of groups whose union adds the most score until ``n_groups`` remain, then moves
    single tasks between groups while the total improves: fast (``O(T^3)`` merges) but
    not guaranteed optimal.

    Parameters
    ----------
    affinity : DataFrame or array-like of shape (n_tasks, n_tasks)
        Any task affinity: :func:`task_affinity`, the estimator's ``task_affinity_``
        (gradient cosines) or ``task_relation_``. NaN counts as 0.
    n_groups : int
        Number of groups, between 1 and the number of tasks.
    task_names : sequence of str, default=None
        Names of the tasks (default: the DataFrame's index, else ``task0``, ...).
    method : {"auto", "exhaustive", "greedy"}, default="auto"
        "auto" is exhaustive up to ``max_exhaustive`` tasks, greedy beyond.
    max_exhaustive : int, default=10
        Largest number of tasks searched exhaustively by "auto".

    Returns
    -------
    list of list of str
        The groups, each a list of task names in task order, largest first.

    See Also
    --------
    task_affinity : the lookahead affinity this is designed for.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import suggest_task_groups
    >>> affinity = np.array([[1.0, 0.5, -0.2], [0.4, 1.0, -0.1], [-0.3, -0.2, 1.0]])
    >>> suggest_task_groups(affinity, 2, task_names=["price", "volume", "churn"])
    [['price', 'volume'], ['churn']]
    """
    matrix, names = _as_matrix(affinity, task_names)
    n_tasks = matrix.shape[0]
    if (
        isinstance(n_groups, bool)
        or not isinstance(n_groups, numbers.Integral)
        or not (1 <= n_groups <= n_tasks)
    ):
        raise ValueError(f"n_groups must be an int between 1 and {n_tasks}; got {n_groups!r}.")
    if method not in ("auto", "exhaustive", "greedy"):
        raise ValueError(f"method must be 'auto', 'exhaustive' or 'greedy'; got {method!r}.")
    if method == "auto":
        method = "exhaustive" if n_tasks <= max_exhaustive else "greedy"
    if method == "exhaustive":
        best_score, best = -np.inf, None
        for partition in _partitions(list(range(n_tasks)), int(n_groups)):
            score = sum(_group_score(matrix, group) for group in partition)
            if score > best_score + 1e-12:
                best_score, best = score, partition
        groups = best
    else:
        groups = _greedy(matrix, int(n_groups))
    assert groups is not None
    groups = sorted((sorted(group) for group in groups), key=lambda g: (-len(g), g[0]))
    return [[names[i] for i in group] for group in groups]
