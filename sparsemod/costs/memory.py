"""Working memory: peak bytes of activations alive at once in one batch-1 inference.

The model runs once on a batch-1 input under a ``torch.fx`` interpreter that records every
node's output buffer at its real dtype (quantized tensors: 1 B per element).  Weights,
scales and zero points (``get_attr`` nodes) are excluded: they stay in flash.  A buffer is
live from the node that creates it to the last node that reads it, in execution order:

    working_memory = max_i  Σ_{b live at step i} bytes(b)

For a chain this is SpArSe's max over layers of (input + output) bytes; with residual adds
and concatenations it also counts every tensor still needed later (μNAS).  Outputs sharing
their input's storage (in-place ReLU, views, flatten, tuple indexing) are the same buffer
and add nothing.  At the model's boundary, the float input converted by a quantize op and
the float logits made by a final dequantize are counted at the quantized size: on a device
the input arrives and the logits leave in int8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

_QUANTIZE = (torch.quantize_per_tensor, torch.quantize_per_channel)


@dataclass
class ActivationTrace:
    """What one batch-1 run recorded, in execution order."""

    order: list[str] = field(default_factory=list)  # node names that make activations
    buffer_of: dict[str, int] = field(default_factory=dict)  # node -> buffer id
    bytes_of_buffer: dict[int, int] = field(default_factory=dict)
    last_use: dict[int, int] = field(default_factory=dict)  # buffer -> last step reading it
    module_of: dict[str, str] = field(default_factory=dict)  # call_module node -> module path
    target_of: dict[str, Any] = field(default_factory=dict)  # node -> fx target (function, method name)
    shape_of: dict[str, tuple[int, ...]] = field(default_factory=dict)  # node -> first output's shape
    input_bytes: dict[str, int] = field(default_factory=dict)  # node -> bytes read
    output_bytes: dict[str, int] = field(default_factory=dict)  # node -> bytes written
    inputs_of: dict[str, list[str]] = field(default_factory=dict)  # node -> recorded inputs
    outputs: set[int] = field(default_factory=set)  # buffers returned by the model

    def live_bytes(self) -> list[int]:
        """Bytes live at every step."""
        first: dict[int, int] = {}  # buffer -> the step that writes it
        for step, name in enumerate(self.order):
            if name in self.buffer_of:
                first.setdefault(self.buffer_of[name], step)
        return [
            sum(size for buf, size in self.bytes_of_buffer.items()
                if first[buf] <= step <= self.last_use.get(buf, first[buf]))
            for step in range(len(self.order))
        ]

    def peak(self) -> int:
        return max(self.live_bytes(), default=0)

    def best_order_peak(self, max_states: int = 50_000) -> int | None:
        """Smallest peak over all valid execution orders (μNAS), or None past ``max_states``.

        Dynamic programming over the sets of executed nodes.  A node that writes into its
        input's buffer (in place) keeps its place after that buffer's earlier readers.
        """
        readers: dict[int, set[str]] = {}
        for name, inputs in self.inputs_of.items():
            for source in inputs:
                readers.setdefault(self.buffer_of[source], set()).add(name)
        after = {name: set(inputs) for name, inputs in self.inputs_of.items()}
        position = {name: i for i, name in enumerate(self.order)}
        for name in self.order:
            buf = self.buffer_of.get(name)
            if buf is not None and self.output_bytes.get(name, 0) == 0 and self.inputs_of[name]:
                after[name] |= {r for r in readers.get(buf, ()) if position[r] < position[name]}
        producers: dict[int, str] = {}
        for name in self.order:
            if name in self.buffer_of:
                producers.setdefault(self.buffer_of[name], name)
        memo: dict[frozenset, int] = {}

        def live(done: frozenset, running: str) -> int:
            total = 0
            for buf, producer in producers.items():
                made = producer in done or producer == running
                needed = buf in self.outputs or any(r not in done for r in readers.get(buf, ()))
                if made and needed:
                    total += self.bytes_of_buffer[buf]
            return total

        def best(done: frozenset) -> int:
            if len(done) == len(self.order):
                return 0
            if done not in memo:
                if len(memo) >= max_states:
                    raise OverflowError
                memo[done] = min(
                    max(live(done, name), best(done | {name}))
                    for name in self.order if name not in done and after[name] <= done
                )
            return memo[done]

        try:
            return best(frozenset())
        except OverflowError:
            return None


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _storage(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, trace: ActivationTrace):
        # Keep every value alive while recording, so a freed storage's address is never
        # reused by a later tensor and mistaken for an alias.
        super().__init__(module, garbage_collect_values=False)
        self.trace = trace
        self.buffer_of_storage: dict[int, int] = {}

    def run_node(self, node: fx.Node) -> Any:
        result = super().run_node(node)
        if node.op in ("get_attr", "output"):
            return result
        trace = self.trace
        step = len(trace.order)
        trace.order.append(node.name)
        if node.op == "call_module":
            trace.module_of[node.name] = str(node.target)
        trace.target_of[node.name] = node.target
        if tensors := _tensors(result):
            trace.shape_of[node.name] = tuple(tensors[0].shape)
        trace.inputs_of[node.name] = [n.name for n in node.all_input_nodes if n.name in trace.buffer_of]
        read = {trace.buffer_of[n] for n in trace.inputs_of[node.name]}
        for buf in read:
            trace.last_use[buf] = step
        trace.input_bytes[node.name] = sum(trace.bytes_of_buffer[b] for b in read)
        # All fresh tensors of one node (e.g. an LSTM's output and states) form one buffer.
        fresh = [t for t in _tensors(result) if _storage(t) not in self.buffer_of_storage]
        aliased = [self.buffer_of_storage[_storage(t)] for t in _tensors(result)
                   if _storage(t) in self.buffer_of_storage]
        if fresh:
            buf = len(trace.bytes_of_buffer)
            trace.bytes_of_buffer[buf] = sum(t.numel() * t.element_size() for t in fresh)
            for tensor in fresh:
                self.buffer_of_storage[_storage(tensor)] = buf
        elif aliased:
            buf = aliased[0]
        else:
            return result  # no tensor made (a shape query, a constant)
        trace.buffer_of[node.name] = buf
        trace.last_use[buf] = max(trace.last_use.get(buf, step), step)
        trace.output_bytes[node.name] = trace.bytes_of_buffer[buf] if fresh else 0
        return result


def _kind(graph_module: fx.GraphModule, node: fx.Node) -> str | None:
    """``quantize`` / ``dequantize`` for such a node of either int8 flow, else None."""
    if node.op == "call_module":
        return getattr(graph_module.get_submodule(str(node.target)), "kind", None)
    if node.op == "call_function" and node.target in _QUANTIZE:
        return "quantize"
    return "dequantize" if node.op == "call_method" and node.target == "dequantize" else None


def _apply_boundary_rule(graph_module: fx.GraphModule, trace: ActivationTrace) -> None:
    """Count a quantized model's float input / float logits at their quantized size."""
    for node in graph_module.graph.nodes:
        if _kind(graph_module, node) == "quantize":
            source = node.args[0]
            readers = [u for u in getattr(source, "users", ()) if u.target is not torch.ops.aten.sym_size.int]
            if isinstance(source, fx.Node) and source.op == "placeholder" and len(readers) == 1:  # not a shape read
                trace.bytes_of_buffer[trace.buffer_of[source.name]] = 0
        if _kind(graph_module, node) == "dequantize":
            users = list(node.users)
            if len(users) == 1 and users[0].op == "output" and node.name in trace.buffer_of:
                trace.bytes_of_buffer[trace.buffer_of[node.name]] = 0


