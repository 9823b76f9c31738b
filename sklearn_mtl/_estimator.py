"""MultiTaskNetEstimator: the scikit-learn face of the multi-task network."""

from __future__ import annotations

import copy
import math
import numbers
import os
import warnings
from collections.abc import Mapping
from numbers import Integral
from typing import ClassVar, cast

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import ClassifierTags, RegressorTags, check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import Callback

from ._callbacks import (
    EpochProgress,
    _user_stacklevel,
    describe_tasks,
    report_end_of_training,
    restored_epoch,
)
from ._checkpoint import FitCheckpoint
from ._data import SplitData, TaskData, check_streamed_X, is_row_streamable
from ._doc_link import DocLinkMixin
from ._input import SCALINGS, InputEncoder, is_table
from ._input_layer import EncodedInputModule, InputLayer
from ._kinds import Regression
from ._losses import MultiTaskLoss, TaskLossSpec
from ._net import BestValidScore, MultiTaskNet, NonFiniteLossError, check_precision
from ._persistence import load_estimator, save_estimator
from ._random import FitGenerators, drawing_from, use_generator_dropout
from ._random import active as active_generators
from ._relationship import attach as attach_relationships
from ._relationship import fitted_relationships
from ._schedule import LR_SCHEDULES, LRSchedule, smoothed_best_epoch
from ._targets import TargetTable, as_target_table
from ._threads import check_n_threads, torch_threads
from ._training import place_on_device, resolve_device, resolve_optimizer, train
from ._validation import (
    LAYER_SIZES,
    Interval,
    InvalidParameterError,
    Real,
    StrOptions,
    check_layer_sizes,
    finite,
    positive_int,
)
from .architectures import (
    Architecture,
    MultiTaskModule,
    NetworkConfig,
    TaskHeadSpec,
    get_architecture,
)
from .architectures._recipe import RecipeModule
from .metrics import EncodedScorer, TaskWithoutLabelWarning, task_metric, task_score
from .tasks import TaskEncoder, resolve_tasks
from .weighting import LossWeighting, get_weighting

_PREDICT_BATCH_SIZE = 8192
_TASK_WEIGHT_PREFIX = "task_weights__"


