"""MorphNet's resource-weighted regularizer (Gordon et al. 2018, Eq. 2-3).

For each conv / linear op, with alive channel counts A and summed regularization vectors R
over its input and output, the cost and the term are those of
:mod:`~sparsemod.morphnet.targets`; for ``flops`` and ``size`` (coefficient c):

    cost            = Σ_ops c · A_in · A_out          (depthwise: c · A_out)
    regularization  = Σ_ops c · (A_in · R_out + A_out · R_in)   (depthwise: c · (R_in + R_out))

Channels no regularizer covers (the image's, the classes', those of a depthwise conv that
reads the image) count as alive with R = 0.

The ``memory`` target is SpArSe's per-layer working memory over the conv / linear ops,
max over ops of the input + output activation bytes, H_in·W_in·A_in + H_out·W_out·A_out;
its regularizer is that term with R in place of A on the op(s) at the peak.  It differs
from the ``working_memory`` objective (liveness over the deployed graph): a tensor kept for
a later residual add or concatenation, and pooling / add buffers, are not in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sparsemod.costs.latency import Device
from sparsemod.costs.profile import DeviceProfile
from sparsemod.morphnet.groups import ChannelGraph, Op
from sparsemod.morphnet.sources import ALGORITHMS, group_vector
from sparsemod.morphnet.targets import BYTES_PER_ELEMENT, TARGETS, op_cost, op_term


@dataclass
class _Side:
    """Where one side (input or output channels) of an op lives: per group, root indices."""

    by_group: dict[int, torch.Tensor]
    fixed: int  # channels in no group: always alive, no regularizer


def _side(channel_map: list) -> _Side:
    by_group: dict[int, list[int]] = {}
    fixed = 0
    for channel in channel_map:
        if channel is None:
            fixed += 1
        else:
            by_group.setdefault(channel[0], []).append(channel[1])
    return _Side({g: torch.as_tensor(r) for g, r in by_group.items()}, fixed)


class ResourceRegularizer:
    """``loss = task_loss + strength * reg.regularization_term()`` in any training loop."""

    def __init__(self, model: nn.Module, example_input: torch.Tensor, algorithm: str = "gamma",
                 target: str = "flops", threshold: float = 1e-2, l1_fraction: float = 0.0,
                 device: Device | DeviceProfile | None = None):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {'|'.join(ALGORITHMS)}, got {algorithm!r}")
        if target not in TARGETS:
            raise ValueError(f"target: expected one of {'|'.join(TARGETS)}, got {target!r}")
        self.model, self.algorithm, self.target = model, algorithm, target
        self.threshold, self.l1_fraction = threshold, l1_fraction
        self.graph = ChannelGraph(model, example_input)
        self.modules = dict(model.named_modules())
        self.ops: list[Op] = self.graph.ops
        self.sides = [(_side(op.in_map), _side(op.out_map)) for op in self.ops]
        if target == "latency" and device is None:
            raise ValueError("the latency target needs a device (flops, bandwidth)")
        self.device = device

    def group_vectors(self) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """(regularization vector, alive mask) per channel group, None if unregularized."""
        return [group_vector(group, self.modules, self.algorithm, self.threshold, self.l1_fraction)
                for group in self.graph.groups]

    def _counts(self, side: _Side, vectors) -> tuple[float, torch.Tensor]:
        """(alive count A, summed regularization R) of one side of an op."""
        alive, total = float(side.fixed), torch.zeros(())
        for index, roots in side.by_group.items():
            entry = vectors[index]
            if entry is None:
                alive += len(roots)
            else:
                vector, mask = entry
                alive += float(mask[roots].sum())
                total = total + vector[roots].sum()
        return alive, total

    def _terms(self, ops: list[str] | None) -> list[tuple[Op, tuple[float, torch.Tensor, float, torch.Tensor]]]:
        """(op, (A_in, R_in, A_out, R_out)) for the named ops (all when None)."""
        unknown = sorted(set(ops or ()) - {op.name for op in self.ops})
        if unknown:
            raise ValueError(f"ops: expected conv / linear layer names among {', '.join(op.name for op in self.ops)}, "
                             f"got {', '.join(unknown)}")
        vectors = self.group_vectors()
        return [(op, (*self._counts(inp, vectors), *self._counts(out, vectors)))
                for op, (inp, out) in zip(self.ops, self.sides) if ops is None or op.name in ops]

    def regularization_term(self, ops: list[str] | None = None) -> torch.Tensor:
        """The differentiable term, summed over ``ops`` (layer names; all when None)."""
        terms = self._terms(ops)
        if self.target == "memory":
            peak = max(self._activation(op, a_in, a_out) for op, (a_in, _, a_out, _) in terms)
            return sum((BYTES_PER_ELEMENT * (op.in_area * r_in + op.out_area * r_out)
                        for op, (a_in, r_in, a_out, r_out) in terms
                        if self._activation(op, a_in, a_out) == peak), torch.zeros(()))
        return sum((op_term(op, self.target, a_in, r_in, a_out, r_out, self.device)
                    for op, (a_in, r_in, a_out, r_out) in terms), torch.zeros(()))

    @staticmethod
    def _activation(op: Op, a_in: float, a_out: float) -> float:
        return BYTES_PER_ELEMENT * (op.in_area * a_in + op.out_area * a_out)

    def cost(self, ops: list[str] | None = None) -> float:
        """The target's cost with the currently alive channels, over ``ops`` (all when None)."""
        terms = self._terms(ops)
        if self.target == "memory":
            return max(self._activation(op, a_in, a_out) for op, (a_in, _, a_out, _) in terms)
        return sum(op_cost(op, self.target, a_in, a_out, self.device) for op, (a_in, _, a_out, _) in terms)

    def strength(self, multiplier: float) -> float:
        """morph-net's advice: a strength scaled by the initial cost (multiplier / cost)."""
        return multiplier / max(self.cost(), 1e-12)

    def alive(self) -> dict[str, torch.Tensor]:
        """Per op, the boolean mask of its alive output channels."""
        vectors = self.group_vectors()
        masks = {}
        for op in self.ops:
            mask = torch.ones(op.out_channels, dtype=torch.bool)
            for channel, entry in enumerate(op.out_map):
                found = vectors[entry[0]] if entry is not None else None
                if entry is not None and found is not None:
                    mask[channel] = bool(found[1][entry[1]])
            masks[op.name] = mask
        return masks

    def alive_counts(self) -> dict[str, int]:
        return {name: int(mask.sum()) for name, mask in self.alive().items()}

    def export(self, path: str | Path) -> dict[str, int]:
        """Write {layer: alive output channels} (morph-net's StructureExporter) and return it."""
        counts = self.alive_counts()
        Path(path).write_text(json.dumps(counts, indent=2))
        return counts
