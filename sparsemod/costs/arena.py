"""TFLite Micro's tensor arena: the RAM ``[TEST] export = tflite`` asks of a device.

The deployed network is rewritten as the ops the LiteRT converter emits for it
(:mod:`sparsemod.deploy.tflite`): one TFLite op per conv / depthwise / linear / pooling /
add, ReLUs and batch norms folded in, and the converter's own copies

- ``PAD`` before a conv whose symmetric padding is not TFLite's ``SAME`` (a stride-2 conv
  on an even input: SAME pads only after), a padded copy of the conv's input;
- ``TRANSPOSE`` + ``RESHAPE`` before a linear layer reading a ``C × H × W`` map (H·W > 1):
  PyTorch flattens channels first, the channels-last kernels store them last.

Then TFLM's arena, as its recording allocator reports it:

    arena = activations + runtime

- ``activations``: TFLM's greedy memory planner over those ops' int8 buffers, each
  rounded up to 16 B and live from the op that writes it to the last op that reads it
  (buffers placed largest first, ties latest-created first, each at the lowest offset
  free over its lifetime); the planner's peak, not the sum of the largest live set;
- ``runtime``: TFLM's persistent bytes: ``TENSOR`` per tensor (constants included),
  ``IO`` for the graph's input and output, per op ``OP_BYTES[kind]`` (its node, parsed
  options and kernel data) and, for the ops quantized per channel (conv, depthwise, fully
  connected), an int32 multiplier and shift per output channel.  The structs hold
  pointers: these are the 64-bit host's bytes that tflite-micro's Python interpreter
  reports (a 32-bit MCU holds fewer).  ``OP_BYTES`` and ``BASE`` are fitted to 40 random
  networks of ``examples/mcu.py`` (``benchmarks/runtime_costs.py --fit 1``); the others
  are read off TFLM's recording allocator.

An ``arena`` constraint is a budget for the deployed RAM itself; ``working_memory`` stays
SpArSe's activation peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from sparsemod.costs.memory import ActivationTrace
from sparsemod.costs.ops import function_kind, module_kind

ALIGNMENT = 16  # TFLM's buffer alignment (kBufferAlignment)
TENSOR = 24  # a TfLiteEvalTensor, per tensor of the graph (constants included)
NODE = 64  # a NodeAndRegistration, per op
IO = 192  # the persistent TfLiteTensors of the graph's input and output, with their quantization
# per op: NODE, the op's parsed options and its kernel's op data (e.g. conv: padding, output
# multiplier and shift, activation range); fitted (module docstring).  An op of a kind the
# mcu networks do not make is charged the dearest kind's bytes.
OP_BYTES = {"ADD": 135, "AVERAGE_POOL_2D": 135, "CONV_2D": 173, "DEPTHWISE_CONV_2D": 171,
            "FULLY_CONNECTED": 173, "MAX_POOL_2D": 136, "PAD": 125, "RESHAPE": 99, "TRANSPOSE": NODE}
OP_BYTES["OTHER"] = max(OP_BYTES.values())
BASE = 532  # the interpreter's own structures, fitted with OP_BYTES


def per_channel(channels: int) -> int:
    """A per-channel quantized op's requantization: an int32 multiplier and shift per output
    channel, two arrays each aligned to 16 B."""
    return 2 * _aligned(4 * channels)


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


@dataclass(frozen=True)
class LiteOp:
    """One op of the converted graph: the activation buffers it reads and writes."""

    kind: str  # the TFLite builtin operator
    reads: tuple[int, ...]
    writes: int
    channels: int = 0  # output channels of an op quantized per channel (conv, fully connected)
    constants: int = 0  # constant tensors it adds (weights, bias, a shape)


@dataclass
class LiteGraph:
    """The converted graph: its ops in execution order and its activation buffers' bytes."""

    ops: list[LiteOp]
    buffer_bytes: list[int]
    input: int
    output: int
    shared_constants: int  # one per distinct padding, one transpose permutation

    @property
    def tensors(self) -> int:
        return len(self.buffer_bytes) + sum(op.constants for op in self.ops) + self.shared_constants


