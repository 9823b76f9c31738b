"""Task heads shared by every architecture, with task chains (``inputs_from``).

Plain linear heads (no hidden layer, no ``inputs_from``) are *fused*: their weights are
rows of one matrix per group of tasks, so that a batch costs one product for hundreds
of tasks instead of one small product (and its backward) per task. Tasks that read the
same feature tensor take one ``linear``; tasks that read their own features of equal
width and output size take one batched product. Each fused task keeps a head of its
own, ``heads[k]``, whose ``nn.Linear`` exposes its rows of the fused matrix as views
(MTRL and diagnostics read and write them), and the state dict of a model saved before
the fusion still loads (its per-task keys are fused on load).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ._base import NetworkConfig, TaskHeadSpec, make_mlp

__all__ = ["FusedLinear", "FusedRows", "TaskHeads", "TaskOutputs"]


class FusedLinear(nn.Module):
    """The linear layers of several plain task heads, as one weight matrix and one bias.

    Parameters
    ----------
    in_features : int
        Width of the features every task of the group reads.
    out_sizes : sequence of int
        Each task's output width, in row order.
    tasks : sequence of int
        The task index of each row block.
    stacked : bool
        False: every task reads the same features (one ``linear``, then a split).
        True: task ``i`` reads its own features; all outputs have the same width (one
        batched product).

    The parameters are left uninitialised: :meth:`reset_rows` gives a task's rows the
    values (and the random draws) of a fresh ``nn.Linear``.
    """

    tasks: list[int]
    stacked: bool
    out_sizes: list[int]
    starts: list[int]
    in_features: int
    weight: nn.Parameter
    bias: nn.Parameter

    def __init__(
        self,
        in_features: int,
        out_sizes: Sequence[int],
        tasks: Sequence[int],
        stacked: bool,
    ):
        super().__init__()
        self.tasks = list(tasks)
        self.stacked = stacked
        self.out_sizes = list(out_sizes)
        self.in_features = in_features
        self.starts = [0, *itertools.accumulate(self.out_sizes)][:-1]
        self.weight = nn.Parameter(torch.empty(sum(self.out_sizes), in_features))
        self.bias = nn.Parameter(torch.empty(sum(self.out_sizes)))

    @torch.no_grad()
    def reset_rows(self, position: int, count: int = 1) -> None:
        """Initialise the rows of tasks ``position`` to ``position + count - 1`` as one
        ``nn.Linear`` per task, in task order, would.

        Tasks of one output width take one draw for all of them: CPU samplers consume
        the generator one value at a time, so a ``(count, width * (in + 1))`` block
        holds each task's weights then its biases as separate layers would draw them.
        The weights are those values exactly; the biases are drawn with the weights'
        bound (``kaiming_uniform_(a=sqrt(5))``'s, which equals ``1/sqrt(in)`` up to the
        last bit) and rescaled to theirs.
        """
        sizes = self.out_sizes[position : position + count]
        if count > 1 and len(set(sizes)) == 1 and self.in_features > 0:
            width, n_in = sizes[0], self.in_features
            first = self.starts[position]
            rows = slice(first, first + count * width)
            fan_in = nn.init._calculate_correct_fan(self.weight[rows], "fan_in")
            gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
            bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
            block = torch.empty(count, width * (n_in + 1)).uniform_(-bound, bound)
            self.weight[rows] = block[:, : width * n_in].reshape(count * width, n_in)
            biases = block[:, width * n_in :].reshape(-1)
            self.bias[rows] = biases * ((1 / math.sqrt(n_in)) / bound)
            return
        for index in range(position, position + count):
            rows = slice(self.starts[index], self.starts[index] + self.out_sizes[index])
            nn.init.kaiming_uniform_(self.weight[rows], a=math.sqrt(5))
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            nn.init.uniform_(self.bias[rows], -bound, bound)

    def extra_repr(self) -> str:
        return (
            f"tasks={len(self.tasks)}, in_features={self.in_features}, "
            f"out_features={sum(self.out_sizes)}, stacked={self.stacked}"
        )

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        """Each task's output, from the shared features (``stacked=False``: one tensor)."""
        if not self.stacked:
            if len(self.tasks) == 1:
                return (F.linear(features[0], self.weight, self.bias),)
            return F.linear(features[0], self.weight, self.bias).split(self.out_sizes, dim=1)
        n_tasks, width = len(self.tasks), self.out_sizes[0]
        weight = self.weight.view(n_tasks, width, self.in_features).transpose(1, 2)
        bias = self.bias.view(n_tasks, 1, width)
        return tuple(torch.baddbmm(bias, torch.stack(list(features)), weight).unbind(0))


