"""Dynamic int8 (``quant_scheme = dynamic`` / ``both``) on torch.ao's FX graph mode.

Weights of Linear / LSTM / GRU int8, their activations quantized on the fly; with
``both``, the convolutional part static int8 as well.  This is the one path left on
torch.ao's FX flow, deprecated in torch 2.13, because PT2E has no dynamic recurrent layer:
its quantizers annotate ``aten.linear`` only, an exported LSTM is one ``aten.lstm`` op that
none annotates and its weights stay float (``tests/quantize/test_dynamic.py`` shows it).
The deprecation notices of these calls are silenced here, once per call.
"""

from __future__ import annotations

import copy
import warnings
from typing import Iterable

import torch
from torch import fx, nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.ao.quantization import (
        QConfigMapping,
        default_dynamic_qconfig,
        get_default_qconfig_mapping,
    )
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

DYNAMIC_TYPES = (nn.Linear, nn.LSTM, nn.GRU)
_ENGINE = "x86"


def _qconfig_mapping(model: nn.Module, scheme: str) -> QConfigMapping:
    mapping = get_default_qconfig_mapping(_ENGINE) if scheme == "both" else QConfigMapping()
    # Per module name, not per type: FX checks fusable pairs (conv+relu, linear+relu) by
    # type and refuses a ReLU type that is static after convs but dynamic after linears.
    modules = dict(model.named_modules())
    for name, module in modules.items():
        if isinstance(module, DYNAMIC_TYPES):
            mapping = mapping.set_module_name(name, default_dynamic_qconfig)
    for node in fx.symbolic_trace(model).graph.nodes:  # a ReLU fused into a dynamic Linear
        source = node.args[0] if node.args else None
        if (node.op == "call_module" and isinstance(modules.get(node.target), nn.ReLU)
                and isinstance(source, fx.Node) and source.op == "call_module"
                and isinstance(modules.get(source.target), DYNAMIC_TYPES)):
            mapping = mapping.set_module_name(node.target, default_dynamic_qconfig)
    return mapping


def _functional_flatten(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` with each ``nn.Flatten`` call turned into ``torch.flatten``.

    FX treats the module as a float op (dequantize, flatten, requantize: a float buffer and
    extra scales) but the function as a view that keeps int8 data, as a device would.
    """
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        flatten = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(flatten, nn.Flatten):
            with traced.graph.inserting_after(node):
                replacement = traced.graph.call_function(
                    torch.flatten, node.args, {"start_dim": flatten.start_dim, "end_dim": flatten.end_dim})
            node.replace_all_uses_with(replacement)
            traced.graph.erase_node(node)
    traced.graph.lint()
    traced.recompile()
    return traced


def quantize(model: nn.Module, scheme: str, calibration: Iterable[torch.Tensor],
             example_input: torch.Tensor) -> nn.Module:
    """A ``dynamic`` / ``both`` int8 copy of ``model`` (eval mode); ``calibration`` feeds the
    static observers of ``both``."""
    float_model = _functional_flatten(copy.deepcopy(model).eval())
    torch.backends.quantized.engine = _ENGINE
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # FX-mode deprecation notices, once per call
        prepared = prepare_fx(float_model, _qconfig_mapping(float_model, scheme), (example_input,))
        if scheme == "both":
            for batch in calibration:
                prepared(batch)
        return convert_fx(prepared).eval()
