"""MultiTaskNetEstimator: the scikit-learn face of the multi-task network."""

from __future__ import annotations

from ._doc_link import DocLinkMixin
from ._estimator_io import _Persistence


class MultiTaskNetEstimator(DocLinkMixin, _Persistence):
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
    architecture : str, Architecture or torch module, default="auto"
        How the tasks share the network: an alias of
        ``sklearn_mtl.architectures.ARCHITECTURES`` ("hard", "soft", "cross_stitch",
        "mmoe", "ple", "task_attention", "task_offsets"), an
        :class:`~sklearn_mtl.architectures.Architecture` object, or a
        ``torch.nn.Module`` class, factory or instance mapping X to a shared
        representation (wrapped in :class:`~sklearn_mtl.architectures.CustomTrunk`;
        the task heads are added). ``architecture__<param>`` sets an architecture's own
        parameters (``architecture__n_experts``), an alias included.
        "auto" (the default) is "hard", except for tasks on disjoint rows (at least two
        tasks of one kind, and no row labelled for more than one, such as one task per
        school): then "task_offsets" (:class:`~sklearn_mtl.architectures.TaskOffsets`:
        one network for all tasks, with a scale and a shift of its output per task),
        because one head per task over-fits tasks that each have few rows; for
        regression tasks ``TaskOffsets(task_slopes=True)`` (each task also gets a linear
        map of the input of its own), trained with ``lr="auto"``'s 3e-4. The default
        was "hard" before the recipe of the user guide's "Do the defaults hold?" became
        the default.
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
    numeric_embedding : None or "periodic", default="periodic"
        "periodic" passes each input feature through its own periodic embedding before
        the network (16 frequencies and a small linear layer to 4 values, kept beside
        the raw value: RealMLP's "PBLD" embedding), which lets the network fit sharp or
        oscillating effects of a single feature. The network's input is 5 times wider.
        None feeds the features to the network as they are (the former default).
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
    lr : float or "auto", default="auto"
        Learning rate. "auto" is 1e-3, except 3e-4 where ``architecture="auto"`` picks
        :class:`~sklearn_mtl.architectures.TaskOffsets` with task slopes (regression
        tasks on disjoint rows): there the smaller step lets early stopping's refit
        choose among finer epochs (user guide, "The school benchmark"). The default was
        1e-3 before.
    lr_schedule : {"constant", "cosine", "flat_cosine"}, default="constant"
        How the learning rate changes over the ``max_epochs`` of ``fit``, batch by batch:
        "constant" keeps ``lr``; "cosine" decays it from ``lr`` to 0 along half a cosine;
        "flat_cosine" keeps ``lr`` for the first half and decays it over the second.
        ``partial_fit`` always uses ``lr``.
    alpha : float, default=1e-4
        L2 penalty (weight decay) on the weight matrices, not on biases.
    label_smoothing : float in [0, 1), default=0.0
        Label smoothing of the cross-entropy of the binary, multiclass, multilabel and
        ordinal tasks, as torch's ``cross_entropy(label_smoothing=...)``: the target is
        the true class with weight ``1 - label_smoothing`` plus ``label_smoothing / K``
        on each of the K classes (K=2 for each binary or multilabel column, whose
        target becomes ``y * (1 - e) + e / 2``). 0 trains on the labels as they are.
        Regression tasks and tasks with a callable loss are not affected.
    batch_size : int, default=256
        Rows per training batch (all rows when larger than the data).
    max_epochs : int, default=200
        Maximum number of passes over the training data.
    early_stopping : bool or "refit", default="refit"
        "refit" (the default) holds out ``validation_fraction`` of the rows, trains on
        the others until the validation loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, picks the epoch with the lowest validation loss
        averaged over 5 neighbouring epochs (never one of the first 2 of a longer run,
        whose windows would be cut short: the window of epochs 1 to 5 stands for them,
        as epoch 3), and then trains the same network again,
        from the same initial weights, on all rows for that many epochs (at most twice
        the cost of one fit): no row is lost to validation, and one lucky epoch of a
        small validation split does not decide. The refit's history is ``history_``
        and ``n_iter_`` its number of epochs (``best_epoch_`` is None). When the
        validation part would hold fewer than 2 labelled rows (of positive
        ``sample_weight``), as on a table of a few rows, "refit" warns once
        (``UserWarning``) and trains on every row for ``max_epochs``, as False does.
        The held-out rows are drawn at random, adjusted so that every task with two
        labelled rows or more has a labelled row in each part (tasks on disjoint rows);
        a task with a single labelled row trains on it and is not validated.
        True holds out the same rows, stops when the unweighted mean of the tasks'
        validation scores has not improved by ``tol`` for ``n_iter_no_change`` epochs,
        and restores the weights of the best epoch (``best_epoch_``); the held-out rows
        are never trained on. False (the former default) trains for ``max_epochs`` on
        all rows, as scikit-learn's MLP does. With a warm start and in
        ``partial_fit``, "refit" continues training like False. Whatever the setting, a
        ``ConvergenceWarning`` says when ``max_epochs`` ran out while the model still
        improved (see the user guide's "Controlling the training").
    validation_fraction : float, default=0.2
        Share of the rows held out for early stopping (0.1 before the recipe became
        the default).
    n_iter_no_change : int, default=20
        Epochs without improvement before stopping (10 before the recipe became the
        default).
    tol : float, default=1e-4
        Minimum improvement of the validation score.
    weight_averaging : None or int, default=None
        Predict with the average of the network's weights at the end of the last
        ``weight_averaging`` epochs of the training run (uniform averaging, as
        stochastic weight averaging over the final epochs, at the same learning rate),
        or of all its epochs when it ran fewer. With ``early_stopping="refit"`` it
        averages the last epochs of the refit on all rows, which ends at the chosen
        epoch. Floating-point buffers (batch normalisation's running statistics) are
        averaged too. It keeps that many copies of the weights during the fit. None
        (or 1) predicts with the last weights. Cannot be combined with
        ``early_stopping=True``, which restores the best epoch's weights instead. A fit
        resumed from ``checkpoint_dir`` averages the epochs run since it resumed.
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
        and the optimizer stay in float32. "bf16" works on CPUs and GPUs; "fp16"
        (meant for CUDA; torch runs it on the CPU too) puts the gradients through a
        ``torch.amp.GradScaler``, with every ``loss_weighting``: gradient-level methods
        take their per-task gradients of the scaled losses and unscale them before
        combining them, and a step whose gradients overflow is skipped. fp16 cannot be
        used with ``optimizer=torch.optim.LBFGS``. None trains in float32.
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
    numeric_scaling : {"auto", "standard", "squashing", "robust", "quantile"}, None or dict, \
default="standard"
        How the network scales the numeric columns, from statistics of the training
        rows, so that a raw table needs no scaler in front: "standard" uses the mean
        and standard deviation (as ``StandardScaler``); "squashing" centres on the
        median, divides by the interquartile range (half the range where that is zero)
        and clips smoothly to (-3, 3) with ``x / sqrt(1 + (x / 3) ** 2)``, which tames
        outliers and heavy tails; "robust" is the same without clipping; "quantile"
        maps each column to normal scores through its quantiles. "auto" chooses per
        column: "squashing" for a heavy-tailed column (more than two values, one of
        them more than 8 standard deviations from the mean: an outlier, or a lognormal
        or power-law tail), "standard" for the others. Arrays, sparse
        matrices and memmaps are scaled too, batch by batch. None leaves the numbers as
        they are (for an X already scaled by a Pipeline). A dict ``{column: method}``
        chooses per column, by name (a DataFrame) or index, for example
        ``{"income": "quantile", "age": None}``; the numeric columns it does not name
        get "standard". After fit, ``input_encoder_.column_scalings_`` gives the method
        of each numeric column by name ("auto" resolved). Whatever the scaling, NaN in
        a numeric column is replaced by
        the column's median and, where fit saw NaN in that column, a missing indicator
        is added. See the user guide's "Raw tables" page for the scalings measured on
        real tables.
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
        architecture="auto",
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        head_layer_sizes=(),
        numeric_embedding="periodic",
        wide=False,
        ensemble_size=1,
        optimizer="adam",
        lr="auto",
        lr_schedule="constant",
        alpha=1e-4,
        label_smoothing=0.0,
        batch_size=256,
        max_epochs=200,
        early_stopping="refit",
        validation_fraction=0.2,
        n_iter_no_change=20,
        tol=1e-4,
        weight_averaging=None,
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
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.weight_averaging = weight_averaging
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
