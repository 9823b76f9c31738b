"""compare_single_task: the multi-task model against each task trained alone."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from joblib import Parallel, delayed
from sklearn import get_config
from sklearn.base import clone
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import _safe_indexing

from .._kinds import kind_of
from .._relationship import require_pandas
from .._targets import as_target_table, missing_mask
from .._task_encoding import TaskEncoder, resolve_tasks
from .._unwrap import final_estimator, fitted_estimator
from ..metrics import _metric_spec
from ..model_selection import LabelledKFold
from ..tasks import Task
from ._baselines import baseline_for, fit_score_baseline, model_name
from ._statistics import TESTS, delta_m, paired, standard_error

__all__ = ["compare_single_task"]


# -- the estimator inside a Pipeline ---------------------------------------------------------
def _final_step(estimator):
    """The MultiTaskNetEstimator at the end of ``estimator`` and its parameter prefix."""
    final, _, prefix = final_estimator(estimator, searches=False)
    return final, prefix


def _resolved_tasks(estimator, y) -> tuple[list[tuple[Task, tuple[int, ...]]], dict]:
    """The tasks of ``estimator`` on y, with kinds inferred from all of y, and the class
    labels of its single-label classification tasks in all of y."""
    final, _ = _final_step(estimator)
    table = as_target_table(y)
    resolved, classes = [], {}
    for task, positions in resolve_tasks(final.tasks, table):
        encoder = TaskEncoder(task, positions).fit(table)
        resolved.append((encoder.task_, positions))
        if encoder.kind_.is_classification and not encoder.kind_.multi_column:
            classes[encoder.task_.name] = encoder.classes_
    return resolved, classes


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


def _warn_missing_folds(fold_scores: dict[str, np.ndarray], names: Sequence[str]) -> None:
    """Warn, naming task and fold, about folds where a task has no score for a model (no
    label in the fold's test rows, too few for the metric such as one class for ROC AUC,
    or a failed fit): they are left out of that task's means and tests."""
    missing = np.logical_or.reduce([np.isnan(scores) for scores in fold_scores.values()])
    for j, name in enumerate(names):
        folds = np.flatnonzero(missing[:, j]).tolist()
        if folds:
            warnings.warn(
                f"compare_single_task: task {name!r} has no score in fold(s) {folds} for "
                "at least one model (no label in their test rows, too few for the metric, "
                "or a failed fit); they are left out of its means, standard errors and "
                "tests (of the multi-task and single-task models alike). Use a splitter "
                "that gives every fold labels of every class of every task.",
                UserWarning,
                stacklevel=3,
            )


def _warn_failed_jobs(failures: list[tuple[str, int, str, Exception]], n_jobs: dict) -> None:
    """Warn about each failed fit, naming the model, the task and the fold; raise the
    first error when every fit of a model failed (a mistake, not a fold's bad luck)."""
    for kind, fold, task, error in failures:
        model = "multi-task model" if kind == "multi" else f"{kind} model of task {task!r}"
        warnings.warn(
            f"compare_single_task: the {model} failed in fold {fold} ({error}); its "
            "scores there are left out.",
            UserWarning,
            stacklevel=3,
        )
    for kind, count in n_jobs.items():
        failed = [error for k, _, _, error in failures if k == kind]
        if failed and len(failed) == count:
            raise failed[0]


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


# -- the cross-validation jobs -------------------------------------------------------------
def _fit_score_network(estimator, X, y, train, test, metrics, fit_params, classes, groups):
    # every class of all of y is declared, so that a fold whose training rows lack one
    # has a model that knows it (scored as the others, probabilities included)
    _, prefix = _final_step(estimator)
    fit_params = {**fit_params, f"{prefix}classes": classes}
    if groups is not None and not get_config()["enable_metadata_routing"]:
        # the estimator's early-stopping holdout keeps whole groups too
        fit_params.setdefault(f"{prefix}groups", groups[train])
    model = clone(estimator).fit(_safe_indexing(X, train), _safe_indexing(y, train), **fit_params)
    final, X_test = fitted_estimator(model, _safe_indexing(X, test))
    return final.score_tasks(X_test, _safe_indexing(y, test), metrics=metrics)


