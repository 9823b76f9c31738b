"""Pictures of a multi-task fit: learning curves, task weights, affinities, baselines.

matplotlib is an optional dependency, imported when a function is called. Every
function draws on ``ax`` (a new figure's axes when None) and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._callbacks import restored_epoch
from ._unwrap import fitted_estimator
from .tasks import DEFAULT_METRICS

__all__ = [
    "plot_learning_curves",
    "plot_single_task_comparison",
    "plot_task_affinity",
    "plot_task_weights",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "sklearn_mtl.plotting needs matplotlib, an optional dependency: pip install matplotlib"
        ) from error
    return plt


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots()
    return ax


def _history(estimator):
    """The skorch history of a fitted estimator, Pipeline or search, or a history itself."""
    try:
        history = fitted_estimator(estimator)[0].history_
    except TypeError:
        history = estimator
    if not hasattr(history, "__getitem__") or hasattr(history, "steps") or len(history) == 0:
        raise ValueError(
            "Expected a fitted MultiTaskNetEstimator (or its history_); got "
            f"{type(estimator).__name__}."
        )
    return history


def _task_names(history, prefix: str) -> list[str]:
    return [key[len(prefix) :] for key in history[-1] if key.startswith(prefix)]


def _series(history, key: str) -> np.ndarray:
    return np.array([row.get(key, np.nan) for row in history], dtype=np.float64)


def plot_learning_curves(estimator, *, tasks=None, kind="loss", ax=None):
    """Per-task training (solid) and validation (dashed) curves over epochs.

    Parameters
    ----------
    estimator : MultiTaskNetEstimator, Pipeline or search ending with one, or a History
        A fitted model (validation curves need ``early_stopping=True``).
    tasks : sequence of str, default=None
        Tasks to draw; all by default.
    kind : {"loss", "score"}, default="loss"
        The per-task mean training loss or default score; with ``"score"`` the legend
        names each task's metric (``r2``, ``accuracy``, ``hamming_score``) when the
        estimator is given (not only its history).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        With early stopping, a dotted vertical line marks ``best_epoch_``, the epoch
        whose weights the model kept.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl.plotting import plot_learning_curves
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> est = MultiTaskNetEstimator(max_epochs=5, random_state=0).fit(X, X[:, :2])
    >>> ax = plot_learning_curves(est)
    >>> len(ax.get_lines())
    2
    """
    if kind not in ("loss", "score"):
        raise ValueError(f"kind must be 'loss' or 'score'; got {kind!r}.")
    history = _history(estimator)
    names = _task_names(history, f"train_{kind}_")
    if tasks is not None:
        unknown = sorted(set(tasks) - set(names))
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown}; the tasks are {names}.")
        names = [name for name in names if name in set(tasks)]
    ax = _axes(ax)
    epochs = _series(history, "epoch")
    metrics = _task_metrics(estimator) if kind == "score" else {}
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key().get("color", [None])
    for index, name in enumerate(names):
        color = colors[index % len(colors)]
        label = f"{name}, {metrics[name]}" if name in metrics else name
        ax.plot(
            epochs, _series(history, f"train_{kind}_{name}"), color=color, label=f"{label} (train)"
        )
        if f"valid_{kind}_{name}" in history[-1]:
            ax.plot(
                epochs,
                _series(history, f"valid_{kind}_{name}"),
                color=color,
                linestyle="--",
                label=f"{label} (valid)",
            )
    best = restored_epoch(history)
    if best is not None:
        ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best}), kept")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{kind} per task" if kind == "loss" else "score per task (greater is better)")
    if kind == "loss":
        ax.set_yscale("log")
    ax.set_title("Learning curves")
    ax.legend()
    return ax


def _task_metrics(estimator) -> dict[str, str]:
    """``{task: default metric}`` of a fitted estimator (Pipeline, search); {} for a History."""
    try:
        final = fitted_estimator(estimator)[0]
    except TypeError:
        return {}
    return {task.name: DEFAULT_METRICS[task.kind] for task in final.tasks_}


def plot_task_weights(estimator, *, ax=None):
    """The effective weight of every task's loss over epochs (dynamic weighting methods).

    Parameters
    ----------
    estimator : MultiTaskNetEstimator, Pipeline or search ending with one, or a History
        A fitted model; its history holds ``weight_<task>`` per epoch.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> from sklearn_mtl.plotting import plot_task_weights
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> est = MultiTaskNetEstimator(loss_weighting="dwa", max_epochs=5, random_state=0)
    >>> ax = plot_task_weights(est.fit(X, X[:, :2]))
    >>> [line.get_label() for line in ax.get_lines()]
    ['task0', 'task1']
    """
    history = _history(estimator)
    names = _task_names(history, "weight_")
    if not names:
        raise ValueError("The history has no task weights (weight_<task> entries).")
    ax = _axes(ax)
    epochs = _series(history, "epoch")
    for name in names:
        ax.plot(epochs, _series(history, f"weight_{name}"), label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("task weight")
    ax.set_title("Task weights")
    ax.legend()
    return ax


def _affinity_of(obj):
    """The matrix itself, or a fitted model's ``task_affinity_`` (else ``task_relation_``)."""
    try:
        model = fitted_estimator(obj)[0]
    except TypeError:
        model = obj
    for attribute in ("task_affinity_", "task_relation_"):
        if hasattr(model, attribute):
            return getattr(model, attribute)
    if hasattr(model, "get_params") or hasattr(obj, "get_params"):
        name = type(model).__name__
        if not hasattr(model, "tasks_"):
            raise ValueError(
                f"plot_task_affinity got an unfitted {name}; fit it with "
                "record_task_affinity=True first, or pass an affinity matrix."
            )
        raise ValueError(
            f"This {name} recorded no task affinity: it has neither task_affinity_ nor "
            "task_relation_. Fit it with record_task_affinity=True (or task_relation="
            "'mtrl'), or pass a matrix such as sklearn_mtl.diagnostics.task_affinity(est, X, y)."
        )
    return obj


