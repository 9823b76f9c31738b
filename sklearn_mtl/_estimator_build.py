"""Building the estimator's skorch net: architecture, loss specs, callbacks."""

from __future__ import annotations

import copy

import torch

from ._averaging import WeightAveraging
from ._callbacks import (
    BestValidScore,
    EpochProgress,
)
from ._estimator_data import _DataChecks
from ._input_layer import EncodedInputModule, InputLayer
from ._losses import MultiTaskLoss, TaskLossSpec
from ._net import MultiTaskNet
from ._random import drawing_from, use_generator_dropout
from ._relationship import build_relationships
from ._schedule import LRSchedule
from ._training import resolve_optimizer
from .architectures import (
    Architecture,
    MultiTaskModule,
    TaskHeadSpec,
    TaskOffsets,
    get_architecture,
)
from .architectures._recipe import RecipeModule
from .metrics import EncodedScorer, task_metric
from .weighting import get_weighting


class _NetBuilding(_DataChecks):
    """Network construction of :class:`~sklearn_mtl.MultiTaskNetEstimator`."""

    # Relationship plugins beyond the parameters' ((name, spec) pairs, see
    # _relationship.build_relationships): set on its own clone by task_affinity only.
    _extra_relationships: tuple = ()

    def _build_net(
        self,
        n_features: int,
        device: torch.device,
        full_fit: bool,
        generator: torch.Generator | None = None,
    ) -> MultiTaskNet:
        """Build and initialise the net; its initial weights are drawn from ``generator``
        (a fixed one when None: loading overwrites them), never from torch's global
        random state."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        with drawing_from(generator):
            return self._build_net_drawing(n_features, device, full_fit)

    def _offsets_with_slopes(self) -> bool:
        """Whether ``architecture="auto"`` picks ``TaskOffsets(task_slopes=True)``: for
        regression tasks on disjoint rows (other kinds on disjoint rows get
        ``TaskOffsets()``), as ``fit`` found them."""
        return bool(getattr(self, "_disjoint_slopes", False))

    def _learning_rate(self) -> float:
        """``lr``, with "auto" resolved: 3e-4 where ``architecture="auto"`` picks task
        offsets with slopes (regression tasks on disjoint rows), 1e-3 otherwise."""
        if not (isinstance(self.lr, str) and self.lr == "auto"):
            return float(self.lr)
        return 3e-4 if self._offsets_with_slopes() else 1e-3

    def _build_module(self, n_features: int) -> torch.nn.Module:
        """The architecture's torch module for the fitted tasks (also built on the meta
        device by ``load``, to check a file's tensors before allocating)."""
        heads = [
            TaskHeadSpec(task.name, encoder.n_outputs, task.depth, task.inputs_from)
            for task, encoder in zip(self.tasks_, self.encoders_, strict=True)
        ]
        choice = self.architecture
        if isinstance(choice, str) and choice == "auto":
            choice = "task_offsets" if getattr(self, "_disjoint_rows", False) else "hard"
        architecture: Architecture = (
            TaskOffsets(task_slopes=True)
            if self._offsets_with_slopes()
            else copy.deepcopy(get_architecture(choice))
        )
        config = self._network_config()

        def network(width: int) -> MultiTaskModule:
            if not (self.numeric_embedding or self.wide or self.ensemble_size > 1):
                return architecture.build(width, heads, config)
            return RecipeModule(
                lambda inner_width: architecture.build(inner_width, heads, config),
                width,
                heads,
                numeric_embedding=self.numeric_embedding,
                wide=bool(self.wide),
                ensemble_size=int(self.ensemble_size),
            )

        input_encoder = getattr(self, "input_encoder_", None)
        if input_encoder is not None and input_encoder.needs_layer:
            layer = InputLayer(input_encoder, int(self.one_hot_max_categories))
            return EncodedInputModule(layer, network(layer.out_features))
        return network(n_features)

    def _build_net_drawing(
        self, n_features: int, device: torch.device, full_fit: bool
    ) -> MultiTaskNet:
        names = [task.name for task in self.tasks_]
        module = use_generator_dropout(self._build_module(n_features))
        kinds = [encoder.kind for encoder in self.encoders_]
        smoothing = float(self.label_smoothing)
        weighting = copy.deepcopy(get_weighting(self.loss_weighting)).build(
            self._base_weights(names), task_kinds=kinds
        )
        specs, start = [], 0
        for task, encoder in zip(self.tasks_, self.encoders_, strict=True):
            stop = start + encoder.n_targets
            class_weight = getattr(encoder, "class_weight_", None)
            metric = task_metric(encoder)
            specs.append(
                TaskLossSpec(
                    task.name,
                    encoder.kind,
                    start,
                    stop,
                    encoder.kind_.smoothed(smoothing),
                    None if class_weight is None else tuple(float(w) for w in class_weight),
                    None
                    if metric == encoder.kind_.default_metric
                    else EncodedScorer(encoder, metric),
                )
            )
            start += encoder.n_targets
        callbacks = list(copy.deepcopy(self.callbacks) or [])
        if self.weight_averaging is not None and self.weight_averaging > 1:
            # before early stopping: in the validated run of "refit", whose weights
            # are not kept, the stopper's restored weights still end that run
            callbacks.append(("weight_averaging", WeightAveraging(self.weight_averaging)))
        if full_fit and self.early_stopping:
            refit = self._refits()
            stopper = BestValidScore(
                monitor="valid_loss" if refit else "valid_score",
                lower_is_better=refit,
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="abs",
                load_best=True,
                sink=print,
            )
            callbacks.append(("early_stopping", stopper))
        if self.lr_schedule != "constant":
            callbacks.append(("lr_schedule", LRSchedule(self.lr_schedule, self.max_epochs)))
        if self.verbose:  # after early stopping, to show its marks
            callbacks.append(("progress", EpochProgress(names, per_line=self.verbose >= 2)))
        lr = self._learning_rate()
        plugins = build_relationships(
            module,
            names,
            self.record_task_affinity,
            self.task_relation,
            lr=lr,
            extra=self._extra_relationships,
        )
        net = MultiTaskNet(
            module=module,
            criterion=MultiTaskLoss(specs, weighting, plugins),
            optimizer=resolve_optimizer(self.optimizer),
            lr=lr,
            optimizer__weight_decay=self.alpha,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=None,
            callbacks=callbacks,
            device=str(device),
            verbose=0,
        )
        net.initialize()
        return net