class FusedRows(nn.Linear):
    """One task's rows of a :class:`FusedLinear`: an ``nn.Linear`` without storage.

    ``weight`` and ``bias`` are views of the fused parameters (in the autograd graph,
    writable in place); the layer owns no parameter, so the fused ones are saved,
    moved and optimised once.
    """

    def __init__(self, fused: FusedLinear, position: int):
        nn.Module.__init__(self)
        # Not a submodule (its parameters would be listed and saved twice).
        object.__setattr__(self, "_fused", fused)
        self.in_features = fused.in_features
        self.out_features = fused.out_sizes[position]
        self._rows = slice(fused.starts[position], fused.starts[position] + self.out_features)

    _fused: FusedLinear

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        return self._fused.weight[self._rows]

    @property
    def bias(self) -> torch.Tensor:  # type: ignore[override]
        return self._fused.bias[self._rows]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fused=True"


class BlockLayout:
    """Where each task's output lies in the fused blocks: ``blocks[b]`` lists
    ``(task, start, stop)`` column ranges of block ``b``, in column order."""

    def __init__(self, blocks: list[list[tuple[str, int, int]]]):
        self.names = [tuple(name for name, _, _ in block) for block in blocks]
        self.bounds = [[(start, stop) for _, start, stop in block] for block in blocks]
        self.widths = [block[-1][2] if block else 0 for block in blocks]
        self.where = {name: (b, i) for b, block in enumerate(blocks) for i, (name, _, _) in
                      enumerate(block)}  # fmt: skip


