"""Which channels must go together: groups from Torch-Pruning's dependency graph.

Torch-Pruning's ``DependencyGraph`` traces the model and, for each conv / linear layer's
output channels, finds every coupled dimension: the batch norm after it, the layers that
read it, the other branch of a residual add, the slice of a concatenation, both sides of
a depthwise conv.  Each such set is a :class:`ChannelGroup`, indexed by its root layer's
output channels.  Every conv / linear op then knows, per input and output channel, which
(group, root channel) it belongs to, which is what MorphNet's costs need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import fx, nn

from sparsemod.morphnet.gates import GatePruner, LogisticSigmoidGate

OPS = (nn.Conv1d, nn.Conv2d, nn.Linear)
_PASS_THROUGH = ("flatten", "view", "reshape", "relu", "dropout", "getitem", "squeeze",
                 "contiguous", "mean", "adaptive", "pool")


@dataclass
class Member:
    """One coupled dimension of a group: ``module``'s ``side`` ("out"/"in") channels."""

    module: str
    side: str
    idxs: list[int]
    root_idxs: list[int]


@dataclass
class ChannelGroup:
    root: str  # the layer whose output channels index the group
    size: int
    members: list[Member] = field(default_factory=list)


Channel = tuple[int, int] | None  # (group index, root channel); None: not prunable


@dataclass
class Op:
    """A conv or linear layer with the spatial sizes of one batch-1 inference."""

    name: str
    in_channels: int
    out_channels: int
    kernel_area: int  # k_h * k_w (1 for linear)
    groups: int
    in_area: int  # H_in * W_in (1 for linear)
    out_area: int
    linear: bool = False  # an nn.Linear (else a conv)
    in_map: list[Channel] = field(default_factory=list)
    out_map: list[Channel] = field(default_factory=list)

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels


def output_layers(model: nn.Module) -> list[nn.Module]:
    """Conv / linear layers whose outputs reach the model's output through shape-only or
    element-wise ops: their output channels are the task's (classes) and never pruned."""
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    found: list[nn.Module] = []
    stack, seen = [n for n in traced.graph.nodes if n.op == "output"], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        module = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, OPS):
            found.append(module)
            continue
        if node.op == "output" or module is not None or node.op in ("call_function", "call_method"):
            stack += node.all_input_nodes
    return found


def build_dependency_graph(model: nn.Module, example_input: torch.Tensor) -> tp.DependencyGraph:
    return tp.DependencyGraph().build_dependency(
        model, example_inputs=example_input,
        customized_pruners={LogisticSigmoidGate: GatePruner()})


class ChannelGraph:
    """Groups and ops of ``model`` (traced once on ``example_input``)."""

    def __init__(self, model: nn.Module, example_input: torch.Tensor):
        names = {module: name for name, module in model.named_modules()}
        graph = build_dependency_graph(model, example_input)
        self.groups: list[ChannelGroup] = []
        for group in graph.get_all_groups(ignored_layers=output_layers(model), root_module_types=OPS):
            root = names[group.items[0].dep.target.module]
            channel_group = ChannelGroup(root, len(group.items[0].idxs))
            for item in group.items:
                module = item.dep.target.module
                if module not in names:  # a traced function (add, cat, relu): no weights
                    continue
                side = "out" if graph.is_out_channel_pruning_fn(item.dep.handler) else "in"
                channel_group.members.append(Member(names[module], side, list(item.idxs),
                                                    list(item.root_idxs)))
            self.groups.append(channel_group)
        self.ops = self._trace_ops(model, example_input[:1], names)

    def _trace_ops(self, model: nn.Module, example: torch.Tensor, names: dict) -> list[Op]:
        ops: list[Op] = []

        def record(module, inputs, output):
            x = inputs[0]
            conv = isinstance(module, (nn.Conv1d, nn.Conv2d))
            area = (lambda t: int(torch.tensor(t.shape[2:]).prod())) if conv else (lambda t: 1)
            ops.append(Op(
                names[module], x.shape[1] if conv else module.in_features,
                output.shape[1] if conv else module.out_features,
                int(torch.tensor(module.kernel_size).prod()) if conv else 1,
                module.groups if conv else 1, area(x), area(output), linear=not conv))

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, OPS)]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(example)
        finally:
            model.train(was_training)
            for hook in hooks:
                hook.remove()
        by_name = {op.name: op for op in ops}
        for each in ops:
            each.in_map, each.out_map = [None] * each.in_channels, [None] * each.out_channels
        for index, group in enumerate(self.groups):
            for member in group.members:
                op = by_name.get(member.module)
                if op is None:
                    continue
                side = op.out_map if member.side == "out" else op.in_map
                for idx, root in zip(member.idxs, member.root_idxs):
                    side[idx] = (index, root)
                if op.depthwise:  # its input channels are its output channels
                    for idx, root in zip(member.idxs, member.root_idxs):
                        op.in_map[idx] = op.out_map[idx] = (index, root)
        return ops
