"""A generated table for examples and first steps (nothing to read)."""

from __future__ import annotations

import numpy as np


def make_shop(n_samples: int = 500, missing: float = 0.3, random_state: int = 0):
    """A generated shop table: customers' features and four related labels.

    Features: ``age`` (years), ``visits`` (per month) and ``channel`` ("web", "app"
    or "store"). Labels, all driven by the same hidden taste of each customer:
    ``spend`` (regression), ``bought`` (binary, 0/1), and ``pref_books``,
    ``pref_music`` (the 0/1 columns of one multilabel task). A share ``missing`` of
    the ``bought`` labels and of the preference rows is missing (NaN), as when only
    some customers answered a survey. pandas is required.

    Parameters
    ----------
    n_samples : int, default=500
        Number of customers.
    missing : float, default=0.3
        Share of missing ``bought`` labels, and of rows without preferences.
    random_state : int, default=0
        Seed of the generator.

    Returns
    -------
    X : DataFrame of shape (n_samples, 3)
        ``age``, ``visits``, ``channel``.
    Y : DataFrame of shape (n_samples, 4)
        ``spend``, ``bought``, ``pref_books``, ``pref_music``; NaN marks a missing label.

    Examples
    --------
    >>> from sklearn_mtl.datasets import make_shop
    >>> X, Y = make_shop(n_samples=100)
    >>> list(X.columns), list(Y.columns)
    (['age', 'visits', 'channel'], ['spend', 'bought', 'pref_books', 'pref_music'])
    >>> int(Y["bought"].isna().sum())
    30
    """
    import pandas as pd

    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1); got {missing!r}.")
    rng = np.random.default_rng(random_state)
    age = rng.integers(18, 80, size=n_samples).astype(float)
    visits = rng.poisson(4.0, size=n_samples).astype(float)
    channel = rng.choice(["web", "app", "store"], size=n_samples, p=[0.5, 0.3, 0.2])
    effect = pd.Series(channel).map({"web": 0.0, "app": 0.5, "store": -0.5}).to_numpy()
    taste = 0.04 * (age - 45.0) + 0.3 * (visits - 4.0) + effect
    spend = 50.0 + 20.0 * taste + 5.0 * rng.normal(size=n_samples)
    bought = (taste + 0.5 * rng.normal(size=n_samples) > 0).astype(float)
    books = (0.8 * taste + rng.normal(size=n_samples) > 0.3).astype(float)
    music = (-0.8 * taste + rng.normal(size=n_samples) > 0.0).astype(float)
    Y = pd.DataFrame({"spend": spend, "bought": bought, "pref_books": books, "pref_music": music})
    n_missing = round(missing * n_samples)
    Y.loc[rng.permutation(n_samples)[:n_missing], "bought"] = np.nan
    Y.loc[rng.permutation(n_samples)[:n_missing], ["pref_books", "pref_music"]] = np.nan
    X = pd.DataFrame({"age": age, "visits": visits, "channel": channel})
    return X, Y
