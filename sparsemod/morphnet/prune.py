"""Physical pruning: a new, smaller ``nn.Module`` without the dead channels.

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
from torch import nn

from sparsemod.morphnet.gates import LogisticSigmoidGate
from sparsemod.morphnet.groups import ChannelGraph, build_dependency_graph
from sparsemod.morphnet.regularizer import ResourceRegularizer


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


def prune(model: nn.Module, regularizer: ResourceRegularizer, example_input: torch.Tensor) -> nn.Module:
    """A pruned copy of ``model``: every channel the regularizer finds dead is removed."""
    dead = {}
    for group, entry in zip(regularizer.graph.groups, regularizer.group_vectors()):
        if entry is not None:
            dead[group.root] = torch.nonzero(~entry[1]).flatten().tolist()
    return _remove(copy.deepcopy(model).eval(), example_input, dead)


def once(model: nn.Module, example_input: torch.Tensor, algorithm: str = "gamma",
         target: str = "flops", threshold: float = 1e-2) -> nn.Module:
    """One-shot shrink of a trained model: prune what is already below ``threshold``."""
    return prune(model, ResourceRegularizer(model, example_input, algorithm, target, threshold),
                 example_input)


def apply_structure(model: nn.Module, example_input: torch.Tensor,
                    structure: dict[str, int] | str | Path) -> nn.Module:
    """Shrink a freshly built ``model`` (in place) to a learned structure {layer: alive
    outputs}, keeping each group's first channels; then load the pruned weights into it."""
    if not isinstance(structure, dict):
        structure = json.loads(Path(structure).read_text())
    graph = ChannelGraph(model, example_input)
    dead = {}
    for group in graph.groups:
        if group.root in structure:
            dead[group.root] = list(range(int(structure[group.root]), group.size))
    return _remove(model, example_input, dead)
