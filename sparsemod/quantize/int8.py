"""The int8 network a PT2E conversion describes, as modules that hold and pass int8 tensors.

``convert_pt2e`` leaves a reference graph: float ops between ``dequantize`` and
``quantize`` calls, weights as int8 constants dequantized on every call.  A runtime fuses
each ``dequantize → op → [ReLU] → quantize`` into one int8 kernel; :func:`lower` does the
same, so that the graph the cost functions trace holds what a device holds:

- each fused op is one module (:class:`QuantizedConv`, :class:`QuantizedLinear`,
  :class:`QuantizedAdd`, :class:`QuantizedCat`, :class:`QuantizedMaxPool`,
  :class:`QuantizedAvgPool`, :class:`QuantizedActivation`), named by the float model's
  path, that reads int8 tensors and writes one, with its int8 weights, per-channel scales
  and zero points, float bias and output (scale, zero point) in its ``state_dict`` (what
  the flash holds);
- flatten / reshape of an int8 tensor is a view of it;
- the network's float input is quantized by :class:`Quantize`; the logits, and the input of
  any op left float, are made float by :class:`Dequantize`.

Inside a module the arithmetic is the reference's own (dequantize, float op, round, clamp),
so the lowered network's outputs equal ``convert_pt2e``'s bit for bit.  A model that
returns one tensor returns it (the export's flat tuple of one is unpacked).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import fx, nn

from sparsemod.quantize.annotate import ELEMENTWISE, FUSED_ACTIVATIONS, POOLS, SHARED, WEIGHTED, tensor_inputs
from sparsemod.quantize.pt2e import per_dim

aten = torch.ops.aten
_decomposed = torch.ops.quantized_decomposed
QUANTIZE = _decomposed.quantize_per_tensor.default
DEQUANTIZE = _decomposed.dequantize_per_tensor.default
DEQUANTIZE_CHANNEL = _decomposed.dequantize_per_channel.default
QMIN, QMAX = -128, 127
_MAX_POOLS = {aten.max_pool2d.default, aten.max_pool1d.default}
_VIEWS: dict[Any, Callable[..., Any]] = {aten.flatten.using_ints: torch.flatten, aten.view.default: torch.reshape,
                                         aten.reshape.default: torch.reshape}


def _quantize(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, QMIN, QMAX).to(torch.int8)


def _dequantize(x: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor) -> torch.Tensor:
    return (x.to(torch.float32) - zero_point) * scale


class _QuantizeLinear(torch.autograd.Function):
    """ONNX's QuantizeLinear in an ONNX export (the exporter calls ``symbolic``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
        return _quantize(x, scale, zero_point)

    @staticmethod
    def symbolic(g: Any, x: Any, scale: float, zero_point: int) -> Any:
        return g.op("QuantizeLinear", x, g.op("Constant", value_t=torch.tensor(scale, dtype=torch.float32)),
                    g.op("Constant", value_t=torch.tensor(zero_point, dtype=torch.int8)))


class _DequantizeLinear(torch.autograd.Function):
    """ONNX's DequantizeLinear (per tensor, or per channel along ``axis``) in an ONNX export."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: Any, zero_point: Any, axis: int) -> torch.Tensor:
        if isinstance(scale, torch.Tensor):
            shape = [-1 if dim == axis else 1 for dim in range(x.dim())]
            return _dequantize(x, scale.view(shape), zero_point.view(shape).to(torch.float32))
        return _dequantize(x, scale, zero_point)

    @staticmethod
    def symbolic(g: Any, x: Any, scale: Any, zero_point: Any, axis: int) -> Any:
        if isinstance(scale, float):
            scale = g.op("Constant", value_t=torch.tensor(scale, dtype=torch.float32))
            zero_point = g.op("Constant", value_t=torch.tensor(zero_point, dtype=torch.int8))
        else:
            zero_point = g.op("Cast", zero_point, to_i=3)  # ONNX's INT8
        return g.op("DequantizeLinear", x, scale, zero_point, axis_i=axis)


def quantize(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """float → int8: clamp(round(x / scale) + zero_point) (PT2E's reference arithmetic; in an
    ONNX export, QuantizeLinear, which runtimes fuse with the ops around it)."""
    if torch.onnx.is_in_onnx_export():
        return _QuantizeLinear.apply(x, scale, zero_point)
    return _quantize(x, scale, zero_point)


def dequantize(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """int8 → float: (x − zero_point) · scale (in an ONNX export, DequantizeLinear)."""
    if torch.onnx.is_in_onnx_export():
        return _DequantizeLinear.apply(x, scale, zero_point, 1)
    return _dequantize(x, scale, zero_point)


class _Int8Op(nn.Module):
    """Writes one int8 tensor with ``output`` = (scale, zero point), kept in its state."""

    kind: ClassVar[str]

    def __init__(self, output: tuple[float, int]):
        super().__init__()
        self.output_scale, self.output_zero_point = float(output[0]), int(output[1])
        # what a flatbuffer stores for the output tensor (float32 scale, int32 zero point)
        self.register_buffer("scale", torch.tensor(self.output_scale, dtype=torch.float32))
        self.register_buffer("zero_point", torch.tensor(self.output_zero_point, dtype=torch.int32))

    def requantize(self, y: torch.Tensor) -> torch.Tensor:
        return quantize(y, self.output_scale, self.output_zero_point)


class Quantize(_Int8Op):
    """The network's float input made int8 (on a device it arrives so)."""

    kind = "quantize"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.requantize(x)


