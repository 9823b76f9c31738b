"""The estimator's save/load glue over :mod:`sklearn_mtl._persistence`."""

from __future__ import annotations

from ._estimator_predict import _Prediction
from ._net import MultiTaskNet
from ._persistence import load_estimator, save_estimator
from ._relationship import fitted_relationships
from ._training import resolve_device


class _Persistence(_Prediction):
    """save and load of :class:`~sklearn_mtl.MultiTaskNetEstimator` (the last of its layers)."""

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
