"""int8 quantization of a trained float network (``quant_scheme``).

- ``post``: static post-training quantization; conv/bn/relu (and linear/relu) fused,
  observers calibrated on training batches, converted to int8 kernels.
- ``dynamic``: dynamic int8 for Linear / LSTM / GRU (weights int8, activations quantized on
  the fly); everything else stays float.
- ``both``: static for the convolutional part, dynamic for recurrent and linear layers.
- ``none``: the float32 model as it would deploy: batch norm folded into the conv before
  it, and conv/linear fused with the ReLU after them.

Flow: torch.ao FX graph mode (``prepare_fx`` / ``convert_fx``).  It traces the user's model,
so a builder needs no QuantStub / DeQuantStub and no hand-written fusion list, and it
yields real int8 modules with packed weights, which the cost functions measure.  Eager mode
would need stubs inside every user model; the PT2E flow (torchao) yields a reference graph
of quantize/dequantize ops around float ops whose packed size and kernels only appear after
Inductor lowering.  torch 2.13 marks FX mode deprecated: the choice lives in this one module.
"""

from __future__ import annotations

import copy
import warnings
from typing import Iterable

import torch
from torch import fx, nn

from sparsemod.config import QUANT_SCHEMES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.ao.quantization import (
        QConfigMapping,
        default_dynamic_qconfig,
        get_default_qconfig_mapping,
    )
    from torch.ao.quantization.quantize_fx import convert_fx, fuse_fx, prepare_fx

DYNAMIC_TYPES = (nn.Linear, nn.LSTM, nn.GRU)
_ENGINE = "x86"


def _qconfig_mapping(model: nn.Module, scheme: str) -> QConfigMapping:
    mapping = get_default_qconfig_mapping(_ENGINE) if scheme in ("post", "both") else QConfigMapping()
    if scheme == "post":
        return mapping
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
    """A quantized copy of ``model`` (eval mode); ``model`` itself is left untouched.

    ``calibration`` yields input batches for the static observers (``post`` / ``both``).
    """
    if scheme not in QUANT_SCHEMES:
        raise ValueError(f"quant_scheme: expected one of {'|'.join(QUANT_SCHEMES)}, got {scheme!r}")
    float_model = _functional_flatten(copy.deepcopy(model).eval())
    if scheme == "none":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fuse_fx(float_model).eval()
    torch.backends.quantized.engine = _ENGINE
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # FX-mode deprecation notices, once per call
        prepared = prepare_fx(float_model, _qconfig_mapping(float_model, scheme), (example_input,))
        if scheme in ("post", "both"):
            for batch in calibration:
                prepared(batch)
        return convert_fx(prepared).eval()
