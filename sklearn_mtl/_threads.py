"""How many CPU threads torch uses while the estimator fits and predicts.

``n_threads=None`` leaves torch's thread count as it is: torch's default (one thread
per core), or what ``OMP_NUM_THREADS``, ``torch.set_num_threads`` or a
``threadpoolctl.threadpool_limits`` block set, and inside joblib's worker processes
(``GridSearchCV(n_jobs=...)``, ``cross_validate``) the share of the cores joblib gives
each worker. An int fixes the count for the duration of each call, as scikit-learn's
``n_jobs`` does: ``-1`` is every CPU, ``-2`` all but one, and so on; the previous count
is restored afterwards.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator

import torch

__all__ = ["check_n_threads", "torch_threads"]


def check_n_threads(n_threads: object) -> int | None:
    """The thread count that ``n_threads`` asks for, or None to leave torch's as it is.

    Examples
    --------
    >>> import os
    >>> check_n_threads(None), check_n_threads(2)
    (None, 2)
    >>> check_n_threads(-1) == (os.cpu_count() or 1)
    True
    >>> check_n_threads(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: n_threads=0 is not valid: expected None, a positive int ...
    """
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or not n_threads:
        raise ValueError(
            f"n_threads={n_threads!r} is not valid: expected None, a positive int (threads) "
            "or a negative int (-1: every CPU, -2: all but one, ...)."
        )
    n_threads = int(n_threads)
    if n_threads > 0:
        return n_threads
    return max(1, (os.cpu_count() or 1) + 1 + n_threads)


@contextlib.contextmanager
def torch_threads(n_threads: object) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set by ``n_threads``."""
    wanted = check_n_threads(n_threads)
    previous = torch.get_num_threads()
    if wanted is None or wanted == previous:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
