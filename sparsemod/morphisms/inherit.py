"""Weight inheritance from a parent network into a child the builder made from morphed
parameters.

1. Layers (conv, linear, batch norm) of both networks are listed in execution order and
   aligned (longest common subsequence of layer kinds: type, stride, depthwise, skip path;
   ties go to pairs whose widths agree, compared on the parent as its parameters build it,
   because MorphNet-pruned widths say nothing about which child layer is which).
   Unmatched child layers are *inserted* ones.
2. Every child channel gets a *label*: the parent channel it stands for.  A matched layer's
   first channels are the parent's; extra ones replicate random parent channels (Net2Wider);
   an inserted layer's output channel i carries its input channel i's label.
3. Weights are copied by label: a matched layer takes the parent row of each output label
   and, per input label, the parent column divided by how many copies of it the child has
   (so copies of a widened unit split its outgoing weights); larger kernels are zero-padded
   in the centre.  Inserted layers become identities (Dirac conv, identity matrix, unit
   batch norm); inserted layers on a skip path (module name containing "skip") become zero.

For deepen / widen / enlarge / add_skip children this preserves the function exactly; for
other moves it copies what overlaps and leaves the rest at its fresh initialisation.
"""

from __future__ import annotations

import random
from collections import defaultdict

import torch
from torch import fx, nn

from sparsemod.morphnet.groups import ChannelGraph, Op