def plot_task_affinity(affinity, *, task_names=None, annotate=True, cmap="RdBu_r", ax=None):
    """Heatmap of a task affinity or relation matrix, centred on 0.

    Parameters
    ----------
    affinity : DataFrame, array-like of shape (n_tasks, n_tasks), or a fitted estimator
        :func:`~sklearn_mtl.diagnostics.task_affinity`, or an estimator's ``task_affinity_``
        (gradient cosine) or ``task_relation_``; a fitted estimator gives its
        ``task_affinity_`` (else its ``task_relation_``).
    task_names : sequence of str, default=None
        Labels; the DataFrame's index by default.
    annotate : bool, default=True
        Write each value in its cell.
    cmap : str, default="RdBu_r"
        Colour map (diverging: red positive, blue negative).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_mtl.plotting import plot_task_affinity
    >>> ax = plot_task_affinity([[1.0, 0.3], [0.2, 1.0]], task_names=["a", "b"])
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['a', 'b']
    """
    affinity = _affinity_of(affinity)
    if hasattr(affinity, "to_numpy") and hasattr(affinity, "index"):
        names = [str(name) for name in affinity.index]
        matrix = affinity.to_numpy(dtype=np.float64)
    else:
        matrix = np.asarray(affinity, dtype=np.float64)
        names = [f"task{i}" for i in range(matrix.shape[0])] if matrix.ndim == 2 else []
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"affinity must be a square matrix; got shape {matrix.shape}.")
    if task_names is not None:
        names = [str(name) for name in task_names]
        if len(names) != matrix.shape[0]:
            raise ValueError(f"{len(names)} task names for {matrix.shape[0]} tasks.")
    ax = _axes(ax)
    finite = matrix[np.isfinite(matrix)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    limit = limit or 1.0
    image = ax.imshow(matrix, cmap=cmap, vmin=-limit, vmax=limit)
    ax.figure.colorbar(image, ax=ax)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    if annotate:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                if np.isfinite(matrix[i, j]):
                    strong = abs(matrix[i, j]) > 0.6 * limit
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.2g}",
                        ha="center",
                        va="center",
                        color="white" if strong else "black",
                        fontsize="small",
                    )
    ax.set_title("Task affinity")
    return ax