class MultiTaskNetEstimator(DocLinkMixin, BaseEstimator):
    """A neural network that learns several related targets of one table at once.

    Regression, binary, multiclass and multilabel tasks can be mixed in one model. The
    tasks share a network (by default a shared MLP trunk with one linear head per task,
    "hard parameter sharing") trained with PyTorch through a skorch net. A missing label
    (NaN or None in y) removes that row from that task's loss only.

    Parameters
    ----------
    tasks : None, dict or list of Task, default=None
        The tasks, one per column of y unless a multilabel task spans several. None
        infers one task per column from its labelled values: strings, booleans and
        categoricals are classes; numbers with a fractional part are regression;
        integer-valued numbers are classes when they take at most 20 distinct values,
        regression otherwise. A dict ``{name: kind}`` names the tasks in column order; a
        list of :class:`Task` also sets columns (``Task("prefs", "multilabel",
        columns=[...])``) and per-task options: ``loss``, ``quantiles``,
        ``class_weight``, ``metric``. Kinds: "regression", "binary", "multiclass",
        "multilabel", "ordinal".
    task_weights : dict of str to float, default=None
        Weight of each task's loss; tasks left out weigh 1.0. ``set_params`` accepts
        ``task_weights__<task>=w`` for one task, so GridSearchCV can search it. With a
        dynamic ``loss_weighting`` these weights multiply the method's own weights (see
        the method's documentation).
    loss_weighting : str or LossWeighting, default="fixed"
        How the task losses are balanced: an alias of ``sklearn_mtl.weighting.WEIGHTINGS``
        ("fixed", "uncertainty", "dwa", "rlw", "geometric", "famo", "dbmtl", "gradnorm",
        "pcgrad", "mgda", "cagrad", "imtl", "nash", "aligned", "upgrad") or a
        :class:`~sklearn_mtl.weighting.LossWeighting` object. To grid-search a method's
        own parameters, set ``loss_weighting__<param>`` (with an alias, the method's
        object is built then); ``GridSearchCV`` can search them.
    architecture : str, Architecture or torch module, default="hard"
        How the tasks share the network: an alias of
        ``sklearn_mtl.architectures.ARCHITECTURES`` ("hard", "soft", "cross_stitch",
        "mmoe", "ple", "task_attention", "task_offsets"), an
        :class:`~sklearn_mtl.architectures.Architecture` object, or a
        ``torch.nn.Module`` class, factory or instance mapping X to a shared
        representation (wrapped in :class:`~sklearn_mtl.architectures.CustomTrunk`;
        the task heads are added). ``architecture__<param>`` sets an architecture's own
        parameters (``architecture__n_experts``), an alias included.
        "auto" is "hard", except for tasks on disjoint rows (at least two tasks of one
        kind, and no row labelled for more than one, such as one task per school): then
        "task_offsets" (:class:`~sklearn_mtl.architectures.TaskOffsets`: one network
        for all tasks, with a scale and a shift of its output per task), because one
        head per task over-fits tasks that each have few rows.
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the shared hidden layers.
    activation : str, default="relu"
        Activation of hidden layers: "relu", "tanh", "logistic", "gelu", "elu",
        "leaky_relu", "selu" or "silu".
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    batch_norm : bool, default=False
        Batch normalisation after each hidden linear layer.
    head_layer_sizes : tuple of int, default=()
        Hidden layers of each task head; empty for a linear head.
    numeric_embedding : None or "periodic", default=None
        "periodic" passes each input feature through its own periodic embedding before
        the network (16 frequencies and a small linear layer to 4 values, kept beside
        the raw value: RealMLP's "PBLD" embedding), which lets the network fit sharp or
        oscillating effects of a single feature. The network's input is 5 times wider.
    wide : bool, default=False
        Add a linear function of the input to every task's output (a "wide and deep"
        model; the linear part starts at zero), so that a target close to linear in the
        inputs gets its linear part directly.
    ensemble_size : int, default=1
        Number of ensemble members that share every weight of the network except an
        input scaling and an output scale and shift of their own (TabM-mini). In
        training each row of a batch passes through one member drawn at random (a step
        costs what one network costs); predictions average all members (prediction
        costs ``ensemble_size`` forward passes).
    optimizer : str or callable, default="adam"
        "adam", "adamw", "sgd", "rmsprop", "adagrad", or a torch optimizer class (or any
        callable taking parameter groups and ``lr``).
    lr : float, default=1e-3
        Learning rate.
    lr_schedule : {"constant", "cosine", "flat_cosine"}, default="constant"
        How the learning rate changes over the ``max_epochs`` of ``fit``, batch by batch:
        "constant" keeps ``lr``; "cosine" decays it from ``lr`` to 0 along half a cosine;
        "flat_cosine" keeps ``lr`` for the first half and decays it over the second.
        ``partial_fit`` always uses ``lr``.
    alpha : float, default=1e-4
        L2 penalty (weight decay) on the weight matrices, not on biases.
    batch_size : int, default=256
        Rows per training batch (all rows when larger than the data).
    max_epochs : int, default=200
        Maximum number of passes over the training data.
    early_stopping : bool or "refit", default=False
        True holds out ``validation_fraction`` of the rows, stops when the unweighted
        mean of the tasks' validation scores has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restores the weights of the best epoch
        (``best_epoch_``); the held-out rows are never trained on. "refit" holds out
        the same rows, stops when the validation loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs, picks the epoch with the
        lowest validation loss averaged over 5 neighbouring epochs, and then trains
        the same network again, from the same initial weights, on all rows for that
        many epochs (at most twice the cost of one fit): no row is lost to validation,
        and one lucky epoch of a small validation split does not decide. The refit's
        history is ``history_`` and ``n_iter_`` its number of epochs (``best_epoch_``
        is None); with ``validation_fraction=0.2``, ``n_iter_no_change=20`` and
        ``numeric_embedding="periodic"`` it is the recipe measured best in the user
        guide's "Do the defaults hold?". False (the default) trains for ``max_epochs``
        on all rows, as scikit-learn's MLP does. With a warm start, "refit" continues
        training like False. Whatever the setting, a ``ConvergenceWarning`` says when
        ``max_epochs`` ran out while the model still improved (see the user guide's
        "Controlling the training").
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Minimum improvement of the validation score.
    warm_start : bool, default=False
        When True, ``fit`` continues from the current weights instead of starting anew
        (the tasks and the number of features must not change).
    callbacks : list of skorch callbacks, default=None
        Passed to the skorch net (copied, never modified); ``(name, callback)`` pairs
        are accepted.
    device : str, default="cpu"
        "cpu", "cuda", "cuda:N" or "auto" (a GPU when one is available). A device
        that this machine lacks (CUDA without a GPU, "mps" off Apple silicon) is a
        ``ValueError`` at fit. Other torch device types (such as "mps") are passed to
        torch when available; only the CPU and CUDA are tested.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split. With
        an int, two fits on a CPU give the same predictions. The global torch random
        state is left untouched.
    verbose : int, default=0
        0 is silent; 1 prints the tasks found and shows a progress bar over epochs with
        the per-task training losses and the mean task score; 2 prints one line per
        epoch. With early stopping, the fit ends with a line saying when it stopped and
        which epoch's weights were restored.
    record_task_affinity : bool or int, default=False
        Record the pairwise cosine similarity of the tasks' gradients on the shared
        parameters (on the shared representation when the architecture has none),
        averaged per epoch, in ``history_`` (key ``task_affinity``) and
        ``task_affinity_``. True samples 10 batches per epoch, an int that many. Each
        sampled batch costs one extra backward pass per task through the shared layers.
    task_relation : None, "mtrl" or MTRL, default=None
        Multi-task relationship learning (Zhang and Yeung, 2010): a penalty
        ``strength / 2 * tr(W Omega^-1 W^T)`` on the task heads with a task covariance
        ``Omega`` learned in closed form at each epoch end; see
        :class:`~sklearn_mtl.MTRL`. The learned task correlation is ``task_relation_``.
    checkpoint_dir : str or path-like, default=None
        When set, ``fit`` writes the training state after every epoch to
        ``<checkpoint_dir>/<key>/checkpoint.mtl``, where the key is a digest of the
        parameters (all but ``callbacks``, ``verbose`` and ``checkpoint_dir``) and of
        the data. A fit that was interrupted (a crash, a killed job) and is run again
        with the same parameters and data resumes from its last completed epoch and
        ends with the same weights as an uninterrupted fit (on a CPU, with an int
        ``random_state``). Each fit of a parallel grid search has its own key, so their
        files never collide. The file of a finished fit is kept: running it again
        returns at once with the same model; delete the directory to start afresh.
        The state of user callbacks is not checkpointed. ``partial_fit`` and
        warm-started fits do not checkpoint.
    precision : None, "bf16" or "fp16", default=None
        Mixed precision: the forward passes (training, validation, prediction) run
        under ``torch.autocast`` in bfloat16 or float16, while the weights, the losses
        and the optimizer stay in float32. "bf16" works on CPUs and GPUs; "fp16" needs
        ``device="cuda"`` and a loss-level ``loss_weighting`` (its gradients go through
        a ``torch.amp.GradScaler``). None trains in float32.
    n_threads : int or None, default=None
        CPU threads torch uses while fitting and predicting. None leaves torch's
        count as it is: one per core by default, or what ``OMP_NUM_THREADS``,
        ``torch.set_num_threads`` or ``threadpoolctl.threadpool_limits`` set, which
        includes the share of the cores that joblib gives each worker of
        ``GridSearchCV(n_jobs=...)``. An int fixes it during each call (the previous
        count is restored): ``-1`` every CPU, ``-2`` all but one. Small networks
        gain little from several threads and lose much when another process keeps a
        core busy; see the training guide.
    compile : bool or dict, default=False
        Compile the network with ``torch.compile`` (its shared part and its heads
        separately); a dict is passed to ``torch.compile`` as keyword arguments (for
        example ``{"mode": "max-autotune"}``, or ``{"backend": "aot_eager"}`` where no
        C++ compiler is at hand). Compilation happens in the first batch and takes
        seconds to minutes; it pays on a GPU and for long fits. When it fails, ``fit``
        raises a ``RuntimeError`` saying so.
    categorical_features : "from_dtype", None, or array-like of str, int or bool, \
default="from_dtype"
        Which columns of X are categories, as in scikit-learn's
        ``HistGradientBoostingRegressor``. "from_dtype": the DataFrame columns of
        category, string, object or boolean dtype. A list of column names or indices, or
        a boolean mask, also makes those (integer) columns categorical. None: no column
        is (a column of strings is then an error). A categorical column is one-hot
        encoded inside the network up to ``one_hot_max_categories`` categories and
        embedded (a learned vector per category) above; categories not seen in fit go
        to an unknown bucket (all zeros), and NaN is a category of its own.
    numeric_scaling : {"standard", "squashing", "robust", "quantile"} or None, \
default="standard"
        How the network scales the numeric columns, from statistics of the training
        rows, so that a raw table needs no scaler in front: "standard" uses the mean
        and standard deviation (as ``StandardScaler``); "squashing" centres on the
        median, divides by the interquartile range (half the range where that is zero)
        and clips smoothly to (-3, 3) with ``x / sqrt(1 + (x / 3) ** 2)``, which tames
        outliers and heavy tails; "robust" is the same without clipping; "quantile"
        maps each column to normal scores through its quantiles. Arrays, sparse
        matrices and memmaps are scaled too, batch by batch. None leaves the numbers as
        they are (for an X already scaled by a Pipeline). Whatever the scaling, NaN in
        a numeric column is replaced by the column's median and, where fit saw NaN in
        that column, a missing indicator is added. See the user guide's "Raw tables"
        page for the scalings measured on real tables.
    one_hot_max_categories : int, default=16
        Categorical columns with at most this many categories (NaN counting as one) are
        one-hot encoded; those with more are embedded. 0 embeds them all.

    Attributes
    ----------
    tasks_ : list of Task
        The tasks with their kinds and columns resolved.
    classes_ : list of ndarray, or ndarray
        Class labels of each classification task, in task order (multilabel: the label
        columns). The array itself when y was one-dimensional.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Names of the features, when X has string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (its ``module_`` is the torch network).
    history_ : skorch.callbacks.History
        Per-epoch records: ``train_loss``, ``train_loss_<task>``, ``train_score_<task>``,
        ``train_score`` (the unweighted mean of the task scores), ``weight_<task>``,
        ``dur``; with early stopping the same ``valid_*`` keys and
        ``valid_score_best``, True where the validation score improved by more than
        ``tol`` (the last such epoch is ``best_epoch_``).
    best_epoch_ : int or None
        With early stopping, the epoch (counted from 1, as ``history_[:, "epoch"]``)
        whose weights were restored at the end of the fit: the last one that improved
        the validation score by more than ``tol``. None without early stopping.
    task_weights_ : dict of str to float
        Effective weight of each task in the last epoch (fixed times dynamic weights).
    n_iter_ : int
        Number of epochs run.
    task_affinity_ : DataFrame of shape (n_tasks, n_tasks)
        With ``record_task_affinity``: the mean over epochs of the per-epoch gradient
        cosine similarities, indexed by task names (pandas is required).
    task_relation_ : DataFrame of shape (n_tasks, n_tasks)
        With ``task_relation``: the learned task correlation (pandas is required).

    See Also
    --------
    Task : declares a task's kind and columns.
    sklearn_mtl.metrics.make_task_scorer : per-task scorers for GridSearchCV.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = np.column_stack([X @ [1.0, 2.0, 0.0, 0.0, 0.5], X[:, 0] + X[:, 1] > 0])
    >>> y[:20, 1] = np.nan  # missing labels of the second task
    >>> est = MultiTaskNetEstimator(hidden_layer_sizes=(32,), max_epochs=30, random_state=0)
    >>> est.fit(X, y).predict(X[:2]).shape
    (2, 2)
    >>> [(task.name, task.kind) for task in est.tasks_]
    [('task0', 'regression'), ('task1', 'binary')]
    >>> sorted(est.score_tasks(X, y))
    ['task0', 'task1']
    """

    def __init__(
        self,
        tasks=None,
        task_weights=None,
        loss_weighting="fixed",
        architecture="hard",
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        head_layer_sizes=(),
        numeric_embedding=None,
        wide=False,
        ensemble_size=1,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="constant",
        alpha=1e-4,
        batch_size=256,
        max_epochs=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        record_task_affinity=False,
        task_relation=None,
        checkpoint_dir=None,
        precision=None,
        compile=False,
        categorical_features="from_dtype",
        numeric_scaling="standard",
        one_hot_max_categories=16,
        n_threads=None,
    ):
        self.tasks = tasks
        self.task_weights = task_weights
        self.loss_weighting = loss_weighting
        self.architecture = architecture
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.head_layer_sizes = head_layer_sizes
        self.numeric_embedding = numeric_embedding
        self.wide = wide
        self.ensemble_size = ensemble_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.record_task_affinity = record_task_affinity
        self.task_relation = task_relation
        self.checkpoint_dir = checkpoint_dir
        self.precision = precision
        self.compile = compile
        self.categorical_features = categorical_features
        self.numeric_scaling = numeric_scaling
        self.one_hot_max_categories = one_hot_max_categories
        self.n_threads = n_threads

    # -- parameters ----------------------------------------------------------------
    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.task_weights, Mapping):
            for name, weight in self.task_weights.items():
                params[f"{_TASK_WEIGHT_PREFIX}{name}"] = weight
        return params

    def set_params(self, **params):
        """Set parameters; ``task_weights__<task>=w`` sets one task's weight.

        The ``task_weights`` dict is replaced by an updated copy, never modified.

        Returns
        -------
        self : MultiTaskNetEstimator
        """
        per_task = {
            key[len(_TASK_WEIGHT_PREFIX) :]: params.pop(key)
            for key in list(params)
            if key.startswith(_TASK_WEIGHT_PREFIX)
        }
        nested = {key: params.pop(key) for key in list(params) if "__" in key}
        if params:
            super().set_params(**params)
        if nested:
            self._resolve_aliases({key.split("__", 1)[0] for key in nested})
            super().set_params(**nested)
        if per_task:
            current = self.task_weights
            if current is not None and not isinstance(current, Mapping):
                raise TypeError(
                    f"task_weights must be a dict to set one task's weight; got {current!r}."
                )
            self.task_weights = {**(current or {}), **per_task}
        return self

    def _resolve_aliases(self, names) -> None:
        """Replace a string alias by its object, so that its parameters can be set.

        ``set_params(loss_weighting__temperature=2)`` with ``loss_weighting="dwa"``
        sets the parameter on a fresh ``DynamicWeightAverage()``, as the alias would
        have built; it works the same for ``architecture`` and ``task_relation``.
        """
        from ._relationship import get_task_relation

        resolvers = {
            "loss_weighting": get_weighting,
            "architecture": get_architecture,
            "task_relation": get_task_relation,
        }
        for name in names:
            value = getattr(self, name, None)
            if name == "architecture" and value == "auto":
                raise ValueError(
                    "architecture='auto' has no parameters of its own: choose an "
                    "architecture (for example architecture='hard') to set its parameters."
                )
            if name in resolvers and isinstance(value, str):
                setattr(self, name, resolvers[name](value))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=True)
        tags.regressor_tags = RegressorTags()
        return tags

    _parameter_constraints: ClassVar[dict] = {
        "tasks": [None, Mapping, list, tuple],
        "task_weights": [None, Mapping],
        "loss_weighting": [str, LossWeighting],
        "architecture": [str, Architecture, torch.nn.Module, callable],
        "hidden_layer_sizes": LAYER_SIZES,
        "activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "head_layer_sizes": LAYER_SIZES,
        "numeric_embedding": [None, StrOptions({"periodic"})],
        "wide": ["boolean"],
        "ensemble_size": [positive_int],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "optimizer": [str, callable],
        "lr": [finite(0, closed="neither")],
        "alpha": [finite(0)],
        "batch_size": [positive_int],
        "max_epochs": [positive_int],
        "early_stopping": ["boolean", StrOptions({"refit"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [positive_int],
        "tol": [finite(0)],
        "warm_start": ["boolean"],
        "callbacks": [None, list, tuple],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "record_task_affinity": ["boolean", positive_int],
        "task_relation": [None, str, BaseEstimator],
        "checkpoint_dir": [None, str, os.PathLike],
        "precision": [None, StrOptions({"bf16", "fp16"})],
        "compile": ["boolean", dict],
        "categorical_features": [None, StrOptions({"from_dtype"}), "array-like"],
        "numeric_scaling": [None, StrOptions({s for s in SCALINGS if s is not None})],
        "one_hot_max_categories": [Interval(Integral, 0, None, closed="left")],
        "n_threads": [None, numbers.Integral],
    }

    def _check_params(self) -> None:
        """Validate the parameters (``_parameter_constraints``, then what they cannot say)."""
        self._validate_params()
        check_n_threads(self.n_threads)
        owner = type(self).__name__
        check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes", owner)
        check_layer_sizes(self.head_layer_sizes, "head_layer_sizes", owner)
        for index, callback in enumerate(self.callbacks or ()):
            if isinstance(callback, tuple) and len(callback) == 2:
                name, callback = callback
                if not isinstance(name, str):
                    raise InvalidParameterError(
                        f"callbacks[{index}] is a pair whose name {name!r} is not a str."
                    )
            if not (
                isinstance(callback, Callback)
                or (isinstance(callback, type) and issubclass(callback, Callback))
            ):
                raise InvalidParameterError(
                    f"callbacks[{index}]={callback!r} is not a skorch callback (an instance "
                    "or subclass of skorch.callbacks.Callback, or a (name, callback) pair)."
                )
        if self.early_stopping and self.validation_fraction <= 0:
            raise ValueError(
                f"early_stopping={self.early_stopping!r} needs validation_fraction > 0."
            )

    def _network_config(self) -> NetworkConfig:
        owner = type(self).__name__
        return NetworkConfig(
            hidden_layer_sizes=check_layer_sizes(
                self.hidden_layer_sizes, "hidden_layer_sizes", owner
            ),
            activation=self.activation,
            dropout=float(self.dropout),
            batch_norm=bool(self.batch_norm),
            head_layer_sizes=check_layer_sizes(self.head_layer_sizes, "head_layer_sizes", owner),
        )

    def _base_weights(self, names: list[str]) -> torch.Tensor:
        weights = self.task_weights or {}
        if not isinstance(weights, Mapping):
            raise TypeError(f"task_weights must be a dict {{task: weight}}; got {weights!r}.")
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(
                f"task_weights names unknown task(s) {unknown}; the tasks are {names}."
            )
        values = []
        for name in names:
            weight = weights.get(name, 1.0)
            if not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"task_weights[{name!r}] must be a finite non-negative number; got {weight!r}."
                )
            values.append(float(weight))
        if not any(values):
            raise ValueError(
                "task_weights are all zero: at least one task must have a positive weight."
            )
        return torch.tensor(values, dtype=torch.float32)

    # -- input validation ----------------------------------------------------------
    def _validate_X(self, X, reset: bool):
        """Check X and return the network's input (see :class:`InputEncoder`).

        With ``reset`` the input encoding is fitted on X (columns' roles, categories,
        statistics of the numbers).
        """
        if not reset and self._is_checked_float_array(X):
            with np.errstate(over="ignore"):
                X32 = X.astype(np.float32, copy=False)
            # float64 values beyond float32's range become inf in the cast: check the
            # float32 values, as validate_data does in fit (an overflow falls through
            # to it, which raises its usual error).
            if X32 is X or bool(np.isfinite(X32.sum())):
                return self._encode_X(X32)
        if is_table(X):  # a DataFrame, or an array of strings or objects
            if X.shape[0] < 1:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
                    "is required."
                )
            validate_data(self, X, reset=reset, skip_check_array=True)
        elif is_row_streamable(X):  # a memmap: read batch by batch, never copied whole
            check_streamed_X(X)
            X = validate_data(self, X, reset=reset, skip_check_array=True)
        else:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse="csr",
                dtype=np.float32,
                ensure_all_finite="allow-nan",
                ensure_min_samples=1,
            )
            if sp.issparse(X):
                if not np.isfinite(X.data).all():
                    raise ValueError("Input X contains NaN; a sparse X must hold finite values.")
                X = X.astype(np.float32)
                X.sort_indices()
        if reset:
            self.input_encoder_ = InputEncoder(self.categorical_features, self.numeric_scaling)
            self.input_encoder_.fit(X)
        return self._encode_X(X)

    def _encode_X(self, X):
        encoder = getattr(self, "input_encoder_", None)  # None: a model saved before it
        return X if encoder is None else encoder.transform(X)

    def _is_checked_float_array(self, X) -> bool:
        """Whether X is a finite float ndarray of the fitted width, without feature names.

        ``validate_data`` would only convert it to float32: the fast path of ``predict``
        (whose validation cost twice the forward pass of one row). Anything else, or any
        doubt, goes through ``validate_data``, which raises the usual errors and warnings.
        """
        return (
            type(X) is np.ndarray
            and X.dtype in (np.float32, np.float64)
            and X.ndim == 2
            and X.shape[0] >= 1
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
            and bool(np.isfinite(X.sum()))  # a NaN or inf (or an overflow) falls through
        )

    def _table(self, y, n_samples: int) -> TargetTable:
        table = as_target_table(y)
        if table.n_samples != n_samples:
            raise ValueError(
                f"X has {n_samples} rows but y has {table.n_samples}; they must match."
            )
        return table

    def _check_table_matches(self, table: TargetTable) -> None:
        n_columns = self._n_target_columns
        if len(table.columns) != n_columns:
            raise ValueError(
                f"y has {len(table.columns)} column(s) but the model was fitted on {n_columns}."
            )
        if table.names is not None and self._target_names is not None:
            if table.names != self._target_names:
                raise ValueError(
                    f"y's columns {table.names} differ from those seen in fit "
                    f"({self._target_names})."
                )

    def _sample_weight(self, sample_weight, X) -> torch.Tensor | None:
        if sample_weight is None:
            return None
        weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if np.any(weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        return torch.from_numpy(np.array(weight, dtype=np.float32))

    # -- fitting -------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the network on X and the tasks' labels in y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Features (a DataFrame's column names are kept in ``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
            Labels; NaN or None marks a missing label.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, applied in every task's loss.

        Returns
        -------
        self : MultiTaskNetEstimator
        """
        self._check_params()
        keep = self.warm_start and hasattr(self, "net_")
        return self._fit(X, y, sample_weight, epochs=self.max_epochs, keep=keep, classes=None)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch on X, y (initialising the model on the first call).

        Early stopping does not apply. Labels of classification tasks must have been
        seen in the first call, or be declared there with ``classes``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : dict of str to array-like, default=None
            On the first call, all class labels of some classification tasks.

        Returns
        -------
        self : MultiTaskNetEstimator
        """
        first = not hasattr(self, "net_")
        if first:
            self._check_params()
        return self._fit(
            X, y, sample_weight, epochs=1, keep=not first, classes=classes, full_fit=False
        )

    def _fit(self, X, y, sample_weight, *, epochs, keep, classes, full_fit=True):
        """Fit or continue fitting; ``full_fit`` is False for ``partial_fit`` (one epoch,
        no early stopping, no checkpoint)."""
        with torch_threads(self.n_threads):
            return self._fit_with_threads(
                X, y, sample_weight, epochs=epochs, keep=keep, classes=classes, full_fit=full_fit
            )

    def _fit_with_threads(self, X, y, sample_weight, *, epochs, keep, classes, full_fit):
        X = self._validate_X(X, reset=not keep)
        table = self._table(y, X.shape[0])
        weight = self._sample_weight(sample_weight, X)
        if keep:
            self._check_table_matches(table)
        else:
            self._fit_tasks(table, classes)
        targets = np.concatenate([encoder.encode(table) for encoder in self.encoders_], axis=1)
        if not keep:
            self._disjoint_rows = self._labels_on_disjoint_rows(targets)
        self._check_trainable(targets, weight)
        data = TaskData(_as_tensor(X), torch.from_numpy(targets), weight)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        device = resolve_device(self.device)
        validate = bool(self.early_stopping) and not (keep and self._refits())
        split = self._split(data, seed, use_validation=full_fit and validate)
        self._check_batch_norm(len(split.train))
        split = place_on_device(split, device)
        # The fit's own generators (initialisation, shuffling, dropout, random
        # weightings): torch's global random state is neither used nor changed, so
        # seeded fits in concurrent threads are reproducible (see _random.py).
        generators = FitGenerators(seed, device)
        if not keep:
            self.net_ = self._build_net(X.shape[1], device, full_fit, generators.init)
        self.net_.generator_ = generators.shuffle
        self.net_.random_generators_ = generators
        check_precision(self.precision, device, self.net_.criterion_.weighting)
        self.net_.precision, self.net_.compile_module = self.precision, self.compile
        self.net_.schedule_start_ = len(self.net_.history) if keep else 0
        self.net_.schedule_off_ = not full_fit
        checkpoint = None
        if self.checkpoint_dir is not None and full_fit and not keep:
            checkpoint = FitCheckpoint.for_fit(self, X, data.targets, weight, epochs)
            epochs = checkpoint.epochs_left
        refit = full_fit and not keep and self._refits() and split.valid is not None
        if checkpoint is not None:  # for this run only: no part of the fitted model
            checkpoint.attach(self.net_)
        try:
            with active_generators(generators):
                self._run(split, epochs, full_fit and not refit)
        finally:
            if checkpoint is not None:
                checkpoint.detach(self.net_)
        if refit:  # the same training on every row, for the chosen number of epochs
            chosen = smoothed_best_epoch(self.net_.history[:, "valid_loss"])
            self._warn_if_not_stopped(epochs, chosen)
            generators = FitGenerators(seed, device)  # the same initial weights
            self.net_ = self._build_net(X.shape[1], device, False, generators.init)
            self.net_.generator_ = generators.shuffle
            self.net_.random_generators_ = generators
            self.net_.precision, self.net_.compile_module = self.precision, self.compile
            self.net_.schedule_start_, self.net_.schedule_off_ = 0, False
            every_row = SplitData(data, None)
            every_row = place_on_device(every_row, device)
            with active_generators(generators):
                self._run(every_row, chosen, full_fit=False)
        self._after_training()
        return self

    def _labels_on_disjoint_rows(self, targets: np.ndarray) -> bool:
        """Whether there are two tasks or more, all of one kind, and no row is labelled
        for two of them."""
        if len(self.encoders_) < 2 or len({e.kind for e in self.encoders_}) > 1:
            return False
        labelled = np.zeros(len(targets), dtype=np.int64)
        start = 0
        for encoder in self.encoders_:
            stop = start + encoder.n_targets
            labelled += ~np.isnan(targets[:, start:stop]).all(axis=1)
            start = stop
        return bool(labelled.max() <= 1)

    def _warn_if_not_stopped(self, epochs: int, chosen: int) -> None:
        """ConvergenceWarning when the validated run of "refit" used all its epochs."""
        stopper = dict(self.net_.callbacks_).get("early_stopping")
        history = self.net_.history
        if stopper is None or stopper.stopped_ or len(history) < max(2, epochs):
            return
        if len(history) <= self.n_iter_no_change:  # too short a run to have stopped
            return
        warnings.warn(
            f"max_epochs={self.max_epochs} ran out while the validation loss was still "
            f"improving (it improved within the last n_iter_no_change="
            f"{self.n_iter_no_change} epochs); the refit on all rows trains for {chosen} "
            "epochs. Increase max_epochs to let early stopping choose.",
            ConvergenceWarning,
            stacklevel=_user_stacklevel(),
        )

    def _refits(self) -> bool:
        return isinstance(self.early_stopping, str) and self.early_stopping == "refit"

    def _check_trainable(self, targets: np.ndarray, weight: torch.Tensor | None) -> None:
        """Refuse data that would train a task on nothing: all its labelled rows weigh
        0 (a loss of 0/0)."""
        if weight is not None:
            start = 0
            w = weight.numpy()
            for encoder in self.encoders_:
                stop = start + encoder.n_targets
                labelled = ~np.isnan(targets[:, start:stop]).all(axis=1)
                if labelled.any() and not w[labelled].any():
                    raise ValueError(
                        f"Task {encoder.task_.name!r}: every row with a label has "
                        "sample_weight 0, so the task has nothing to learn from. Give some "
                        "of its rows a positive weight, or drop the task."
                    )
                start = stop

    def _check_batch_norm(self, n_train: int) -> None:
        if self.batch_norm and (n_train < 2 or self.batch_size < 2):
            raise ValueError(
                "batch_norm=True needs batches of at least 2 rows (batch statistics of "
                f"one row are undefined); got batch_size={self.batch_size} and "
                f"{n_train} training row(s)."
            )

    def _fit_tasks(self, table: TargetTable, classes) -> None:
        classes = classes or {}
        self.encoders_ = [
            TaskEncoder(task, positions).fit(table, classes.get(task.name))
            for task, positions in resolve_tasks(self.tasks, table)
        ]
        self.tasks_ = [encoder.task_ for encoder in self.encoders_]
        self._n_target_columns = len(table.columns)
        self._target_names = table.names
        self._target_is_frame = table.is_frame
        self._target_is_1d = table.is_1d
        classes = [e.classes_ for e in self.encoders_ if e.classes_ is not None]
        self.classes_: list[np.ndarray] | np.ndarray = classes
        if table.is_1d and len(classes) == 1:
            self.classes_ = classes[0]
        if self.verbose:
            print(describe_tasks(self.tasks_))

    def _split(self, data: TaskData, seed: int, use_validation: bool) -> SplitData:
        n_samples = len(data)
        if not use_validation or n_samples < 2:
            return SplitData(data, None)
        n_valid = min(n_samples - 1, max(1, round(self.validation_fraction * n_samples)))
        order = np.random.RandomState(seed).permutation(n_samples)
        return SplitData(
            data.subset(np.sort(order[n_valid:])), data.subset(np.sort(order[:n_valid]))
        )

    def _build_net(
        self,
        n_features: int,
        device: torch.device,
        full_fit: bool,
        generator: torch.Generator | None = None,
    ) -> MultiTaskNet:
        """Build and initialise the net; its initial weights are drawn from ``generator``
        (a fixed one when None: loading overwrites them), never from torch's global
        random state."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        with drawing_from(generator):
            return self._build_net_drawing(n_features, device, full_fit)

    def _build_module(self, n_features: int) -> torch.nn.Module:
        """The architecture's torch module for the fitted tasks (also built on the meta
        device by ``load``, to check a file's tensors before allocating)."""
        heads = [
            TaskHeadSpec(task.name, encoder.n_outputs, task.depth, task.inputs_from)
            for task, encoder in zip(self.tasks_, self.encoders_, strict=True)
        ]
        choice = self.architecture
        if isinstance(choice, str) and choice == "auto":
            choice = "task_offsets" if getattr(self, "_disjoint_rows", False) else "hard"
        architecture = copy.deepcopy(get_architecture(choice))
        config = self._network_config()

        def network(width: int) -> MultiTaskModule:
            if not (self.numeric_embedding or self.wide or self.ensemble_size > 1):
                return architecture.build(width, heads, config)
            return RecipeModule(
                lambda inner_width: architecture.build(inner_width, heads, config),
                width,
                heads,
                numeric_embedding=self.numeric_embedding,
                wide=bool(self.wide),
                ensemble_size=int(self.ensemble_size),
            )

        input_encoder = getattr(self, "input_encoder_", None)
        if input_encoder is not None and input_encoder.needs_layer:
            layer = InputLayer(input_encoder, int(self.one_hot_max_categories))
            return EncodedInputModule(layer, network(layer.out_features))
        return network(n_features)

    def _build_net_drawing(
        self, n_features: int, device: torch.device, full_fit: bool
    ) -> MultiTaskNet:
        names = [task.name for task in self.tasks_]
        module = use_generator_dropout(self._build_module(n_features))
        kinds = [encoder.kind for encoder in self.encoders_]
        weighting = copy.deepcopy(get_weighting(self.loss_weighting)).build(
            self._base_weights(names), task_kinds=kinds
        )
        specs, start = [], 0
        for task, encoder in zip(self.tasks_, self.encoders_, strict=True):
            stop = start + encoder.n_targets
            class_weight = getattr(encoder, "class_weight_", None)
            metric = task_metric(encoder)
            specs.append(
                TaskLossSpec(
                    task.name,
                    encoder.kind,
                    start,
                    stop,
                    encoder.kind_,
                    None if class_weight is None else tuple(float(w) for w in class_weight),
                    None
                    if metric == encoder.kind_.default_metric
                    else EncodedScorer(encoder, metric),
                )
            )
            start += encoder.n_targets
        callbacks = list(copy.deepcopy(self.callbacks) or [])
        if full_fit and self.early_stopping:
            refit = self._refits()
            stopper = BestValidScore(
                monitor="valid_loss" if refit else "valid_score",
                lower_is_better=refit,
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="abs",
                load_best=True,
                sink=print,
            )
            callbacks.append(("early_stopping", stopper))
        if self.lr_schedule != "constant":
            callbacks.append(("lr_schedule", LRSchedule(self.lr_schedule, self.max_epochs)))
        if self.verbose:  # after early stopping, to show its marks
            callbacks.append(("progress", EpochProgress(names, per_line=self.verbose >= 2)))
        net = MultiTaskNet(
            module=module,
            criterion=MultiTaskLoss(specs, weighting),
            optimizer=resolve_optimizer(self.optimizer),
            lr=self.lr,
            optimizer__weight_decay=self.alpha,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=None,
            callbacks=callbacks,
            device=str(device),
            verbose=0,
        )
        net.initialize()
        attach_relationships(net, self.record_task_affinity, self.task_relation, names)
        return net

    def _run(self, split: SplitData, epochs: int, full_fit: bool = True) -> None:
        """Train through :func:`~sklearn_mtl._training.train`; report how training ended."""
        first_epoch = len(self.net_.history)
        try:
            train(self.net_, split, epochs)
        except BaseException as error:
            # a non-finite loss (the last good weights restored), possibly followed by
            # a fault of a callback's on_train_end: the estimator stays consistent
            if isinstance(error, NonFiniteLossError) or isinstance(
                error.__cause__, NonFiniteLossError
            ):
                self._after_training()
            raise
        if full_fit:
            stopper = dict(self.net_.callbacks_).get("early_stopping")
            n_run = len(self.net_.history) - first_epoch
            report_end_of_training(self, self.net_, stopper, epochs, n_run)

    def _after_training(self) -> None:
        history = self.net_.history
        self.history_ = history
        self.n_iter_ = len(history)
        names = [task.name for task in self.tasks_]
        last = history[-1] if len(history) else {}
        base = dict(zip(names, self._base_weights(names).tolist(), strict=True))
        self.task_weights_ = {name: float(last.get(f"weight_{name}", base[name])) for name in names}
        fitted_relationships(self)

    @property
    def best_epoch_(self) -> int | None:
        history = self.__dict__.get("history_")
        if history is None:
            raise AttributeError(
                f"This {type(self).__name__} is not fitted yet, so it has no best_epoch_."
            )
        return restored_epoch(history)

    # -- prediction ----------------------------------------------------------------
    def _outputs(self, X) -> list[np.ndarray]:
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        with torch_threads(self.n_threads):
            return self.net_.forward_outputs(X, max(self.batch_size, _PREDICT_BATCH_SIZE))

    def predict(self, X):
        """Predict every task: regression values and decoded class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray or DataFrame of shape (n_samples, n_columns), or (n_samples,)
            One column per column of y in fit, in y's order (a multilabel task fills
            its columns with 0/1). A DataFrame with y's column names when y was one;
            1-D when y was 1-D.
        """
        index = getattr(X, "index", None)
        outputs = self._outputs(X)
        columns: list[np.ndarray | None] = [None] * self._n_target_columns
        for encoder, output in zip(self.encoders_, outputs, strict=True):
            decoded = encoder.decode(output)
            if decoded.ndim == 1:
                decoded = decoded[:, None]
            for j, position in enumerate(encoder.positions):
                columns[position] = decoded[:, j]
        if self._target_is_1d:
            return columns[0]
        filled = cast(list[np.ndarray], columns)  # every position belongs to a task
        if self._target_is_frame:
            import pandas as pd

            names = cast(list, self._target_names)
            return pd.DataFrame(dict(zip(names, filled, strict=True)), index=index)
        kinds = {column.dtype.kind for column in filled}
        dtype = object if kinds - set("biuf") else np.result_type(*filled)
        return np.column_stack([np.asarray(c, dtype=dtype) for c in filled])

    def predict_proba(self, X):
        """Class probabilities of every classification task.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        list of ndarray, or ndarray
            One array per classification task, in task order: (n_samples, 2) for a
            binary task, (n_samples, n_classes) for multiclass, (n_samples, n_labels)
            of positive-label probabilities for multilabel. The array itself when y
            was one-dimensional.
        """
        outputs = self._outputs(X)
        probas = [
            encoder.proba(output)
            for encoder, output in zip(self.encoders_, outputs, strict=True)
            if encoder.kind_.is_classification
        ]
        if not probas:
            raise ValueError("This model has no classification task, so it has no probabilities.")
        if self._target_is_1d:
            return probas[0]
        return probas

    def predict_quantiles(self, X):
        """Predicted quantiles of every regression task declared with ``quantiles``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        dict of str to ndarray of shape (n_samples, n_quantiles)
            ``{task: quantiles}``, increasing along each row, in the order of the
            task's ``quantiles``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_mtl import MultiTaskNetEstimator, Task
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 3))
        >>> y = X[:, 0] + rng.normal(size=200)
        >>> est = MultiTaskNetEstimator(
        ...     tasks=[Task("y", "regression", quantiles=(0.1, 0.5, 0.9))],
        ...     hidden_layer_sizes=(16,), max_epochs=20, random_state=0).fit(X, y)
        >>> bands = est.predict_quantiles(X)["y"]
        >>> bands.shape, bool(np.all(np.diff(bands, axis=1) > 0))
        ((200, 3), True)
        """
        check_is_fitted(self, "net_")
        wanted = [e.task_.quantiles is not None for e in self.encoders_]
        if not any(wanted):
            raise ValueError(
                "No task of this model predicts quantiles; declare "
                "Task(name, 'regression', quantiles=(0.1, 0.5, 0.9))."
            )
        outputs = self._outputs(X)
        return {
            encoder.task_.name: cast(Regression, encoder.kind_).quantiles_encoded(output)
            * encoder.scale_
            + encoder.mean_
            for encoder, output, keep in zip(self.encoders_, outputs, wanted, strict=True)
            if keep
        }

    def score_tasks(self, X, y, sample_weight=None, metrics=None):
        """Score of each task on X, y, missing labels left out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
            True labels, with the columns seen in fit.
        sample_weight : array-like of shape (n_samples,), default=None
        metrics : dict of str to str, default=None
            Metric per task (see :data:`sklearn_mtl.metrics.METRICS`); the default
            is the task's ``metric``, else R² for regression, accuracy for binary,
            multiclass and ordinal tasks, 1 - Hamming loss for multilabel. Only the
            tasks named are scored when given.

        Returns
        -------
        dict of str to float
            ``{task: score}``; NaN for a task without label in y.
        """
        outputs = self._outputs(X)
        table = self._table(y, outputs[0].shape[0])
        self._check_table_matches(table)
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, outputs[0], dtype=np.float64)
        names = [task.name for task in self.tasks_]
        if metrics is not None:
            unknown = sorted(set(metrics) - set(names))
            if unknown:
                raise ValueError(f"Unknown task(s) {unknown}; the tasks are {names}.")
        scores = {}
        for encoder, output in zip(self.encoders_, outputs, strict=True):
            name = encoder.task_.name
            if metrics is not None and name not in metrics:
                continue
            metric = None if metrics is None else metrics[name]
            scores[name] = task_score(encoder, table, output, metric, weight)
        return scores

    def score(self, X, y, sample_weight=None):
        """Unweighted mean of the tasks' scores (``task_weights`` play no part).

        Each task's ``metric``, by default R² for regression, accuracy for binary,
        multiclass and ordinal tasks, 1 - Hamming loss for multilabel; missing labels
        are left out, and tasks without label in y too, with a
        :class:`~sklearn_mtl.metrics.TaskWithoutLabelWarning` naming them (in a
        cross-validation, the mean of such a fold covers fewer tasks than the others).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        by_task = self.score_tasks(X, y, sample_weight)
        left_out = [name for name, score in by_task.items() if np.isnan(score)]
        if left_out:
            warnings.warn(
                f"score: task(s) {left_out} have no score on these {len(y)} rows (no "
                "label, or too few for the metric); the mean is over the other tasks.",
                TaskWithoutLabelWarning,
                stacklevel=2,
            )
        scores = np.array(list(by_task.values()), dtype=float)
        finite = scores[~np.isnan(scores)]
        return float(finite.mean()) if finite.size else float("nan")

    # -- persistence ---------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to ``path`` in a format that loads without pickle.

        One zip file: the parameters, tasks, classes, target scalers, history and
        package versions as JSON, and the weights (network, loss weighting, optimizer
        state) as safetensors. :meth:`load` rebuilds the model without unpickling
        anything, so loading a file from someone else cannot run code. Models with a
        user-defined network (a custom trunk), a custom optimizer class, or labels that
        are neither strings nor numbers cannot be written this way: use joblib/pickle.
        ``callbacks`` are not saved (a warning says so).

        Parameters
        ----------
        path : str or path-like
            The file to write (replaced atomically when it exists).

        Returns
        -------
        self : MultiTaskNetEstimator

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from sklearn_mtl import MultiTaskNetEstimator
        >>> X = np.random.default_rng(0).normal(size=(60, 3))
        >>> y = np.column_stack([X[:, 0], X[:, 1] > 0])
        >>> est = MultiTaskNetEstimator(hidden_layer_sizes=(8,), max_epochs=3,
        ...                             random_state=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.mtl")
        >>> _ = est.save(path)
        >>> loaded = MultiTaskNetEstimator.load(path)
        >>> bool(np.array_equal(loaded.predict(X), est.predict(X)))
        True
        """
        save_estimator(self, path)
        return self

    @classmethod
    def load(cls, path, device=None):
        """Read a model written by :meth:`save`, without unpickling anything.

        Parameters
        ----------
        path : str or path-like
            The file written by :meth:`save`.
        device : str, default=None
            Where to put the network; None keeps the saved ``device``, except that a
            model saved on a GPU loads on the CPU (with a warning) where CUDA is not
            available.

        Returns
        -------
        MultiTaskNetEstimator
            The fitted estimator, predicting as the saved one did.

        Raises
        ------
        ValueError
            When the file is not an sklearn-mtl model, was tampered with (an unknown
            class name, tensors that do not fit the network), or uses a newer format.

        Warns
        -----
        sklearn_mtl._persistence.SavedVersionWarning
            When the file was written by another version of sklearn-mtl.
        """
        estimator = load_estimator(
            cls,
            path,
            device=device,
            check_params=cls._check_params,
            build_module=lambda est: est._build_module(est.n_features_in_),
            build_net=cls._net_for_loading,
        )
        fitted_relationships(estimator)
        return estimator

    def _net_for_loading(self) -> MultiTaskNet:
        """A fresh net for the fitted attributes read from a file (its state comes next)."""
        device = resolve_device(self.device)
        # The fitted weighting's base weights are in its saved state: task_weights (which
        # set_params may have changed since fit, with other task names) play no part.
        task_weights, self.task_weights = self.task_weights, None
        # built from a fixed generator (torch's global random state is left alone); the
        # saved weights replace the initial ones
        try:
            net = self._build_net(self.n_features_in_, device, full_fit=False)
        finally:
            self.task_weights = task_weights
        net.precision, net.compile_module = self.precision, self.compile
        return net


def _as_tensor(X):
    if sp.issparse(X) or is_row_streamable(X):
        return X
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))