def _same(size: int, kernel: int, stride: int, padding: int, dilation: int) -> bool:
    """Whether PyTorch's symmetric ``padding`` is TFLite's VALID (0) or SAME along one axis."""
    reach = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - reach) // stride + 1
    if padding == 0:
        return True
    same_out = -(-size // stride)
    total = max((same_out - 1) * stride + reach - size, 0)
    return out == same_out and total // 2 == padding


def lite_graph(model: nn.Module, trace: ActivationTrace) -> LiteGraph:
    """The ops the converter makes of the quantized ``model`` whose run ``trace`` recorded."""
    modules = dict(model.named_modules())
    buffer_bytes: list[int] = []
    tensor_of: dict[str, int] = {}  # trace node -> buffer
    shape_of: dict[int, tuple[int, ...]] = {}
    ops: list[LiteOp] = []
    paddings: set[tuple[int, ...]] = set()
    transposes = 0

    def new(shape: tuple[int, ...]) -> int:
        buffer_bytes.append(math.prod(shape))  # int8: 1 B per element
        shape_of[len(buffer_bytes) - 1] = shape
        return len(buffer_bytes) - 1

    for node in trace.order:
        inputs = [tensor_of[name] for name in trace.inputs_of.get(node, ())]
        shape = trace.shape_of.get(node, ())
        module = modules[trace.module_of[node]] if node in trace.module_of else None
        kind = module_kind(module) if module is not None else function_kind(trace.target_of[node])
        if not inputs:  # the graph's input, which arrives in int8
            tensor_of[node] = new(shape)
        elif kind in ("quantize", "view", "dequantize"):  # no op: the input made int8 on the
            tensor_of[node] = inputs[0]  # host, flatten, dropout, the logits' dequantize
        elif kind in ("conv", "depthwise"):
            layer: Any = module[0] if isinstance(module, nn.Sequential) else module
            source = inputs[0]
            spatial = shape_of[source][-len(layer.kernel_size):]
            if not all(_same(size, k, s, p, d) for size, k, s, p, d in zip(
                    spatial, layer.kernel_size, layer.stride, layer.padding, layer.dilation)):
                padding = tuple(layer.padding)
                paddings.add(padding)
                padded = new(shape_of[source][:-len(spatial)] + tuple(n + 2 * p for n, p in zip(spatial, padding)))
                ops.append(LiteOp("PAD", (source,), padded))
                source = padded
            # the converter makes every conv with one filter per input channel depthwise
            lite = "DEPTHWISE_CONV_2D" if layer.groups == layer.in_channels else "CONV_2D"
            tensor_of[node] = new(shape)
            ops.append(LiteOp(lite, (source,), tensor_of[node], layer.out_channels, 2))
        elif kind == "linear":
            source = inputs[0]
            if len(shape_of[source]) == 4 and math.prod(shape_of[source][-2:]) > 1:
                batch, channels, height, width = shape_of[source]
                transposes = 1
                ops.append(LiteOp("TRANSPOSE", (source,), moved := new((batch, height, width, channels))))
                ops.append(LiteOp("RESHAPE", (moved,), flat := new((batch, channels * height * width)), 0, 1))
                source = flat
            tensor_of[node] = new(shape)
            ops.append(LiteOp("FULLY_CONNECTED", (source,), tensor_of[node], shape[-1], 2))
        else:
            tensor_of[node] = new(shape)
            if kind == "pool":
                pooling = type(module).__name__ if module is not None else str(trace.target_of[node])
                lite = "MAX_POOL_2D" if "max" in pooling.lower() else "AVERAGE_POOL_2D"
            elif kind == "add":
                target = trace.target_of[node]  # a module's path, or a function
                joins = type(module).__name__ == "QuantizedCat" if module is not None else "cat" in str(target)
                lite = "CONCATENATION" if joins else "ADD"
            else:  # an op this model does not know: its output buffer and a generic op's bytes
                lite = "OTHER"
            ops.append(LiteOp(lite, tuple(inputs), tensor_of[node]))
    output = ops[-1].writes if ops else 0
    return LiteGraph(ops, buffer_bytes, 0, output, len(paddings) + transposes)


def planned_activations(graph: LiteGraph) -> int:
    """Peak offset of TFLM's greedy memory planner (module docstring)."""
    last_op = len(graph.ops) - 1
    first = {graph.input: 0}
    last = {graph.output: last_op}
    for step, op in enumerate(graph.ops):
        for buffer in op.reads:
            last[buffer] = max(last.get(buffer, step), step)
        first.setdefault(op.writes, step)
    # largest first; among equal sizes the later-created first, as TFLM's sort leaves them
    buffers = sorted(((_aligned(size), first[b], last.get(b, first[b]), b)
                      for b, size in enumerate(graph.buffer_bytes) if b in first),
                     key=lambda buffer: (-buffer[0], -buffer[3]))
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    peak = 0
    for size, start, end, _ in buffers:
        offset = 0
        for other_offset, other_size, other_start, other_end in sorted(placed):
            if other_end < start or other_start > end:
                continue  # not live at the same time
            if other_offset - offset >= size:
                break
            offset = max(offset, other_offset + other_size)
        placed.append((offset, size, start, end))
        peak = max(peak, offset + size)
    return peak


def runtime_bytes(graph: LiteGraph) -> int:
    """TFLM's persistent bytes for ``graph`` (module docstring)."""
    return (BASE + IO + TENSOR * graph.tensors
            + sum(OP_BYTES.get(op.kind, OP_BYTES["OTHER"]) for op in graph.ops)
            + sum(per_channel(op.channels) for op in graph.ops if op.channels))


def tflm_arena(model: nn.Module, trace: ActivationTrace) -> dict[str, int]:
    """TFLM's arena for the deployed ``model``: ``arena`` = ``activations`` + ``runtime``."""
    graph = lite_graph(model, trace)
    activations, runtime = planned_activations(graph), runtime_bytes(graph)
    return {"arena": activations + runtime, "activations": activations, "runtime": runtime}