def _job(
    kind,
    fold,
    estimator,
    X,
    y,
    train,
    test,
    metrics,
    classes,
    task=None,
    positions=None,
    fit_params=None,
    groups=None,
):
    """One fit and score; a ValueError (a fold without labels of a task in its training
    rows, a baseline that needs two classes) is returned, not raised."""
    name = None if task is None else task.name
    try:
        if kind == "baseline":
            score = fit_score_baseline(
                estimator, task, positions, metrics[name], X, y, train, test, classes.get(name)
            )
            return kind, fold, name, {name: score}, None
        if kind == "single":
            y = _columns(y, positions)
            metrics = {name: metrics[name]}
            classes = {name: classes[name]} if name in classes else {}
        scores = _fit_score_network(
            estimator, X, y, train, test, metrics, fit_params or {}, classes, groups
        )
        return kind, fold, name, scores, None
    except ValueError as error:
        return kind, fold, name, {}, error


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
        classification task. The task kinds and class labels are inferred once, from
        all of y, and given to every fold's models (``fit(classes=...)``), so that a
        fold whose training rows lack a class still has models that know it, scored
        alike. A fold where a task has no score for a model (no label in its test
        rows, a metric undefined there such as ROC AUC of one class, or a fit that
        failed, such as a baseline that needs two classes) is left out of that task's
        multi-task and single-task means and of its tests, with a warning naming the
        task and the fold (and the failed model); when every fit of a model fails,
        its error is raised.
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
        Group labels for the splitter (e.g. patient ids with ``GroupKFold``), also
        passed (the training rows' part) to the networks' ``fit``, so that their
        early-stopping holdout keeps whole groups as well (unless ``fit_params`` gives
        ``groups``; with scikit-learn's metadata routing enabled, pass them through
        ``fit_params`` and ``set_fit_request`` yourself).
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
        Return a pandas DataFrame (pandas is then required: an ImportError says so
        before any fit); False returns a dict.

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
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl.diagnostics import compare_single_task
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
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}; got {test!r}.")
    if not isinstance(alpha, numbers.Real) or not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    if as_frame:
        require_pandas("compare_single_task(as_frame=True)")
    fit_params = dict(fit_params or {})
    resolved, classes = _resolved_tasks(estimator, y)
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
    # LabelledKFold reads all of y (which cells are labelled)
    target = y if isinstance(splitter, LabelledKFold) else _strata(table, resolved)
    splits = list(splitter.split(X, target, groups))
    group_labels = None if groups is None else np.asarray(groups)
    if not splits:
        raise ValueError("cv produced no split.")
    # The kinds inferred from all of y, given to every fold (a fold would re-infer).
    multi_estimator = _with_tasks(estimator, tasks)
    test_fraction = float(np.mean([len(te) / (len(tr) + len(te)) for tr, te in splits]))

    jobs = []
    for fold, (train, test_rows) in enumerate(splits):
        data = (X, y, train, test_rows, metrics, classes)
        fitting = {"fit_params": fit_params, "groups": group_labels}
        jobs.append(delayed(_job)("multi", fold, multi_estimator, *data, **fitting))
        for task, positions in resolved:
            single = _single_task_estimator(estimator, task, len(positions), table.is_frame)
            of_task = {"task": task, "positions": positions}
            jobs.append(delayed(_job)("single", fold, single, *data, **of_task, **fitting))
            if baseline is not None:
                jobs.append(
                    delayed(_job)("baseline", fold, baseline_for(baseline, task), *data, **of_task)
                )
    results = Parallel(n_jobs=n_jobs)(jobs)

    kinds = ["multi", "single"] + (["baseline"] if baseline is not None else [])
    fold_scores = {kind: np.full((len(splits), len(names)), np.nan) for kind in kinds}
    failures = []
    for kind, fold, task_name, scores, error in results:
        for name, score in scores.items():
            fold_scores[kind][fold, names.index(name)] = score
        if error is not None:
            failures.append((kind, fold, task_name, error))
    _warn_failed_jobs(failures, {kind: sum(r[0] == kind for r in results) for kind in kinds})
    # the multi-task and single-task means cover the same folds of each task
    lost = np.isnan(fold_scores["multi"]) | np.isnan(fold_scores["single"])
    fold_scores["multi"][lost] = fold_scores["single"][lost] = np.nan
    _warn_missing_folds(fold_scores, names)

    multi, single = fold_scores["multi"], fold_scores["single"]
    report: dict[str, object] = {
        "task": np.array(names, dtype=object),
        "kind": np.array([task.kind for task in tasks], dtype=object),
        "metric": np.array([metrics[name] for name in names], dtype=object),
    }
    columns: dict[str, list[float]] = {
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
    baseline_columns: dict[str, list[float]] = {
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
        diff, diff_se, p_value = paired(multi[:, j], single[:, j], test, test_fraction)
        columns["multi_task"].append(np.nanmean(multi[:, j]))
        columns["multi_task_se"].append(standard_error(multi[:, j]))
        columns["single_task"].append(np.nanmean(single[:, j]))
        columns["single_task_se"].append(standard_error(single[:, j]))
        columns["difference"].append(diff)
        columns["difference_se"].append(diff_se)
        columns["p_value"].append(p_value)
        columns["relative_improvement"].append(
            delta_m([columns["multi_task"][-1]], [columns["single_task"][-1]])
        )
        if baseline is not None:
            other = fold_scores["baseline"][:, j]
            diff_b, diff_b_se, p_b = paired(multi[:, j], other, test, test_fraction)
            baseline_columns["baseline"].append(np.nanmean(other))
            baseline_columns["baseline_se"].append(standard_error(other))
            baseline_columns["difference_baseline"].append(diff_b)
            baseline_columns["difference_baseline_se"].append(diff_b_se)
            baseline_columns["p_value_baseline"].append(p_b)
    for key, values in columns.items():
        report[key] = np.asarray(values, dtype=np.float64)
    difference = np.asarray(report["difference"])
    p_values = np.asarray(report["p_value"])
    significant = np.nan_to_num(p_values, nan=1.0) < alpha
    report["significant"] = significant
    # Flag only what the test supports: a lower mean score is not yet negative transfer.
    report["negative_transfer"] = (difference < 0) & significant
    if baseline is not None:
        for key, values in baseline_columns.items():
            report[key] = np.asarray(values, dtype=np.float64)

    per_fold = np.array([delta_m(multi[f], single[f]) for f in range(len(splits))])
    summary = {
        "delta_m": delta_m(np.asarray(report["multi_task"]), np.asarray(report["single_task"])),
        "delta_m_se": standard_error(per_fold),
        "n_splits": len(splits),
        "n_samples": n_samples,
        "test": test,
        "fold_scores": fold_scores,
        "baseline_name": None if baseline is None else model_name(baseline),
    }
    if not as_frame:
        return {**report, **summary}
    pd = require_pandas("compare_single_task(as_frame=True)")
    frame = pd.DataFrame(
        {k: v for k, v in report.items() if k != "task"}, index=pd.Index(names, name="task")
    )
    frame.attrs.update(summary)
    return frame