class Dequantize(nn.Module):
    """An int8 tensor made float: the logits, or the input of an op left float."""

    kind: ClassVar[str] = "dequantize"

    def __init__(self, qparams: tuple[float, int]):
        super().__init__()
        self.input_scale, self.input_zero_point = float(qparams[0]), int(qparams[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dequantize(x, self.input_scale, self.input_zero_point)


class _Weighted(_Int8Op):
    """A conv / linear with int8 weights per output channel and an optional fused clamp."""

    weight: torch.Tensor
    weight_scale: torch.Tensor
    weight_zero_point: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, source: tuple[float, int], weight: torch.Tensor, weight_scale: torch.Tensor,
                 weight_zero_point: torch.Tensor, bias: torch.Tensor | None,
                 clamp: tuple[float | None, float | None] | None, output: tuple[float, int]):
        super().__init__(output)
        self.input_scale, self.input_zero_point = float(source[0]), int(source[1])
        self.register_buffer("weight", weight.to(torch.int8))
        self.register_buffer("weight_scale", weight_scale.to(torch.float32))
        self.register_buffer("weight_zero_point", weight_zero_point.to(torch.int32))
        self.register_buffer("bias", None if bias is None else bias.to(torch.float32))
        self.clamp = clamp

    def float_weight(self) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # the int8 weights stay int8 in the file
            return _DequantizeLinear.apply(self.weight, self.weight_scale, self.weight_zero_point, 0)
        shape = (-1,) + (1,) * (self.weight.dim() - 1)
        return _dequantize(self.weight, self.weight_scale.view(shape),
                           self.weight_zero_point.view(shape).to(torch.float32))

    def finish(self, y: torch.Tensor) -> torch.Tensor:
        if self.clamp is not None:
            y = torch.clamp(y, *self.clamp)
        return self.requantize(y)


class QuantizedConv(_Weighted):
    kind = "conv"

    def __init__(self, *args: Any, stride: tuple[int, ...], padding: tuple[int, ...],
                 dilation: tuple[int, ...], groups: int):
        super().__init__(*args)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.out_channels = self.weight.shape[0]
        self.in_channels = self.weight.shape[1] * groups
        self.kernel_size = tuple(self.weight.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = F.conv2d if self.weight.dim() == 4 else F.conv1d
        y = conv(dequantize(x, self.input_scale, self.input_zero_point), self.float_weight(), self.bias,
                 self.stride, self.padding, self.dilation, self.groups)
        return self.finish(y)


class QuantizedLinear(_Weighted):
    kind = "linear"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(dequantize(x, self.input_scale, self.input_zero_point), self.float_weight(), self.bias)
        return self.finish(y)


class QuantizedAdd(_Int8Op):
    kind = "add"

    def __init__(self, sources: list[tuple[float, int]], clamp: tuple[float | None, float | None] | None,
                 output: tuple[float, int]):
        super().__init__(output)
        self.sources, self.clamp = sources, clamp

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = dequantize(a, *self.sources[0]) + dequantize(b, *self.sources[1])
        return self.requantize(y if self.clamp is None else torch.clamp(y, *self.clamp))


class QuantizedCat(_Int8Op):
    kind = "add"  # an element-wise op for the latency model: reads its inputs, writes them once

    def __init__(self, sources: list[tuple[float, int]], dim: int, output: tuple[float, int]):
        super().__init__(output)
        self.sources, self.dim = sources, dim

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.requantize(torch.cat([dequantize(t, *q) for t, q in zip(tensors, self.sources)], self.dim))


class _Shared(nn.Module):
    """An op that keeps its input's (scale, zero point), as TFLite's int8 pooling does."""

    kind: ClassVar[str]

    def __init__(self, op: Any, arguments: tuple, qparams: tuple[float, int]):
        super().__init__()
        self.op, self.arguments = op, arguments
        self.input_scale, self.input_zero_point = float(qparams[0]), int(qparams[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.op(dequantize(x, self.input_scale, self.input_zero_point), *self.arguments)
        return quantize(y, self.input_scale, self.input_zero_point)


class QuantizedMaxPool(_Shared):
    kind = "pool"


class QuantizedAvgPool(_Shared):
    kind = "pool"  # average pooling and a spatial mean


class QuantizedActivation(_Shared):
    kind = "other"  # a ReLU / ReLU6 after an op that did not fuse it


def _qparams(node: fx.Node) -> tuple[float, int]:
    """(scale, zero point) of a quantize / dequantize node."""
    return float(node.args[1]), int(node.args[2])  # type: ignore[arg-type]


def _dequantized(node: Any) -> bool:
    return isinstance(node, fx.Node) and node.target == DEQUANTIZE


def _fused(q: fx.Node) -> tuple[fx.Node, fx.Node | None] | None:
    """The (anchor, activation) that the quantize node ``q`` closes, if they form a kernel."""
    anchor, activation = q.args[0], None
    if (isinstance(anchor, fx.Node) and anchor.target in FUSED_ACTIVATIONS and len(anchor.users) == 1
            and not _dequantized(anchor.args[0])):  # else a ReLU alone: its own anchor
        activation, anchor = anchor, anchor.args[0]
    if not (isinstance(anchor, fx.Node) and anchor.op == "call_function" and len(anchor.users) == 1
            and anchor.target in WEIGHTED | ELEMENTWISE | SHARED and not anchor.kwargs):  # e.g. add's alpha
        return None
    if not all(_dequantized(arg) for arg in tensor_inputs(anchor)):
        return None
    if anchor.target in WEIGHTED and not (isinstance(anchor.args[1], fx.Node)
                                          and anchor.args[1].target == DEQUANTIZE_CHANNEL):
        return None
    return anchor, activation


def _clamp(activation: fx.Node | None) -> tuple[float | None, float | None] | None:
    if activation is None:
        return None
    if activation.target is aten.relu6.default:
        return 0.0, 6.0
    if activation.target in (aten.hardtanh.default, aten.hardtanh_.default):
        low, high = (list(activation.args[1:3]) + [-1.0, 1.0][len(activation.args) - 1:])[:2]
        return float(low), float(high)  # type: ignore[arg-type]
    return 0.0, None


class _Lowering:
    def __init__(self, converted: fx.GraphModule):
        self.converted = converted
        self.graph = fx.Graph()
        self.env: dict[fx.Node, fx.Node] = {}
        self.root = nn.Module()  # the kernels and the constants of ops left float, flat names

    def constant(self, node: Any) -> Any:
        if not isinstance(node, fx.Node):
            return node
        if node.op != "get_attr":
            raise ValueError(f"int8 lowering: expected a constant, got {node.format_node()}")
        value: Any = self.converted
        for part in str(node.target).split("."):
            value = getattr(value, part)
        return value

    def unique(self, base: str) -> str:
        name, count = base.replace(".", "_"), 1
        while hasattr(self.root, name if count == 1 else f"{name}_{count}"):
            count += 1
        return name if count == 1 else f"{name}_{count}"

    def call(self, module: nn.Module, base: str, args: tuple) -> fx.Node:
        name = self.unique(base)
        self.root.add_module(name, module)
        return self.graph.call_module(name, args)

    def path(self, anchor: fx.Node) -> str:
        """The float model's module path of ``anchor`` (the kernel's name in the lowered model)."""
        stack = anchor.meta.get("nn_module_stack") or {}
        return (list(stack.values())[-1][0] if stack else "") or anchor.name

    def kernel(self, q: fx.Node, anchor: fx.Node, activation: fx.Node | None) -> fx.Node:
        reads = tensor_inputs(anchor)
        inputs = tuple(self.env[dq.args[0]] for dq in reads)  # type: ignore[index]  # the int8 tensors read
        qparams, output, target = [_qparams(dq) for dq in reads], _qparams(q), anchor.target
        if target in WEIGHTED:
            dq_weight = anchor.args[1]
            weight, scale, zero_point = (self.constant(arg) for arg in dq_weight.args[:3])  # type: ignore[union-attr]
            bias = self.constant(anchor.args[2]) if len(anchor.args) > 2 else None
            common = (qparams[0], weight, scale, zero_point, bias, _clamp(activation), output)
            if target is aten.linear.default:
                return self.call(QuantizedLinear(*common), self.path(anchor), inputs)
            dims = weight.dim() - 2
            rest: list[Any] = list(anchor.args[3:]) + [None] * 4
            module = QuantizedConv(*common, stride=per_dim(rest[0], 1, dims), padding=per_dim(rest[1], 0, dims),
                                   dilation=per_dim(rest[2], 1, dims), groups=int(rest[3] or 1))
            return self.call(module, self.path(anchor), inputs)
        if target is aten.add.Tensor:
            return self.call(QuantizedAdd(qparams, _clamp(activation), output), self.path(anchor), inputs)
        if target is aten.cat.default:
            dim: Any = anchor.args[1] if len(anchor.args) > 1 else 0
            return self.call(QuantizedCat(qparams, int(dim), output), self.path(anchor), inputs)
        if target in _VIEWS:  # an int8 view: the same bytes (a shape may read the batch size)
            shape = fx.node.map_arg(anchor.args[1:], lambda n: self.env[n])
            return self.graph.call_function(_VIEWS[target], (inputs[0], *shape))
        shared = (QuantizedMaxPool if target in _MAX_POOLS else QuantizedAvgPool if target in POOLS
                  else QuantizedActivation)
        return self.call(shared(target, tuple(anchor.args[1:]), qparams[0]), self.path(anchor), inputs)

    def lower(self) -> fx.GraphModule:
        nodes = list(self.converted.graph.nodes)
        kernels = {q: fused for q in nodes if q.target == QUANTIZE and (fused := _fused(q))}
        skipped = {member for anchor, activation in kernels.values() for member in (anchor, activation) if member}
        shapes: set[fx.Node] = set()  # what a view's shape reads (the batch size) stays
        for anchor, _ in kernels.values():
            if anchor.target in _VIEWS:
                fx.node.map_arg(anchor.args[1:], shapes.add)
        for node in reversed(nodes):  # what only the kernels read: their inputs' dequantize, weights
            if (node.users and node.target != QUANTIZE and node.op != "placeholder" and node not in shapes
                    and all(user in skipped for user in node.users)):
                skipped.add(node)
        for node in nodes:
            if node in skipped or (node.op == "call_module" and str(node.target).startswith("_guards")):
                continue
            if node in kernels:
                self.env[node] = self.kernel(node, *kernels[node])
            elif node.target in (QUANTIZE, DEQUANTIZE):
                kind = Quantize if node.target == QUANTIZE else Dequantize
                self.env[node] = self.call(kind(_qparams(node)), kind.kind, (self.env[node.args[0]],))
            elif node.op == "output" and len(values := node.args[0]) == 1:
                self.graph.output(self.env[values[0]])  # the export's flat tuple, as the model returned it
            elif node.op == "get_attr":  # a constant of an op left float: stored, so counted
                name = self.unique(str(node.target))
                self.root.register_buffer(name, self.constant(node))
                self.env[node] = self.graph.get_attr(name)
            else:
                self.env[node] = self.graph.node_copy(node, lambda n: self.env[n])
        return fx.GraphModule(self.root, self.graph).eval()


def lower(converted: fx.GraphModule) -> fx.GraphModule:
    """``converted`` (``convert_pt2e``'s output) with every fusable pattern as one int8 module."""
    return _Lowering(converted).lower()
