"""Gallery helpers for sphinx-gallery (referred to by name from ``conf.py``).

Kept in an importable module so that the Sphinx configuration stays picklable.
"""

from __future__ import annotations

from pathlib import Path

# Reading order of the gallery: first steps, then the user guide's order. Examples not
# listed follow, sorted by file name, so that a new plot_*.py is never left out.
ORDER = (
    "plot_quickstart.py",
    "plot_missing_labels.py",
    "plot_grid_search_task_weights.py",
    "plot_mixed_tasks_wine.py",
    "plot_loss_weighting.py",
    "plot_architectures.py",
    "plot_save_load.py",
    "plot_gpu.py",
)


class ExampleOrder:
    """Sort key of the examples in one gallery folder (``within_subsection_order``).

    Parameters
    ----------
    src_dir : str or Path
        The gallery folder (given by sphinx-gallery).
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename) -> tuple[int, str]:
        name = Path(filename).name
        rank = ORDER.index(name) if name in ORDER else len(ORDER)
        return rank, name

    def __repr__(self) -> str:
        return "<ExampleOrder>"


def reset_torch(gallery_conf, fname, when=None):
    """Before each example: one torch thread and no leftover default dtype changes.

    The examples train small networks, for which a single thread is fastest on a
    shared 2-core machine (a second thread mostly waits on synchronisation).
    """
    import torch

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