def _report_columns(report) -> tuple[list[str], Mapping[str, np.ndarray]]:
    if hasattr(report, "index") and hasattr(report, "columns"):
        names = [str(name) for name in report.index]
        return names, {column: report[column].to_numpy() for column in report.columns}
    if isinstance(report, Mapping) and "task" in report:
        return [str(name) for name in report["task"]], report
    raise TypeError(
        "report must be the result of sklearn_mtl.diagnostics.compare_single_task "
        "(a DataFrame or dict)."
    )


def _baseline_name(report) -> str:
    attrs = getattr(report, "attrs", None) or {}
    name = attrs.get("baseline_name")
    if name is None and isinstance(report, Mapping):
        name = report.get("baseline_name")
    return str(name) if name else "user model"


def plot_single_task_comparison(report, *, relative=False, ax=None):
    """Bar chart of a :func:`~sklearn_mtl.diagnostics.compare_single_task` report, with error bars.

    Parameters
    ----------
    report : DataFrame or dict
        The result of :func:`~sklearn_mtl.diagnostics.compare_single_task`.
    relative : bool, default=False
        False: one group of bars per task, the multi-task, single-task (and baseline)
        scores, error bars one standard error over folds. True: one bar per task, the
        difference multi-task minus single-task with its standard error (above 0:
        sharing helps), green where the paired test finds a gain (``significant``),
        red where it finds negative transfer (``negative_transfer``), grey otherwise.
        The baseline's bars are labelled with its model (``report.attrs["baseline_name"]``,
        or the dict's ``"baseline_name"``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_mtl.plotting import plot_single_task_comparison
    >>> report = {"task": ["a", "b"], "metric": ["r2", "accuracy"],
    ...           "multi_task": [0.8, 0.9], "multi_task_se": [0.02, 0.01],
    ...           "single_task": [0.7, 0.92], "single_task_se": [0.03, 0.01],
    ...           "difference": [0.1, -0.02], "difference_se": [0.02, 0.01]}
    >>> ax = plot_single_task_comparison(report)
    >>> len(ax.patches)
    4
    """
    names, columns = _report_columns(report)
    ax = _axes(ax)
    positions = np.arange(len(names))
    metrics = columns.get("metric")
    labels = (
        [f"{name}\n({metric})" for name, metric in zip(names, metrics, strict=True)]
        if metrics is not None
        else names
    )
    if relative:
        difference = np.asarray(columns["difference"], dtype=np.float64)
        error = np.asarray(columns["difference_se"], dtype=np.float64)
        negative = np.asarray(columns.get("negative_transfer", np.zeros(len(names))), bool)
        significant = np.asarray(columns.get("significant", np.zeros(len(names))), bool)
        colors = [
            "tab:red" if bad else "tab:green" if (good and d > 0) else "tab:grey"
            for d, bad, good in zip(difference, negative, significant, strict=True)
        ]
        ax.bar(positions, difference, yerr=np.nan_to_num(error), color=colors, capsize=4)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel("multi-task minus single-task score")
        ax.set_title("Gain from sharing (± 1 standard error over folds)")
    else:
        series = [("multi_task", "multi-task"), ("single_task", "single-task")]
        if "baseline" in columns:
            series.append(("baseline", f"baseline: {_baseline_name(report)}"))
        width = 0.8 / len(series)
        for k, (key, label) in enumerate(series):
            values = np.asarray(columns[key], dtype=np.float64)
            error = np.asarray(columns.get(f"{key}_se", np.zeros_like(values)), dtype=np.float64)
            offset = (k - (len(series) - 1) / 2) * width
            ax.bar(
                positions + offset, values, width, yerr=np.nan_to_num(error), capsize=3, label=label
            )
        ax.set_ylabel("cross-validated score")
        ax.set_title("Multi-task vs single-task (± 1 standard error over folds)")
        ax.legend()
    ax.set_xticks(positions, labels)
    return ax
