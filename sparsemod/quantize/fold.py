"""``quant_scheme = none``: the float32 network as it deploys.

Batch norm folded into the conv before it (its scale and shift become the conv's weight
and bias) and a conv / linear fused with the ReLU after it into one op (a
``nn.Sequential`` of the two: one kernel, one output buffer), as every runtime does.
"""

from __future__ import annotations

import copy

from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONVS = (nn.Conv1d, nn.Conv2d)
_FUSED = (nn.Conv1d, nn.Conv2d, nn.Linear)


def _only_user_module(node: fx.Node, modules: dict[str, nn.Module], kinds: tuple) -> fx.Node | None:
    users = list(node.users)
    if len(users) == 1 and users[0].op == "call_module" and isinstance(modules[str(users[0].target)], kinds):
        return users[0]
    return None


def fold(model: nn.Module) -> fx.GraphModule:
    """An eval-mode copy of ``model`` with batch norm folded and ReLUs fused."""
    traced = fx.symbolic_trace(copy.deepcopy(model).eval())
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), _FUSED):
            continue
        layer = modules[node.target]
        if isinstance(layer, _CONVS) and (norm := _only_user_module(node, modules, (nn.BatchNorm1d, nn.BatchNorm2d))):
            layer = fuse_conv_bn_eval(layer, modules[norm.target])
            norm.replace_all_uses_with(node)
            traced.graph.erase_node(norm)
        if relu := _only_user_module(node, modules, (nn.ReLU,)):
            layer = nn.Sequential(layer, nn.ReLU())
            relu.replace_all_uses_with(node)
            traced.graph.erase_node(relu)
        traced.add_submodule(str(node.target), layer)
    traced.graph.lint()
    traced.delete_all_unused_submodules()
    traced.recompile()
    return traced.eval()