class TaskOutputs(dict):
    """``{task: output}`` that also knows the fused blocks the outputs are columns of.

    :meth:`columns` gives the outputs of consecutive tasks of one block side by side
    as a view of the block, where ``torch.cat`` of the per-task outputs would copy them
    (and back-propagate through a split and a concatenation of one piece per task).

    Made by :meth:`of_block` (every task a column range of one block), the per-task
    views are made when asked for: ``outputs[name]`` makes that task's, anything else
    (iteration, ``len``, ``items``, a copy) all of them, in task order. A training step
    reads the block through :meth:`columns`, and a step with hundreds of tasks then
    makes no per-task tensor at all.

    When every task's output is a column range of one block ``F.linear(features,
    weight, bias)``, :attr:`readout` is ``(features, weight, bias)``: gradient-level loss
    weightings then take every task's gradient at the features from one backward pass
    (see :class:`~sklearn_mtl.weighting._gradient.FactoredJacobian`). Changing an
    output (``outputs[name] = ...``) drops the blocks, the layout and the readout.
    """

    blocks: list[torch.Tensor]
    layout: BlockLayout | None = None
    readout: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    _sizes: list[int]  # set while views are still to be made

    @classmethod
    def of_block(
        cls,
        block: torch.Tensor,
        sizes: Sequence[int],
        layout: BlockLayout,
        readout: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> TaskOutputs:
        """The outputs of the tasks of ``layout``'s one block, ``sizes`` columns each
        (``readout``: the block's features, weight and bias, see the class docstring)."""
        outputs = cls()
        outputs.blocks, outputs.layout, outputs.readout = [block], layout, readout
        outputs._sizes = list(sizes)
        return outputs

    def _fill(self) -> None:
        """Make the per-task views not made yet, in task order."""
        sizes = self.__dict__.pop("_sizes", None)
        if sizes is None:
            return
        assert self.layout is not None
        made = dict(dict.items(self))
        dict.clear(self)
        pieces = self.blocks[0].split(sizes, dim=1)
        for name, piece in zip(self.layout.names[0], pieces, strict=True):
            dict.__setitem__(self, name, made.get(name, piece))

    def __getitem__(self, name: str) -> torch.Tensor:
        if "_sizes" in self.__dict__ and not dict.__contains__(self, name):
            assert self.layout is not None
            located = self.layout.where.get(name)
            if located is not None and located[0] == 0:
                start, stop = self.layout.bounds[0][located[1]]
                dict.__setitem__(self, name, self.blocks[0][:, start:stop])
        return dict.__getitem__(self, name)

    def with_blocks(
        self, blocks: list[torch.Tensor], layout: BlockLayout
    ) -> dict[str, torch.Tensor]:
        """Attach the blocks (a plain dict inside ``torch.compile``, which traces none)."""
        if torch.compiler.is_compiling():
            return dict(self)
        self.blocks, self.layout = blocks, layout
        return self

    def columns(self, names: tuple[str, ...]) -> torch.Tensor | None:
        """The outputs of ``names`` side by side as a view of a block, or None."""
        layout = self.layout
        if layout is None or names[0] not in layout.where:
            return None
        b, first = layout.where[names[0]]
        last = first + len(names) - 1
        if layout.names[b][first : last + 1] != names:
            return None
        start, stop = layout.bounds[b][first][0], layout.bounds[b][last][1]
        block = self.blocks[b]
        return block if start == 0 and stop == layout.widths[b] else block[:, start:stop]


def _after_fill(name: str, mutates: bool) -> Any:
    method = getattr(dict, name)

    def call(self: TaskOutputs, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        if mutates:  # the outputs may no longer be the blocks' columns
            self.__dict__.pop("blocks", None)
            self.layout = self.readout = None
        return method(self, *args, **kwargs)

    call.__name__ = name
    return call


for _name in (
    "__iter__", "__len__", "__contains__", "__eq__", "__ne__", "__repr__", "__reversed__",
    "__or__", "__ror__", "__reduce_ex__", "keys", "values", "items", "get", "copy",
):  # fmt: skip
    setattr(TaskOutputs, _name, _after_fill(_name, mutates=False))
for _name in (
    "__ior__", "__setitem__", "__delitem__", "pop", "popitem", "setdefault", "update", "clear"
):  # fmt: skip
    setattr(TaskOutputs, _name, _after_fill(_name, mutates=True))


class TaskHeads(nn.Module):
    """One small network per task, evaluated in task order.

    Head ``k`` maps its task's features, concatenated with the raw outputs of the
    tasks listed in ``inputs_from`` (task chains, as in ESMM and scikit-learn's
    ``ClassifierChain``), through ``layer_sizes`` hidden layers to ``n_outputs``.
    Gradients flow through the chain: a downstream task's loss also trains the heads
    it reads from (end-to-end, as in ESMM). Plain linear heads are fused (see the
    module docstring); ``heads[k]`` is task ``k``'s head either way.

    Parameters
    ----------
    in_widths : sequence of int
        Width of each task's features, in task order.
    tasks : sequence of TaskHeadSpec
        The (validated) tasks.
    config : NetworkConfig
        Activation, dropout and batch normalisation of the hidden layers.
    layer_sizes : sequence of int
        Hidden layer widths of each head.
    feature_slots : sequence of int, optional
        Tasks with the same slot receive the same feature tensor in :meth:`forward`
        (hard sharing: the trunk depth they read); None: every task its own features.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.architectures import NetworkConfig, TaskHeadSpec
    >>> tasks = [TaskHeadSpec("click", 1), TaskHeadSpec("buy", 1, inputs_from=("click",))]
    >>> heads = TaskHeads([4, 4], tasks, NetworkConfig(), ())
    >>> heads[1]
    Sequential(
      (0): Linear(in_features=5, out_features=1, bias=True)
    )
    >>> heads[0]
    Sequential(
      (0): FusedRows(in_features=4, out_features=1, fused=True)
    )
    >>> out = heads([torch.zeros(2, 4), torch.zeros(2, 4)])
    >>> {name: tuple(value.shape) for name, value in out.items()}
    {'click': (2, 1), 'buy': (2, 1)}
    """

    def __init__(
        self,
        in_widths: Sequence[int],
        tasks: Sequence[TaskHeadSpec],
        config: NetworkConfig,
        layer_sizes: Sequence[int],
        feature_slots: Sequence[int] | None = None,
    ):
        super().__init__()
        self.task_names = [task.name for task in tasks]
        self.inputs_from = [tuple(task.inputs_from) for task in tasks]
        slots = list(range(len(tasks))) if feature_slots is None else list(feature_slots)
        readers = Counter(slots)
        groups: dict[tuple, list[int]] = {}
        for k, task in enumerate(tasks):
            if len(layer_sizes) == 0 and not task.inputs_from:
                shared = readers[slots[k]] > 1
                key = ("slot", slots[k]) if shared else ("own", in_widths[k], task.n_outputs)
                groups.setdefault(key, []).append(k)
        fused = [
            FusedLinear(
                in_widths[members[0]],
                [tasks[k].n_outputs for k in members],
                members,
                stacked=key[0] == "own" and len(members) > 1,
            )
            for key, members in groups.items()
        ]
        self._fused_of = {
            k: (g, i) for g, group in enumerate(fused) for i, k in enumerate(group.tasks)
        }
        # Initialised in task order as separate heads were: the same draws, the
        # consecutive tasks of one fused group at once (see FusedLinear.reset_rows).
        n_outputs = {task.name: task.n_outputs for task in tasks}
        separate: dict[str, nn.Module] = {}
        run: list[int] = []  # (group, first position, count) of pending fused tasks

        def flush() -> None:
            if run:
                fused[run[0]].reset_rows(run[1], run[2])
                run.clear()

        for k, (width, task) in enumerate(zip(in_widths, tasks, strict=True)):
            if k in self._fused_of:
                g, position = self._fused_of[k]
                if run and run[0] == g and run[1] + run[2] == position:
                    run[2] += 1
                else:
                    flush()
                    run.extend([g, position, 1])
            else:
                flush()
                n_in = width + sum(n_outputs[source] for source in task.inputs_from)
                separate[str(k)] = make_mlp(n_in, layer_sizes, config, n_out=task.n_outputs)
        flush()
        self.fused: Sequence[FusedLinear] = cast(Sequence[FusedLinear], nn.ModuleList(fused))
        self.heads = nn.ModuleDict(separate)
        self._layout = BlockLayout(
            [
                [(self.task_names[k], start, start + size)
                 for k, start, size in zip(group.tasks, group.starts, group.out_sizes, strict=True)]
                for group in fused
                if not group.stacked
            ]
        )  # fmt: skip
        # Each fused task's own head, made when first asked for and kept outside the
        # module tree (it holds no parameter).
        self._views: dict[int, nn.Module] = {}
        self._register_load_state_dict_pre_hook(self._fuse_legacy_state)

    def __getitem__(self, index: int) -> nn.Module:
        index = range(len(self))[index]
        if index not in self._fused_of:
            return self.heads[str(index)]
        if index not in self._views:
            g, position = self._fused_of[index]
            self._views[index] = nn.Sequential(FusedRows(self.fused[g], position))
        return self._views[index]

    def __len__(self) -> int:
        return len(self.task_names)

    def __iter__(self) -> Iterator[nn.Module]:
        return (self[k] for k in range(len(self)))

    def forward(self, features: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        results: dict[int, torch.Tensor] = {}
        blocks: list[torch.Tensor] = []
        for group in self.fused:
            if group.stacked:
                pieces = group([features[k] for k in group.tasks])
            else:
                block = F.linear(features[group.tasks[0]], group.weight, group.bias)
                blocks.append(block)
                if len(self.fused) == 1 and not self.heads and not torch.compiler.is_compiling():
                    readout = (features[group.tasks[0]], group.weight, group.bias)
                    return TaskOutputs.of_block(block, group.out_sizes, self._layout, readout)
                pieces = block.split(group.out_sizes, dim=1) if len(group.tasks) > 1 else (block,)
            if len(self.fused) == 1 and not self.heads:  # every task, in task order
                outputs = TaskOutputs(zip(self.task_names, pieces, strict=True))
                return outputs.with_blocks(blocks, self._layout)
            results.update(zip(group.tasks, pieces, strict=True))
        outputs = TaskOutputs()
        for k, (name, sources, feature) in enumerate(
            zip(self.task_names, self.inputs_from, features, strict=True)
        ):
            if k in results:
                outputs[name] = results[k]
                continue
            if sources:
                feature = torch.cat([feature, *(outputs[source] for source in sources)], dim=1)
            outputs[name] = self.heads[str(k)](feature)
        return outputs.with_blocks(blocks, self._layout)

    def legacy_parameter_names(self) -> list[str]:
        """Parameter names (relative to this module) of the layout before the fusion.

        Heads were ``{k}.{layer}.weight``/``bias``, in task order; a model's optimizer
        state saved then lists its parameters in this order.
        """
        names = []
        for k in range(len(self)):
            if k in self._fused_of:
                names += [f"{k}.0.weight", f"{k}.0.bias"]
            else:
                names += [f"{k}.{name}" for name, _ in self.heads[str(k)].named_parameters()]
        return names

    def legacy_sources(self) -> dict[str, list[str]]:
        """For each current parameter name, the legacy names whose values it concatenates."""
        sources: dict[str, list[str]] = {}
        for key, head in self.heads.items():
            for name, _ in head.named_parameters():
                sources[f"heads.{key}.{name}"] = [f"{key}.{name}"]
        for g, group in enumerate(self.fused):
            for part in ("weight", "bias"):
                sources[f"fused.{g}.{part}"] = [f"{k}.0.{part}" for k in group.tasks]
        return sources

    def _fuse_legacy_state(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Turn a state dict of separate heads (``{k}.0.weight``) into the fused layout."""
        if not any(key.startswith(f"{prefix}0.") for key in state_dict):
            return
        for key in [key for key in state_dict if key.startswith(prefix)]:
            rest = key[len(prefix) :]
            first = rest.partition(".")[0]
            if first.isdigit() and int(first) not in self._fused_of:
                state_dict[f"{prefix}heads.{rest}"] = state_dict.pop(key)
        for g, group in enumerate(self.fused):
            for part in ("weight", "bias"):
                keys = [f"{prefix}{k}.0.{part}" for k in group.tasks]
                if all(key in state_dict for key in keys):
                    state_dict[f"{prefix}fused.{g}.{part}"] = torch.cat(
                        [state_dict.pop(key) for key in keys]
                    )


def fuse_legacy_optimizer_state(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[int, dict[str, Any]],
    param_groups: list[dict[str, Any]],
) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """An optimizer state saved with separate heads, in the fused layout of ``module``.

    The saved state is keyed by each parameter's position in the optimizer then: the
    module's parameters in order (separate heads listed per task), weights first and
    the rest after them, as the estimator builds its groups. Each fused parameter gets
    the concatenation of its tasks' entries (step counters are shared).

    Returns ``(state, param_groups)`` unchanged when ``module`` has no fused head.
    """
    heads = {
        f"{name}.": sub
        for name, sub in module.named_modules()
        if isinstance(sub, TaskHeads) and len(sub.fused)
    }
    if not heads:
        return state, param_groups
    names = {id(p): name for name, p in module.named_parameters()}
    legacy: list[tuple[str, bool]] = []  # (name, is a matrix) in the old module order
    sources: dict[str, list[str]] = {}
    done: set[str] = set()
    for name, param in module.named_parameters():
        prefix = next((p for p in heads if name.startswith(p)), None)
        if prefix is None:
            legacy.append((name, param.ndim > 1))
            sources[name] = [name]
        elif prefix not in done:
            done.add(prefix)
            sub = heads[prefix]
            legacy += [(prefix + n, n.endswith("weight")) for n in sub.legacy_parameter_names()]
            for new, old in sub.legacy_sources().items():
                sources[prefix + new] = [prefix + o for o in old]
    current = [p for group in optimizer.param_groups for p in group["params"]]
    extra = [f"<{i}>" for i, p in enumerate(current) if id(p) not in names]
    flat = [n for n, matrix in legacy if matrix] + [n for n, matrix in legacy if not matrix]
    flat += extra
    saved_ids = [i for group in param_groups for i in group["params"]]
    if len(saved_ids) != len(flat):
        return state, param_groups  # not the legacy layout: let the caller report it
    by_name = {name: state.get(i) for name, i in zip(flat, saved_ids, strict=True)}
    new_state: dict[int, dict[str, Any]] = {}
    new_groups = []
    position = 0
    for group, saved in zip(optimizer.param_groups, param_groups, strict=False):
        ids = []
        for p in group["params"]:
            name = names.get(id(p), f"<{position}>")
            entries = [by_name.get(old) for old in sources.get(name, [name])]
            if entries and all(entry is not None for entry in entries):
                new_state[position] = _concatenate_entries(entries)  # type: ignore[arg-type]
            ids.append(position)
            position += 1
        new_groups.append({**saved, "params": ids})
    return new_state, new_groups


def _concatenate_entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One optimizer state entry from the per-task entries of a fused parameter."""
    merged: dict[str, Any] = {}
    for key, value in entries[0].items():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            merged[key] = torch.cat([entry[key] for entry in entries])
        else:
            merged[key] = value
    return merged
