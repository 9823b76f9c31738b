"""Weight averaging: predict with the mean of the weights of the last epochs.

:class:`WeightAveraging` is the skorch callback behind the estimator's
``weight_averaging``: at the end of each epoch it keeps a copy of the module's weights
(the last ``n_epochs`` of them), and when the training run ends it loads their uniform
average into the module, as stochastic weight averaging does over the final epochs of
a run (Izmailov et al., 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization"), here at the run's own learning rate.
"""

from __future__ import annotations

from collections import deque

import torch
from skorch.callbacks import Callback

__all__ = ["WeightAveraging", "average_state"]


def average_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The entry-wise mean of module state dicts; entries that are not floating point
    (such as batch normalisation's ``num_batches_tracked``) are taken from the last.

    Examples
    --------
    >>> import torch
    >>> average_state([{"w": torch.tensor([1.0]), "n": torch.tensor(1)},
    ...                {"w": torch.tensor([3.0]), "n": torch.tensor(2)}])
    {'w': tensor([2.]), 'n': tensor(2)}
    """
    last = states[-1]
    averaged = {}
    for key, value in last.items():
        if value.is_floating_point():
            averaged[key] = torch.stack([state[key] for state in states]).mean(dim=0)
        else:
            averaged[key] = value.clone()
    return averaged


class WeightAveraging(Callback):
    """Load the average of the module's weights over the last ``n_epochs`` epochs of the
    run when it ends (over every epoch when it ran fewer).

    Parameters
    ----------
    n_epochs : int
        How many end-of-epoch copies of the weights to average (1: the last weights).

    Attributes
    ----------
    n_averaged_ : int
        How many epochs the last run averaged (0 before a run ends, or when it ended
        without a finished epoch: the weights are then left as they are).
    """

    def __init__(self, n_epochs: int):
        self.n_epochs = n_epochs

    def initialize(self):
        self.snapshots_: deque[dict[str, torch.Tensor]] = deque(maxlen=int(self.n_epochs))
        self.n_averaged_ = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.initialize()

    def on_epoch_end(self, net, **kwargs):
        state = net.module_.state_dict()
        self.snapshots_.append({key: value.detach().clone() for key, value in state.items()})

    def on_train_end(self, net, **kwargs):
        states = list(self.snapshots_)
        self.snapshots_.clear()  # the copies are not part of the fitted model
        self.n_averaged_ = len(states)
        if len(states) > 1:
            net.module_.load_state_dict(average_state(states))
