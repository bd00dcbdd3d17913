"""Which tensors of an exported network become int8, as a microcontroller runs it.

A PT2E :class:`Quantizer` (torchao) for the kernels of CMSIS-NN and TFLite Micro's int8
reference ops, the ones SpArSe's networks deploy on:

- activations: int8, one (scale, zero point) per tensor, observed by a histogram (or, where
  only the costs are wanted, by their min / max: the bytes are the same, and the
  histogram's scale search is half the time of an untrained network's conversion);
- conv / linear weights: int8 per output channel, symmetric in [-127, 127] (zero point 0);
  the bias stays float here and is int32 (scale_in · scale_w) on a device: 4 B either way;
- a ReLU / ReLU6 after a conv, linear or add is fused: only its output is quantized;
- max / average pooling, a spatial mean, flatten, reshape and a ReLU fused into nothing keep
  their input's scale (TFLite's int8 pooling and reshape do), so they need no requantization;
- every other op stays float between a dequantize and a quantize (a device would run it
  in float too), so its buffers count at 4 B per element.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from sparsemod.logs import quiet_torchao

quiet_torchao()
from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver  # noqa: E402
from torchao.quantization.pt2e.quantizer import (  # noqa: E402
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)

aten = torch.ops.aten
ACTIVATION = QuantizationSpec(torch.int8, HistogramObserver, -128, 127,
                              torch.per_tensor_affine)
RANGE_ONLY = QuantizationSpec(torch.int8, MinMaxObserver, -128, 127, torch.per_tensor_affine)
WEIGHT = QuantizationSpec(torch.int8, PerChannelMinMaxObserver, -127, 127,
                          torch.per_channel_symmetric, ch_axis=0)
WEIGHTED = {aten.conv1d.default, aten.conv2d.default, aten.linear.default}
ELEMENTWISE = {aten.add.Tensor, aten.cat.default}
FUSED_ACTIVATIONS = {aten.relu.default, aten.relu_.default, aten.relu6.default, aten.hardtanh.default,
                     aten.hardtanh_.default}
POOLS = {aten.max_pool2d.default, aten.avg_pool2d.default, aten.adaptive_avg_pool2d.default,
         aten.max_pool1d.default, aten.avg_pool1d.default, aten.mean.dim}
VIEWS = {aten.flatten.using_ints, aten.view.default, aten.reshape.default}
# a ReLU no conv / linear / add fused is one too: it clips, the scale still fits
SHARED = POOLS | VIEWS | FUSED_ACTIVATIONS


def fused_activation(node: fx.Node) -> fx.Node | None:
    """The ReLU / ReLU6 that alone reads ``node``'s output, if any."""
    users = list(node.users)
    if len(users) == 1 and users[0].target in FUSED_ACTIVATIONS:
        return users[0]
    return None


def _annotated(node: object) -> bool:
    return isinstance(node, fx.Node) and "quantization_annotation" in node.meta


def _quantized_output(node: fx.Node) -> bool:
    return _annotated(node) and node.meta["quantization_annotation"].output_qspec is not None


def tensor_inputs(node: fx.Node) -> list[fx.Node]:
    """The activations an op reads (a conv's input, not its weight; every tensor a cat joins)."""
    values: Any = node.args[0] if node.target is aten.cat.default else (
        node.args[:2] if node.target is aten.add.Tensor else node.args[:1])
    return [value for value in values if isinstance(value, fx.Node)]


class MicroQuantizer(Quantizer):
    """Annotates an exported (ATen) graph in execution order; see the module docstring.
    ``activation``: how activations are observed (:data:`ACTIVATION`, or :data:`RANGE_ONLY`
    where only the costs of the int8 network are wanted)."""

    def __init__(self, activation: QuantizationSpec = ACTIVATION):
        super().__init__()
        self.activation = activation

    def annotate(self, model: fx.GraphModule) -> fx.GraphModule:
        for node in model.graph.nodes:
            if node.op != "call_function" or _annotated(node):
                continue
            if node.target in WEIGHTED:
                source, weight = node.args[0], node.args[1]
                self._mark(node, {source: self.activation, weight: WEIGHT})
            elif node.target in ELEMENTWISE:
                self._mark(node, {value: self.activation for value in tensor_inputs(node)}, fuse=node.target is not aten.cat.default)
            elif node.target in SHARED and isinstance(node.args[0], fx.Node):
                source = node.args[0]
                # the input's own scale when it has one; an observer of its own at the input
                spec = SharedQuantizationSpec(source) if _quantized_output(source) else self.activation
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={source: spec}, output_qspec=SharedQuantizationSpec((source, node)),
                    _annotated=True)
        return model

    def _mark(self, node: fx.Node, inputs: dict[fx.Node, QuantizationSpec], fuse: bool = True) -> None:
        activation = fused_activation(node) if fuse else None  # a cat joins; it has no kernel to clamp in
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map=inputs, output_qspec=None if activation else self.activation, _annotated=True)
        if activation is not None:
            activation.meta["quantization_annotation"] = QuantizationAnnotation(
                output_qspec=self.activation, _annotated=True)

    def validate(self, model: fx.GraphModule) -> None:
        """Every annotation above is one PT2E accepts; nothing to check."""
