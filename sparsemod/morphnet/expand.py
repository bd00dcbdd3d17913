"""MorphNet's expand step: scale every layer's width by one multiplier ω, choosing the
largest ω whose network stays within a resource budget (Gordon et al. 2018, Alg. 1, step 3).

Widths change per channel group (a residual's or concatenation's members stay equal), and
the layers are rebuilt with fresh weights: the expanded network is trained from scratch.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from sparsemod.costs.latency import Device
from sparsemod.costs.profile import DeviceProfile
from sparsemod.morphnet.gates import LogisticSigmoidGate
from sparsemod.morphnet.groups import ChannelGraph
from sparsemod.morphnet.regularizer import ResourceRegularizer


def _width(channel_map: list, old: list[int], new: list[int]) -> int:
    """Channels of one side after resizing: fixed ones stay, each group's scale."""
    fixed = sum(1 for channel in channel_map if channel is None)
    per_group: dict[int, int] = {}
    for channel in channel_map:
        if channel is not None:
            per_group[channel[0]] = per_group.get(channel[0], 0) + 1
    return fixed + sum(count * new[g] // old[g] for g, count in per_group.items())


def _rebuilt(module: nn.Module, c_in: int, c_out: int) -> nn.Module:
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        # the module's own kernel_size, stride, padding, dilation: tuples of its dimension
        return type(module)(c_in, c_out, module.kernel_size, module.stride, module.padding,  # type: ignore[arg-type]
                            module.dilation, c_out if depthwise else module.groups,  # type: ignore[arg-type]
                            module.bias is not None, module.padding_mode)
    if isinstance(module, nn.Linear):
        return nn.Linear(c_in, c_out, module.bias is not None)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return type(module)(c_out, module.eps, module.momentum, module.affine, module.track_running_stats)
    if isinstance(module, LogisticSigmoidGate):
        return LogisticSigmoidGate(c_out, module.temperature)
    raise TypeError(f"cannot resize {type(module).__name__}")


def resize(model: nn.Module, example_input: torch.Tensor, sizes: dict[str, int]) -> nn.Module:
    """A copy of ``model`` whose channel groups (keyed by root layer) have the given sizes."""
    graph = ChannelGraph(model, example_input)
    old = [group.size for group in graph.groups]
    new = [max(1, int(sizes.get(group.root, group.size))) for group in graph.groups]
    resized = copy.deepcopy(model)
    shapes: dict[str, tuple[int, int]] = {}
    for op in graph.ops:
        shapes[op.name] = (_width(op.in_map, old, new), _width(op.out_map, old, new))
    for index, group in enumerate(graph.groups):
        for member in group.members:
            if member.module not in shapes:  # batch norms, gates: follow their group
                count = len(member.idxs) * new[index] // old[index]
                shapes[member.module] = (count, count)
    for name, (c_in, c_out) in shapes.items():
        parent, _, child = name.rpartition(".")
        owner = resized.get_submodule(parent) if parent else resized
        setattr(owner, child, _rebuilt(getattr(owner, child), c_in, c_out))
    with torch.no_grad():
        resized.eval()(example_input[:1])  # fails here, clearly, if a shape is hard-coded
    return resized


def expand(model: nn.Module, example_input: torch.Tensor, target: str, budget: float,
           device: Device | DeviceProfile | None = None) -> tuple[nn.Module, float]:
    """(widest resized copy with cost <= budget, its multiplier ω) for ω in [1/16, 16]."""
    graph = ChannelGraph(model, example_input)

    def scaled(omega: float) -> nn.Module:
        return resize(model, example_input, {g.root: max(1, round(omega * g.size)) for g in graph.groups})

    def cost(omega: float) -> float:
        return ResourceRegularizer(scaled(omega), example_input, "gamma", target, device=device).cost()

    low, high = 1 / 16, 16.0
    if cost(low) > budget:
        raise ValueError(f"even the network at 1/16 width costs {cost(low):.4g} > budget {budget:.4g}")
    for _ in range(20):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if cost(middle) <= budget else (low, middle)
    return scaled(low), low
