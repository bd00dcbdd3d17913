"""Static int8 by PyTorch 2 Export quantization (torchao's PT2E): the search's own int8
network and the one each microcontroller runtime's converter takes.

``torch.export`` traces the float model (batch dimension dynamic for the search, batch 1
for a converter), dropout of the eval-mode graph is removed (an identity), a conv's
``padding="same"`` is written out as zeros a side, a quantizer annotates which tensors
become int8, observers see the calibration batches, and ``convert_pt2e`` leaves quantize /
dequantize pairs around float ops, which the search lowers to int8 modules
(:mod:`sparsemod.quantize.int8`) and a converter to its kernels.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch import fx, nn

if TYPE_CHECKING:
    from torchao.quantization.pt2e.quantizer import Quantizer

aten = torch.ops.aten
_IDENTITIES = {aten.dropout.default, aten.clone.default, aten.contiguous.default, aten.alias.default}
# a conv with padding="same" / "valid" exports as these overloads
_STRING_PADDING: dict[Any, Any] = {aten.conv1d.padding: aten.conv1d.default, aten.conv2d.padding: aten.conv2d.default}


def export(model: nn.Module, example: torch.Tensor, batch: bool) -> fx.GraphModule:
    """The ATen graph of ``model`` in eval mode, without its identities."""
    shapes = ({0: torch.export.Dim("batch", min=1, max=1 << 16)},) if batch else None
    # export specialises a dimension of size 1: two images keep the batch dimension symbolic
    example = example[:1].expand(2, *example.shape[1:]).contiguous() if batch else example[:1]
    graph_module = torch.export.export(copy.deepcopy(model).eval(), (example,), dynamic_shapes=shapes).module()
    for node in list(graph_module.graph.nodes):
        if node.target in _IDENTITIES:
            node.replace_all_uses_with(node.args[0])
            graph_module.graph.erase_node(node)
        elif node.target in _STRING_PADDING:
            _explicit_padding(node)
    graph_module.recompile()
    return graph_module


def _explicit_padding(conv: fx.Node) -> None:
    """``padding="same"`` / ``"valid"`` as the equal number of zeros on each side, so the conv
    is the overload the quantizer and the cost functions know.  PyTorch's "same" pads
    dilation · (kernel − 1) in all, the odd one on the right: an even total is symmetric, an
    odd one (an even kernel) is not and stays as it is (float, between int8 tensors)."""
    weight = conv.args[1]
    if not isinstance(weight, fx.Node) or "val" not in weight.meta:
        return
    kernel = tuple(weight.meta["val"].shape[2:])
    source, weight, bias, stride, padding, dilation, groups = list(conv.args) + [None, 1, "valid", 1, 1][len(conv.args) - 2:]
    stride, dilation = per_dim(stride, 1, len(kernel)), per_dim(dilation, 1, len(kernel))
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)] if padding == "same" else [0] * len(kernel)
    if any(total % 2 for total in totals):
        return
    conv.target = _STRING_PADDING[conv.target]
    conv.args = (source, weight, bias, list(stride), [total // 2 for total in totals], list(dilation), groups)


def per_dim(values: Any, default: int, dims: int) -> tuple[int, ...]:
    """A conv or pool argument (None, one int, or one per spatial dimension) per dimension."""
    values = default if values is None else values
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    return tuple(int(v) for v in (values * dims if len(values) == 1 else values))


def quantize(model: nn.Module, quantizer: Quantizer, calibration: Iterable[torch.Tensor],
             example: torch.Tensor, fold_quantize: bool = True, batch: bool = False) -> fx.GraphModule:
    """A PT2E int8 copy of ``model``; ``calibration`` yields input batches of any size
    (split into single images when ``batch`` is off: the export is then batch 1)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(export(model, example, batch), quantizer)
    with torch.no_grad():
        for images in calibration:
            for sample in ([images] if batch else images.split(1)):
                prepared(sample)
    quantized = convert_pt2e(prepared, fold_quantize=fold_quantize)
    # The graph was exported from the eval-mode model, so its batch norms are the inference
    # op and its dropouts are gone: torchao's move_exported_model_to_eval would change nothing
    # and re-exports its four pattern graphs on every call (its CPU seconds: docs/benchmarks.md,
    # overhead table 4). An exported module refuses .eval(); the flag tells the converters.
    quantized.training = False
    return quantized