def _recurrent(module: nn.Module) -> bool:
    return isinstance(module, nn.RNNBase) or type(module).__name__ in ("LSTM", "GRU", "RNN")


def _apply_streaming_rule(graph_module: fx.GraphModule, trace: ActivationTrace,
                          example_input: torch.Tensor) -> None:
    """A recurrent layer reading the model input holds one time step of it."""
    modules = dict(graph_module.named_modules())
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or not _recurrent(modules[node.target]) or not node.args:
            continue
        source = node.args[0]
        if isinstance(source, fx.Node) and source.op == "placeholder" and source.name in trace.buffer_of:
            module = modules[node.target]
            steps = example_input.shape[1 if getattr(module, "batch_first", False) else 0]
            buf = trace.buffer_of[source.name]
            trace.bytes_of_buffer[buf] //= max(1, steps)


def trace_activations(model: nn.Module, example_input: torch.Tensor) -> ActivationTrace:
    """Run ``model`` once on ``example_input[:1]`` and record its activation buffers."""
    graph_module = model if isinstance(model, fx.GraphModule) else fx.symbolic_trace(model)
    trace = ActivationTrace()
    with torch.no_grad():
        _Recorder(graph_module, trace).run(example_input[:1])
    output_node = next(n for n in graph_module.graph.nodes if n.op == "output")
    end = len(trace.order) - 1
    for node in output_node.all_input_nodes:  # the result is live until the end
        if node.name in trace.buffer_of:
            trace.last_use[trace.buffer_of[node.name]] = end
            trace.outputs.add(trace.buffer_of[node.name])
    _apply_boundary_rule(graph_module, trace)
    _apply_streaming_rule(graph_module, trace, example_input[:1])
    return trace


def working_memory(model: nn.Module, example_input: torch.Tensor) -> int:
    """Peak bytes of simultaneously live activations, batch 1, at deployed dtypes."""
    return trace_activations(model, example_input).peak()
