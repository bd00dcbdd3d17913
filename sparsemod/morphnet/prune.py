"""Physical pruning: a new, smaller ``nn.Module`` without the dead channels.

A dead channel is not zero: in the *masked* network (every dead channel's regularization
source set to zero: batch-norm γ, conv / linear weight rows; a closed gate already is) it
carries a constant, e.g. act(β) after a batch norm, which the next layer reads.  Before
removing it, its contribution is folded into the bias of each conv / linear layer reading
it (MorphNet's pruned network should compute what the trained, masked one did):

    linear:  b_o += Σ_{dead i} W_{o,i} · x_i
    conv:    b_o += Σ_{dead k} x_k · Σ_{u,v} W_{o,k,u,v}

with x the reader's input in the masked network (one batch-1 run; constant per dead
channel).  A reader without a bias whose output goes straight into a batch norm takes the
shift in that batch norm's running mean instead (μ -= shift), so the state_dict keeps its
keys and ``apply_structure`` still rebuilds it.  This is exact for linear layers and
unpadded convs, through ReLU / ReLU6, pooling, residual adds and concatenations; at the
border of a zero-padded conv the padding reads zeros where the fold assumes the constant,
so only the interior is exact.

Torch-Pruning removes each group's dead root channels from every coupled layer (the conv,
its batch norm, the readers, the other side of an add or a concatenation).  Groups are
fetched afresh from the dependency graph before each removal, so index maps through
concatenations stay right after earlier removals.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import fx, nn

from sparsemod.morphnet.gates import LogisticSigmoidGate
from sparsemod.morphnet.groups import ChannelGraph, Op, build_dependency_graph
from sparsemod.morphnet.regularizer import ResourceRegularizer
from sparsemod.morphnet.sources import BATCH_NORMS, member_vector


def _remove(model: nn.Module, example_input: torch.Tensor, dead_by_root: dict[str, list[int]]) -> nn.Module:
    graph = build_dependency_graph(model, example_input)
    modules = dict(model.named_modules())
    for root, dead in dead_by_root.items():
        if not dead:
            continue
        module = modules[root]
        group = graph.get_pruning_group(module, graph.get_pruner_of_module(module).prune_out_channels, dead)
        group.prune()
    return _without_gates(model)


def _without_gates(model: nn.Module) -> nn.Module:
    """A gate left with only open channels is the identity at inference: it is replaced by
    one (nothing left to quantize or store).  A gate in a group that could not be pruned
    keeps its closed channels and stays."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LogisticSigmoidGate) and bool((module.logits > 0).all()):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, nn.Identity())
    return model


def _zero_dead_sources(model: nn.Module, regularizer: ResourceRegularizer, vectors: list) -> None:
    """Make ``model`` the masked network: each dead channel's regularization source is zero."""
    modules = dict(model.named_modules())
    for group, entry in zip(regularizer.graph.groups, vectors):
        if entry is None:
            continue
        alive = entry[1]
        for member in group.members:
            module = modules[member.module]
            if member.side != "out" or isinstance(module, LogisticSigmoidGate) or \
                    member_vector(module, regularizer.algorithm, regularizer.l1_fraction) is None:
                continue
            dead = [idx for idx, root in zip(member.idxs, member.root_idxs) if not alive[root]]
            with torch.no_grad():
                module.weight[dead] = 0


def _dead_inputs(op: Op, vectors: list) -> list[int]:
    """Input channels of ``op`` that belong to dead group channels."""
    return [i for i, channel in enumerate(op.in_map)
            if channel is not None and vectors[channel[0]] is not None and not vectors[channel[0]][1][channel[1]]]


def _fold_dead_inputs(model: nn.Module, regularizer: ResourceRegularizer, vectors: list,
                      example_input: torch.Tensor) -> None:
    """Add what each reader receives from dead channels (masked network) to its bias."""
    modules = dict(model.named_modules())
    readers = {op.name: dead for op in regularizer.graph.ops
               if not op.depthwise and op.groups == 1 and (dead := _dead_inputs(op, vectors))}
    inputs: dict[str, torch.Tensor] = {}
    hooks = [modules[name].register_forward_pre_hook(
        lambda module, args, name=name: inputs.setdefault(name, args[0].detach()))
        for name in readers]
    try:
        with torch.no_grad():
            model(example_input[:1])
    finally:
        for hook in hooks:
            hook.remove()
    following = _batch_norm_after(model)
    for name, dead in readers.items():
        module, x = modules[name], inputs[name][0]
        with torch.no_grad():
            if isinstance(module, nn.Linear):
                shift = module.weight[:, dead] @ x[..., dead].reshape(-1, len(dead)).mean(0)
            else:
                constants = x[dead].flatten(1).mean(1)  # one value per dead channel
                shift = module.weight[:, dead].flatten(2).sum(2) @ constants
            if module.bias is not None:
                module.bias += shift
            elif name in following:
                following[name].running_mean -= shift  # type: ignore[operator]  # a batch norm's buffer


def _batch_norm_after(model: nn.Module) -> dict[str, nn.Module]:
    """{layer: the batch norm that alone reads its output}."""
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    found = {}
    for node in traced.graph.nodes:
        users = list(node.users)
        if node.op == "call_module" and len(users) == 1 and users[0].op == "call_module" and \
                isinstance(modules[users[0].target], BATCH_NORMS):
            found[str(node.target)] = modules[users[0].target]
    return found


def prune(model: nn.Module, regularizer: ResourceRegularizer, example_input: torch.Tensor) -> nn.Module:
    """A pruned copy of ``model``: every channel the regularizer finds dead is removed, its
    constant output folded into the layers that read it (see the module docstring)."""
    vectors = regularizer.group_vectors()
    dead = {}
    for group, entry in zip(regularizer.graph.groups, vectors):
        if entry is not None:
            dead[group.root] = torch.nonzero(~entry[1]).flatten().tolist()
    masked = copy.deepcopy(model).eval()
    _zero_dead_sources(masked, regularizer, vectors)
    _fold_dead_inputs(masked, regularizer, vectors, example_input)
    return _remove(masked, example_input, dead)


def once(model: nn.Module, example_input: torch.Tensor, algorithm: str = "gamma",
         target: str = "flops", threshold: float = 1e-2) -> nn.Module:
    """One-shot shrink of a trained model: prune what is already below ``threshold``."""
    return prune(model, ResourceRegularizer(model, example_input, algorithm, target, threshold),
                 example_input)


def apply_structure(model: nn.Module, example_input: torch.Tensor,
                    structure: dict[str, int] | str | Path) -> nn.Module:
    """Shrink a freshly built ``model`` (in place) to a learned structure {layer: alive
    outputs}, keeping each group's first channels; then load the pruned weights into it."""
    counts: dict[str, int] = structure if isinstance(structure, dict) else json.loads(Path(structure).read_text())
    graph = ChannelGraph(model, example_input)
    dead = {}
    for group in graph.groups:
        if group.root in counts:
            dead[group.root] = list(range(int(counts[group.root]), group.size))
    return _remove(model, example_input, dead)
