"""The estimator's fit orchestration: fit, partial_fit, the refit, how training ended."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._callbacks import (
    _user_stacklevel,
    report_end_of_training,
    restored_epoch,
    still_improving,
)
from ._checkpoint import FitCheckpoint
from ._data import SplitData, TaskData
from ._estimator_build import _NetBuilding
from ._estimator_data import _as_tensor
from ._holdout import group_codes, holdout_rows, refit_fallback_reason
from ._net_guard import NonFiniteLossError
from ._net_speed import check_precision
from ._random import FitGenerators
from ._random import active as active_generators
from ._relationship import fitted_relationships
from ._schedule import smoothed_best_epoch
from ._task_encoding import encode_targets
from ._threads import torch_threads
from ._training import place_on_device, resolve_device, train


class _Fitting(_NetBuilding):
    """fit and partial_fit of :class:`~sklearn_mtl.MultiTaskNetEstimator`."""

    def fit(self, X, y, sample_weight=None, classes=None, groups=None):
        """Fit the network on X and the tasks' labels in y.

        A fit that raises on bad input or parameters, before training, leaves the
        estimator as it was: fitted with its former model, or not fitted.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Features (a DataFrame's column names are kept in ``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_columns)
            Labels; NaN or None marks a missing label.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, applied in every task's loss.
        classes : dict of str to array-like, default=None
            All class labels of some binary, multiclass or ordinal tasks,
            ``{task: labels}``, when y may lack some of them (a cross-validation fold
            of a sorted table): the model then knows every class, those absent from y
            included. Ignored when ``warm_start`` continues a fit.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (a patient, a site, a customer) for early
            stopping: the validation part then holds out whole groups (about
            ``validation_fraction`` of the rows), as ``GroupShuffleSplit`` does, so
            that the validation loss measures the network on groups it has not seen
            rather than on near-duplicates of its training rows. Pass the groups that
            split your test data (those of ``GroupKFold``). Ignored when
            ``early_stopping=False``. In ``GridSearchCV`` or ``cross_validate`` with
            metadata routing enabled (``sklearn.set_config(enable_metadata_routing=
            True)``), request them with ``set_fit_request(groups=True)``; there, groups
            given for the splitter alone now need ``set_fit_request(groups=False)``
            (scikit-learn refuses metadata that a ``fit`` accepts but was not told
            about, as for ``sample_weight``).

        Returns
        -------
        self : MultiTaskNetEstimator
        """
        self._check_params()
        keep = self.warm_start and hasattr(self, "net_")
        classes = None if keep else classes
        return self._fit(
            X, y, sample_weight, epochs=self.max_epochs, keep=keep, classes=classes, groups=groups
        )

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

    def _fit(self, X, y, sample_weight, *, epochs, keep, classes, full_fit=True, groups=None):
        """Fit or continue fitting; ``full_fit`` is False for ``partial_fit`` (one epoch,
        no early stopping, no checkpoint). A fit that raises before its training starts
        (bad input or parameters) leaves the estimator's fitted attributes as they were
        (fitted with the former model, or not fitted), never half replaced (a new input
        encoder beside the former network); one that raises during training (a
        ``NonFiniteLossError``, a callback's error) keeps what it trained, for
        inspection and checkpoint resume."""
        before = dict(vars(self))  # fit changes no parameter: all of it is fit's state
        self.__dict__["_training_started"] = False
        try:
            with torch_threads(self.n_threads):
                return self._fit_with_threads(
                    X,
                    y,
                    sample_weight,
                    epochs=epochs,
                    keep=keep,
                    classes=classes,
                    full_fit=full_fit,
                    groups=groups,
                )
        except Exception:
            if not self.__dict__["_training_started"]:
                self.__dict__.clear()
                self.__dict__.update(before)
            raise
        finally:
            self.__dict__.pop("_training_started", None)

    def _fit_with_threads(self, X, y, sample_weight, *, epochs, keep, classes, full_fit, groups):
        # the configuration the network is built from, for save (set_params may change
        # the parameters after fit; the file must describe the fitted network)
        configuration = None if keep else self._configuration()
        X = self._validate_X(X, reset=not keep)
        table = self._table(y, X.shape[0])
        weight = self._sample_weight(sample_weight, X)
        codes = None if groups is None else group_codes(groups, X.shape[0])
        if keep:
            self._check_table_matches(table)
        else:
            self._fit_tasks(table, classes)
        targets = encode_targets(self.encoders_, table)
        if not keep:
            auto = isinstance(self.architecture, str) and self.architecture == "auto"
            # only architecture="auto" reads it (13 to 17 ms at 1,000 tasks)
            self._disjoint_rows = auto and self._labels_on_disjoint_rows(targets)
            # and regression tasks there get slopes of their own (a fitted attribute:
            # files saved before it existed lack it, and load without the slopes)
            self._disjoint_slopes = self._disjoint_rows and all(
                encoder.kind == "regression" for encoder in self.encoders_
            )
        self._check_trainable(targets, weight)
        data = TaskData(_as_tensor(X), torch.from_numpy(targets), weight)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        device = resolve_device(self.device)
        validate = bool(self.early_stopping) and not (keep and self._refits())
        split = self._split(data, seed, use_validation=full_fit and validate, groups=codes)
        self._check_batch_norm(len(split.train))
        split = place_on_device(split, device)
        # The fit's own generators (initialisation, shuffling, dropout, random
        # weightings): torch's global random state is neither used nor changed, so
        # seeded fits in concurrent threads are reproducible (see _random.py).
        generators = FitGenerators(seed, device)
        if not keep:
            self.net_ = self._build_net(X.shape[1], device, full_fit, generators.init)
            self._fitted_params = configuration
        self.net_.generator_ = generators.shuffle
        self.net_.random_generators_ = generators
        check_precision(
            self.precision, device, self.net_.criterion_.weighting, self.net_.optimizer_
        )
        self.net_.precision, self.net_.compile_module = self.precision, self.compile
        self.net_.schedule_start_ = len(self.net_.history) if keep else 0
        self.net_.schedule_off_ = not full_fit
        checkpoint = None
        if self.checkpoint_dir is not None and full_fit and not keep:
            checkpoint = FitCheckpoint.for_fit(self, X, data.targets, weight, epochs, codes)
            epochs = checkpoint.epochs_left
        refit = full_fit and not keep and self._refits() and split.valid is not None
        if checkpoint is not None:  # for this run only: no part of the fitted model
            checkpoint.attach(self.net_)
        self.__dict__["_training_started"] = True
        try:
            with active_generators(generators):
                n_run = self._run(split, epochs, full_fit and not refit)
        finally:
            if checkpoint is not None:
                checkpoint.detach(self.net_)
        stopper = dict(self.net_.callbacks_).get("early_stopping")
        if refit and n_run < epochs and not (stopper is not None and stopper.stopped_):
            refit = False  # interrupted (Ctrl-C): the fit ends with the validated run
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

    def _configuration(self) -> dict | None:
        """A copy of the parameters (but ``callbacks``, which are not saved); None when
        one cannot be copied (such a model cannot be saved anyway)."""
        params = self.get_params(deep=False)
        params["callbacks"] = None
        try:
            return copy.deepcopy(params)
        except Exception:  # a user's object that refuses to be copied
            return None

    def _labels_on_disjoint_rows(self, targets: np.ndarray) -> bool:
        """Whether there are two tasks or more, all of one kind, and no row is labelled
        for two of them."""
        if len(self.encoders_) < 2 or len({e.kind for e in self.encoders_}) > 1:
            return False
        labelled = self._labelled_rows(targets)  # (rows, tasks)
        return bool(labelled.sum(axis=1).max() <= 1)

    def _labelled_rows(self, targets: np.ndarray) -> np.ndarray:
        """Boolean (n_samples, n_tasks): whether each row has a label of each task."""
        present = ~np.isnan(targets)
        widths = [encoder.n_targets for encoder in self.encoders_]
        if all(width == 1 for width in widths):
            return present
        starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.intp)
        return np.logical_or.reduceat(present, starts, axis=1)

    def _warn_if_not_stopped(self, epochs: int, chosen: int) -> None:
        """ConvergenceWarning when the validated run of "refit" used all its epochs."""
        stopper = dict(self.net_.callbacks_).get("early_stopping")
        history = self.net_.history
        if stopper is None or stopper.stopped_ or len(history) < max(2, epochs):
            return
        if not still_improving(history[:, "valid_loss"], self.tol, self.n_iter_no_change):
            return  # a run shorter than n_iter_no_change whose loss no longer fell
        warnings.warn(
            f"max_epochs={self.max_epochs} ran out while the validation loss was still "
            f"improving (it improved within the last n_iter_no_change="
            f"{self.n_iter_no_change} epochs); the refit on all rows trains for {chosen} "
            "epochs. Increase max_epochs to let early stopping choose.",
            ConvergenceWarning,
            stacklevel=_user_stacklevel(),
        )

    def _check_trainable(self, targets: np.ndarray, weight: torch.Tensor | None) -> None:
        """Refuse data that would train a task on nothing: all its labelled rows weigh
        0 (a loss of 0/0)."""
        if weight is not None:
            labelled = self._labelled_rows(targets)
            weighed = (labelled & (weight.numpy() != 0)[:, None]).any(axis=0)
            for index in np.flatnonzero(labelled.any(axis=0) & ~weighed):
                encoder = self.encoders_[index]
                raise ValueError(
                    f"Task {encoder.task_.name!r}: every row with a label has "
                    "sample_weight 0, so the task has nothing to learn from. Give some "
                    "of its rows a positive weight, or drop the task."
                )

    def _check_batch_norm(self, n_train: int) -> None:
        if self.batch_norm and (n_train < 2 or self.batch_size < 2):
            raise ValueError(
                "batch_norm=True needs batches of at least 2 rows (batch statistics of "
                f"one row are undefined); got batch_size={self.batch_size} and "
                f"{n_train} training row(s)."
            )

    def _split(
        self, data: TaskData, seed: int, use_validation: bool, groups: np.ndarray | None = None
    ) -> SplitData:
        """The training and validation parts (see ``_holdout``; whole ``groups`` when
        given); with "refit", no validation part (and one warning) when it would be too
        small to choose from."""
        n_samples = len(data)
        if not use_validation:
            return SplitData(data, None)
        labelled = self._labelled_rows(data.targets.numpy())
        one_group = groups is not None and int(groups.max()) == 0
        if one_group and not self._refits():
            raise ValueError(
                f"early_stopping={self.early_stopping!r} holds out whole groups, and groups "
                "holds a single group: there is none to hold out. Pass at least 2 groups, "
                "or groups=None."
            )
        valid = None
        if n_samples >= 2:
            train_rows, valid = holdout_rows(
                labelled, n_samples, self.validation_fraction, seed, groups
            )
        if self._refits():
            weight = None if data.sample_weight is None else data.sample_weight.numpy()
            reason = refit_fallback_reason(labelled, valid, self.validation_fraction, weight)
            if one_group:
                reason = "groups holds a single group, so none can be held out"
            if reason is not None:
                warnings.warn(
                    f"early_stopping='refit' cannot choose the number of epochs: {reason}. "
                    f"Trained on every row for max_epochs={self.max_epochs} instead (as "
                    "early_stopping=False, which silences this warning).",
                    UserWarning,
                    stacklevel=_user_stacklevel(),
                )
                return SplitData(data, None)
        if valid is None:
            return SplitData(data, None)
        return SplitData(data.subset(train_rows), data.subset(valid))

    def _run(self, split: SplitData, epochs: int, full_fit: bool = True) -> int:
        """Train through :func:`~sklearn_mtl._training.train`; report how training ended.
        Returns the number of epochs run."""
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
        n_run = len(self.net_.history) - first_epoch
        if full_fit:
            stopper = dict(self.net_.callbacks_).get("early_stopping")
            report_end_of_training(self, self.net_, stopper, epochs, n_run)
        return n_run

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
