"""Does multi-task learning pay? Single-task baselines, task affinity, task groups.

- :func:`compare_single_task` cross-validates the multi-task model against the same
  network trained on each task alone (and, optionally, any other estimator per task),
  with paired tests across folds, the overall :func:`delta_m`, and a negative-transfer
  flag per task.
- :func:`task_affinity` measures the lookahead inter-task affinity of TAG (Fifty et
  al., 2021) during a training run; :func:`suggest_task_groups` proposes which tasks to
  train together from any affinity matrix.

The gradient cosine similarity recorded during an ordinary fit is the estimator's
``record_task_affinity`` option, and the learned task correlation of multi-task
relationship learning its ``task_relation`` option (:class:`~sklearn_mtl.MTRL`).

One job a module: ``_single_task`` (the comparison), ``_statistics`` (Delta_m, paired
tests), ``_baselines`` (other estimators scored like the network), ``_lookahead`` (the
TAG plugin of the criterion), ``_groups`` (the partition search).
"""

from __future__ import annotations

from ._groups import suggest_task_groups
from ._lookahead import task_affinity
from ._single_task import compare_single_task
from ._statistics import delta_m

__all__ = ["compare_single_task", "delta_m", "suggest_task_groups", "task_affinity"]
