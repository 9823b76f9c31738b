"""Progress display over epochs (``verbose``)."""

from __future__ import annotations

import math

from skorch.callbacks import Callback
from tqdm.auto import tqdm


class EpochProgress(Callback):
    """A progress bar over epochs with the per-task losses (or one line per epoch).

    Parameters
    ----------
    task_names : list of str
        Tasks whose losses are shown.
    per_line : bool, default=False
        Print one line per epoch instead of a progress bar.
    """

    def __init__(self, task_names, per_line=False):
        self.task_names = task_names
        self.per_line = per_line

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.bar_ = None if self.per_line else tqdm(total=net.max_epochs, unit="epoch")

    def _summary(self, record) -> dict[str, str]:
        summary = {}
        for prefix in ("train", "valid"):
            for name in self.task_names:
                value = record.get(f"{prefix}_loss_{name}")
                if value is not None and not math.isnan(value):
                    summary[f"{prefix}_{name}"] = f"{value:.4g}"
            score = record.get(f"{prefix}_score")
            if score is not None:
                summary[f"{prefix}_score"] = f"{score:.4g}"
        return summary

    def on_epoch_end(self, net, **kwargs):
        record = net.history[-1]
        summary = self._summary(record)
        if self.bar_ is None:
            text = "  ".join(f"{key}={value}" for key, value in summary.items())
            print(f"epoch {record['epoch']:>4}  {text}  ({record.get('dur', 0.0):.2f}s)")
        else:
            self.bar_.set_postfix(summary, refresh=False)
            self.bar_.update(1)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None
