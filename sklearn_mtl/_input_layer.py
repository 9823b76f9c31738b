"""The network's input layer: scaled numbers, missing indicators, one-hot and embedded codes.

:class:`InputLayer` turns the float32 matrix of :class:`~sklearn_mtl._input.InputEncoder`
(numbers as they are, NaN kept, then one integer code per categorical column) into the
features the architecture reads. Its statistics are buffers, so they move with the
network to a GPU and are saved with its weights; the embeddings are trained with it.
:class:`EncodedInputModule` puts the layer in front of any architecture's module.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._input import InputEncoder
from .architectures import MultiTaskModule, WrapperModule

__all__ = ["EncodedInputModule", "InputLayer", "embedding_dim"]

_CLIP = 3.0  # smooth clipping bound of "squashing" (as RealMLP and skrub's SquashingScaler)
_QUANTILE_EPS = 1e-7  # probabilities clipped to [eps, 1 - eps]: normal scores within +-5.2


def embedding_dim(n_codes: int) -> int:
    """Width of the embedding of a column with ``n_codes`` codes (fastai's rule, at most 16).

    Examples
    --------
    >>> embedding_dim(20), embedding_dim(1000)
    (9, 16)
    """
    return int(min(16, max(2, round(1.6 * n_codes**0.56))))


class InputLayer(nn.Module):
    """Impute, scale and encode the columns of a fitted :class:`InputEncoder`.

    Parameters
    ----------
    encoder : InputEncoder
        The fitted encoder (its statistics initialise the buffers).
    one_hot_max_categories : int
        Categorical columns with at most this many categories (NaN counted as one) are
        one-hot encoded; those with more are embedded.

    Examples
    --------
    >>> import pandas as pd, torch
    >>> X = pd.DataFrame({"size": [1.0, None, 30.0], "colour": ["red", "blue", "red"]})
    >>> encoder = InputEncoder().fit(X)
    >>> layer = InputLayer(encoder, one_hot_max_categories=16)
    >>> layer.out_features  # size, its missing indicator, two colours
    4
    >>> layer(torch.from_numpy(encoder.transform(X))).shape
    torch.Size([3, 4])
    """

    fill: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor
    knots: torch.Tensor
    levels: torch.Tensor
    missing_columns: torch.Tensor
    one_hot_offsets: torch.Tensor
    squash_columns: torch.Tensor
    quantile_columns: torch.Tensor

    def __init__(self, encoder: InputEncoder, one_hot_max_categories: int):
        super().__init__()
        stats = encoder.stats_
        self.n_numeric = len(encoder.numeric_)
        methods = list(encoder.scalings_)
        # One method for every column, or "mixed" (a numeric_scaling dict).
        self.scaling = methods[0] if len(set(methods)) == 1 else "mixed"
        self.register_buffer("fill", _tensor(stats["fill"]))
        self.register_buffer("center", _tensor(stats["center"]))
        self.register_buffer("scale", _tensor(stats["scale"]))
        quantile = np.array([j for j, m in enumerate(methods) if m == "quantile"], np.int64)
        if len(quantile):
            self.register_buffer("knots", _tensor(stats["knots"][quantile]))
            levels = np.linspace(0.0, 1.0, stats["knots"].shape[1])
            self.register_buffer("levels", _tensor(levels))
        if self.scaling == "mixed":  # derived from the encoder: not saved with the weights
            squash = np.array([j for j, m in enumerate(methods) if m == "squashing"], np.int64)
            self.register_buffer("squash_columns", torch.from_numpy(squash), persistent=False)
            self.register_buffer("quantile_columns", torch.from_numpy(quantile), persistent=False)
        self.register_buffer(
            "missing_columns", torch.from_numpy(np.flatnonzero(encoder.missing_).astype(np.int64))
        )
        specs = [encoder.columns_[j] for j in encoder.categorical_]
        one_hot = [k for k, spec in enumerate(specs) if spec.n_codes - 1 <= one_hot_max_categories]
        embedded = [k for k in range(len(specs)) if k not in one_hot]
        widths = [specs[k].n_codes - 1 for k in one_hot]  # code 0 (unknown): all zeros
        self.one_hot_positions = [self.n_numeric + k for k in one_hot]
        self.one_hot_width = int(sum(widths))
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]) if widths else np.zeros(0)
        self.register_buffer("one_hot_offsets", torch.from_numpy(offsets.astype(np.int64) - 1))
        self.embedded_positions = [self.n_numeric + k for k in embedded]
        dims = [embedding_dim(specs[k].n_codes) for k in embedded]
        self.embeddings = nn.ModuleList(
            nn.Embedding(specs[k].n_codes, dim, padding_idx=0)
            for k, dim in zip(embedded, dims, strict=True)
        )
        self.out_features = (
            self.n_numeric + len(self.missing_columns) + self.one_hot_width + sum(dims)
        )

    def _scaled(self, numbers: torch.Tensor) -> torch.Tensor:
        if self.scaling is None:
            return numbers
        if self.scaling == "quantile":
            return _normal_scores(numbers, self.knots, self.levels)
        scaled = (numbers - self.center) / self.scale  # identity for None and "quantile"
        if self.scaling == "squashing":
            return _squash(scaled)
        if self.scaling == "mixed":
            if len(self.squash_columns):
                squashed = _squash(scaled[:, self.squash_columns])
                scaled = scaled.index_copy(1, self.squash_columns, squashed)
            if len(self.quantile_columns):
                scores = _normal_scores(numbers[:, self.quantile_columns], self.knots, self.levels)
                scaled = scaled.index_copy(1, self.quantile_columns, scores)
        return scaled

    @torch.compiler.disable  # cheap, and its output then enters a compiled trunk as an input
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.n_numeric:
            numbers = X[:, : self.n_numeric]
            missing = torch.isnan(numbers)
            parts.append(self._scaled(torch.where(missing, self.fill, numbers)))
            if len(self.missing_columns):
                parts.append(missing[:, self.missing_columns].to(numbers.dtype))
        if self.one_hot_positions:
            codes = X[:, self.one_hot_positions].long()
            known = codes > 0
            where = torch.where(known, codes + self.one_hot_offsets, 0)
            one_hot = torch.zeros(X.shape[0], self.one_hot_width, dtype=X.dtype, device=X.device)
            parts.append(one_hot.scatter_add_(1, where, known.to(X.dtype)))
        for position, embedding in zip(self.embedded_positions, self.embeddings, strict=True):
            parts.append(embedding(X[:, position].long()).to(X.dtype))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def _squash(x: torch.Tensor) -> torch.Tensor:
    """Smooth clipping to (-_CLIP, _CLIP)."""
    return x / torch.sqrt(1 + (x / _CLIP) ** 2)


def _normal_scores(x: torch.Tensor, knots: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Normal scores of x through each column's empirical quantiles (``knots``).

    The probability is interpolated linearly between knots, averaging the left and the
    right interpolation where knots repeat (as scikit-learn's QuantileTransformer does).
    """
    columns = x.T.contiguous()
    last = knots.shape[1] - 1

    def interpolate(right: bool) -> torch.Tensor:
        index = torch.searchsorted(knots, columns, right=right).clamp(1, last)
        low, high = knots.gather(1, index - 1), knots.gather(1, index)
        step = (high - low).clamp_min(torch.finfo(x.dtype).tiny)
        fraction = ((columns - low) / step).clamp(0.0, 1.0)
        return levels[index - 1] + fraction * (levels[index] - levels[index - 1])

    probability = 0.5 * (interpolate(False) + interpolate(True))
    return torch.special.ndtri(probability.clamp(_QUANTILE_EPS, 1 - _QUANTILE_EPS)).T


class EncodedInputModule(WrapperModule):
    """An architecture's module with an :class:`InputLayer` in front.

    Attributes of the inner module (``trunk``, ``task_heads``, ...) are reachable on the
    wrapper (a ``WrapperModule``). The layer's
    embeddings count as shared parameters when the inner module has shared parameters
    at all.
    """

    def __init__(self, input_layer: InputLayer, inner: MultiTaskModule):
        super().__init__()
        self.input = input_layer
        self.inner = inner
        self.task_names = list(inner.task_names)

    def inner_input(self, X: torch.Tensor) -> torch.Tensor:
        return self.input(X)

    def shared_parameters(self) -> list[nn.Parameter]:
        inner = self.inner.shared_parameters()
        return [*self.input.parameters(), *inner] if inner else inner


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float32).copy())
