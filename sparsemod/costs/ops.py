"""The deployed network as a list of ops, each with its kind, MACs and bytes moved.

Read from one batch-1 :class:`~sparsemod.costs.memory.ActivationTrace` of the deployed
(quantized) ``torch.fx`` graph, in execution order.  Kinds:

- ``conv``, ``depthwise`` (groups = in = out channels), ``linear``: MACs = output elements ×
  (C_in / groups) · k_h · k_w (linear: × in features);
- ``pool`` (max / average / adaptive pooling, a spatial mean), ``add`` (element-wise
  add / mul, quantized add(+ReLU), concatenation), ``quantize`` (float → int8),
  ``dequantize`` (int8 → float), ``view`` (flatten, reshape, indexing: no data moved on a
  device), ``other`` (anything else, e.g. a float activation or a recurrent layer).

Bytes: the activations read and written (at their dtype) plus the op's stored weights.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sparsemod.costs.memory import ActivationTrace
from sparsemod.costs.size import model_size

KINDS = ("conv", "depthwise", "linear", "pool", "add", "quantize", "dequantize", "view", "other")
_VIEWS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, operator.getitem,
          "view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "size"}
_QUANTIZE = {torch.quantize_per_tensor, torch.quantize_per_channel}
_POOLS = {torch.mean, "mean", nn.functional.max_pool2d, nn.functional.avg_pool2d,
          nn.functional.adaptive_avg_pool2d}
_ELEMENTWISE = {operator.add, operator.mul, torch.add, torch.mul, torch.cat, "add", "mul"}


@dataclass(frozen=True)
class DeployedOp:
    name: str  # module path (call_module) or fx node name
    kind: str  # one of KINDS
    macs: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int

    @property
    def bytes(self) -> int:
        return self.input_bytes + self.output_bytes + self.weight_bytes


def _layer(module: nn.Module) -> Any:  # float or quantized: weight is a tensor or a method
    """The conv / linear inside a float fused module (a Sequential of it and its ReLU)."""
    return module[0] if isinstance(module, nn.Sequential) and len(module) else module


def module_kind(module: nn.Module) -> str:
    if kind := getattr(module, "kind", None):  # sparsemod's int8 modules name theirs
        if kind != "conv":
            return kind
    layer = _layer(module)
    name = type(layer).__name__
    if "Conv" in name:
        groups, c_in, c_out = layer.groups, layer.in_channels, layer.out_channels
        return "depthwise" if groups > 1 and groups == c_in == c_out else "conv"
    if "Linear" in name:
        return "linear"
    if "Pool" in name:
        return "pool"
    if isinstance(layer, (nn.Dropout, nn.Identity, nn.Flatten)):
        return "view"
    return "other"


def function_kind(target: Any) -> str:
    if target in _VIEWS:
        return "view"
    if target in _QUANTIZE:
        return "quantize"
    if target == "dequantize":
        return "dequantize"
    if target in _POOLS:
        return "pool"
    if target in _ELEMENTWISE or str(target).startswith(("quantized.add", "quantized.mul", "quantized.cat")):
        return "add"
    return "other"


def _macs(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    layer = _layer(module)
    weight = layer.weight() if callable(layer.weight) else layer.weight
    out_elements = 1
    for size in output_shape:
        out_elements *= size
    return out_elements * int(weight[0].numel())  # per output element: C_in/groups · k_h · k_w


def deployed_ops(model: nn.Module, trace: ActivationTrace) -> list[DeployedOp]:
    """Every node of ``trace`` that runs an op (placeholders and constants excluded)."""
    modules = dict(model.named_modules())
    ops = []
    for node in trace.order:
        if node not in trace.target_of or not trace.inputs_of.get(node):
            continue  # the input placeholder
        if node in trace.module_of:
            path = trace.module_of[node]
            module = modules[path]
            kind = module_kind(module)
            macs = _macs(module, trace.shape_of[node]) if kind in ("conv", "depthwise", "linear") else 0
            ops.append(DeployedOp(path, kind, macs, trace.input_bytes[node], trace.output_bytes.get(node, 0),
                                  model_size(module)))
        else:
            ops.append(DeployedOp(node, function_kind(trace.target_of[node]), 0, trace.input_bytes[node],
                                  trace.output_bytes.get(node, 0), 0))
    return ops