CONVS = (nn.Conv1d, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
LAYERS = (*CONVS, nn.Linear)
PARAMETRIC = (*LAYERS, *NORMS)


def _ordered_layers(model: nn.Module, example_input: torch.Tensor) -> tuple[list[str], dict[str, tuple]]:
    """Parametric layers in execution order, and the spatial size each one reads."""
    modules = dict(model.named_modules())
    names: list[str] = []
    for node in fx.symbolic_trace(model).graph.nodes:
        if node.op == "call_module" and isinstance(modules[node.target], PARAMETRIC) \
                and node.target not in names:
            names.append(str(node.target))
    sizes: dict[str, tuple] = {}

    def record(name: str):
        def hook(module, inputs, output) -> None:
            sizes.setdefault(name, tuple(inputs[0].shape[2:]))
        return hook

    hooks = [modules[n].register_forward_hook(record(n)) for n in names]
    try:
        with torch.no_grad():
            model.eval()(example_input[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return names, sizes


def _kind(name: str, module: nn.Module, size: tuple) -> tuple:
    """What must agree for two layers to be the same layer: type, the resolution it works
    at (pooling between layers stays put), stride, depthwise or not, skip path or not."""
    if isinstance(module, CONVS):
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        return type(module), size, module.stride, depthwise, "skip" in name
    return type(module), size, "skip" in name


def _shape(module: nn.Module) -> tuple[int, int]:
    if isinstance(module, CONVS):
        return module.in_channels, module.out_channels
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    assert isinstance(module, NORMS), f"not a PARAMETRIC layer: {type(module).__name__}"
    return module.num_features, module.num_features


def layer_widths(model: nn.Module) -> dict[str, tuple[int, int]]:
    """(inputs, outputs) of every conv, linear and batch-norm layer, by module name."""
    return {name: _shape(module) for name, module in model.named_modules() if isinstance(module, PARAMETRIC)}


def _align(shapes_p: list[tuple[int, int]], shapes_c: list[tuple[int, int]], kinds_p: list[tuple],
           kinds_c: list[tuple]) -> dict[int, int]:
    """child index -> parent index: the order-keeping matching of layers of one kind with the
    most pairs, ties going to pairs whose widths agree (so a deepened block keeps its old
    layers matched and the new one inserted)."""
    def gain(i: int, j: int) -> int:
        if kinds_p[i] != kinds_c[j]:
            return -1
        same_in, same_out = (a == b for a, b in zip(shapes_p[i], shapes_c[j]))
        return 4 + same_in + same_out

    n, m = len(shapes_p), len(shapes_c)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = [best[i + 1][j], best[i][j + 1]]
            if gain(i, j) > 0:
                options.append(best[i + 1][j + 1] + gain(i, j))
            best[i][j] = max(options)
    pairs, i, j = {}, 0, 0
    while i < n and j < m:
        if gain(i, j) > 0 and best[i][j] == best[i + 1][j + 1] + gain(i, j):
            pairs[j] = i
            i, j = i + 1, j + 1
        elif best[i][j] == best[i][j + 1]:
            j += 1
        else:
            i += 1
    return pairs


def _resize_kernel(weight: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Centre a parent kernel in a child kernel of another size (zero-pad or crop)."""
    out = torch.zeros(weight.shape[:2] + shape[2:], dtype=weight.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for old, new in zip(weight.shape[2:], shape[2:]):
        if new >= old:
            start = (new - old) // 2
            src.append(slice(None))
            dst.append(slice(start, start + old))
        else:
            start = (old - new) // 2
            src.append(slice(start, start + new))
            dst.append(slice(None))
    out[tuple(dst)] = weight[tuple(src)]
    return out


def inherit(parent: nn.Module, child: nn.Module, example_input: torch.Tensor, seed: int = 0,
            parent_widths: dict[str, tuple[int, int]] | None = None) -> None:
    """Fill ``child``'s weights from ``parent`` (see the module docstring); in place.

    ``parent_widths``: for a pruned parent, :func:`layer_widths` of the parent as its
    parameters build it, before pruning (layers are matched on these).
    """
    parent_modules, child_modules = dict(parent.named_modules()), dict(child.named_modules())
    widths = {**layer_widths(parent), **(parent_widths or {})}
    (parent_names, parent_sizes), (child_names, child_sizes) = (
        _ordered_layers(parent, example_input), _ordered_layers(child, example_input))
    pairs = _align([widths[n] for n in parent_names], [_shape(child_modules[n]) for n in child_names],
                   [_kind(n, parent_modules[n], parent_sizes[n]) for n in parent_names],
                   [_kind(n, child_modules[n], child_sizes[n]) for n in child_names])
    match = {child_names[j]: parent_names[i] for j, i in pairs.items()}
    parent_graph, child_graph = ChannelGraph(parent, example_input), ChannelGraph(child, example_input)
    parent_ops = {op.name: op for op in parent_graph.ops}
    rng = random.Random(seed)

    label: dict = {}  # child (group, root) -> parent (group, root) or a fixed channel key

    def child_in(op: Op, i: int):
        channel = op.in_map[i]
        return ("input", i) if channel is None else label.get(channel, ("new", channel))

    def child_out(op: Op, o: int):
        channel = op.out_map[o]
        return ("output", o) if channel is None else label[channel]

    for op in child_graph.ops:  # execution order: inputs are labelled before outputs
        source = parent_ops.get(match.get(op.name, ""))
        for o, channel in enumerate(op.out_map):
            if channel is None or channel in label:
                continue
            if source is not None:
                p = o if o < source.out_channels else rng.randrange(source.out_channels)
                label[channel] = source.out_map[p] if source.out_map[p] is not None else ("output", p)
            else:  # an inserted (identity) layer passes its input's labels on
                label[channel] = child_in(op, o) if o < op.in_channels else ("new", channel)

    with torch.no_grad():
        for op in child_graph.ops:
            module = child_modules[op.name]
            source = parent_ops.get(match.get(op.name, ""))
            if source is None:
                _initialise_inserted(op.name, module)
                continue
            _copy_layer(module, parent_modules[source.name], op, source, child_out, child_in)
        _copy_norms(parent_graph, child_graph, parent_modules, child_modules, match, label)


def _copy_layer(module: nn.Module, parent: nn.Module, op: Op, source: Op, child_out, child_in) -> None:
    rows = defaultdict(list)
    for o, channel in enumerate(source.out_map):
        rows[channel if channel is not None else ("output", o)].append(o)
    cols = defaultdict(list)
    for i, channel in enumerate(source.in_map):
        cols[channel if channel is not None else ("input", i)].append(i)
    assert isinstance(module, LAYERS) and isinstance(parent, LAYERS), "an Op is a conv or linear layer"
    weight = parent.weight
    if isinstance(module, CONVS):
        weight = _resize_kernel(weight, module.weight.shape)
    new = module.weight.data
    child_cols = defaultdict(list)
    if not op.depthwise:
        for i in range(op.in_channels):
            child_cols[child_in(op, i)].append(i)
    for o in range(op.out_channels):
        parent_rows = rows.get(child_out(op, o))
        if not parent_rows:
            continue
        p = parent_rows[0]
        if module.bias is not None and parent.bias is not None:
            module.bias.data[o] = parent.bias[p]
        if op.depthwise:
            new[o] = weight[p]
            continue
        new[o] = 0
        for key, children in child_cols.items():
            parents = cols.get(key, [])
            scale = len(parents) / len(children) if len(children) > len(parents) else 1.0
            for k, i in enumerate(children):
                if parents:
                    new[o, i] = weight[p, parents[k % len(parents)]] * scale


def _initialise_inserted(name: str, module: nn.Module) -> None:
    assert isinstance(module, PARAMETRIC), "inherit matches only PARAMETRIC layers"
    if "skip" in name:  # a new skip path starts at zero: the sum is unchanged
        module.weight.data.zero_()
        if module.bias is not None:
            module.bias.data.zero_()
        return
    if isinstance(module, CONVS) and (module.in_channels // module.groups) * module.groups == module.out_channels \
            and (module.groups == module.out_channels or module.in_channels == module.out_channels):
        nn.init.dirac_(module.weight.data, groups=module.groups)
    elif isinstance(module, nn.Linear) and module.in_features == module.out_features:
        nn.init.eye_(module.weight.data)
    else:
        return  # not an identity shape: stays freshly initialised
    if module.bias is not None:
        module.bias.data.zero_()


def _copy_norms(parent_graph: ChannelGraph, child_graph: ChannelGraph, parent_modules: dict,
                child_modules: dict, match: dict, label: dict) -> None:
    parent_index: defaultdict[str | None, dict] = defaultdict(dict)  # parent norm name -> label -> channel
    for group_index, group in enumerate(parent_graph.groups):
        for member in group.members:
            if isinstance(parent_modules[member.module], NORMS):
                for idx, root in zip(member.idxs, member.root_idxs):
                    parent_index[member.module][(group_index, root)] = idx
    for group_index, group in enumerate(child_graph.groups):
        for member in group.members:
            norm = child_modules[member.module]
            if not isinstance(norm, NORMS):
                continue
            assert norm.running_mean is not None and norm.running_var is not None, "batch norms that track running statistics"
            source = match.get(member.module)
            for idx, root in zip(member.idxs, member.root_idxs):
                parent_channel = parent_index.get(source, {}).get(label.get((group_index, root)))
                if source is None or parent_channel is None:
                    identity = "skip" not in member.module
                    norm.weight.data[idx] = 1.0 if identity else 0.0
                    norm.bias.data[idx] = 0.0
                    norm.running_mean[idx] = 0.0
                    norm.running_var[idx] = 1.0 - norm.eps
                    continue
                parent = parent_modules[source]
                norm.weight.data[idx] = parent.weight[parent_channel]
                norm.bias.data[idx] = parent.bias[parent_channel]
                norm.running_mean[idx] = parent.running_mean[parent_channel]
                norm.running_var[idx] = parent.running_var[parent_channel]
