"""Per-channel regularization vectors (morph-net's "op regularizers").

- ``gamma``: |γ| of the batch norm that scales the channel (Liu et al. 2017's slimming, as
  used by MorphNet);
- ``group_lasso``: (1 − λ)·RMS(w_c) + λ·mean|w_c| over the output channel's weights of the
  conv / linear layer that makes it;
- ``gates``: σ(logit) of a :class:`~sparsemod.morphnet.gates.LogisticSigmoidGate` (FiGS).

A group's vector is the element-wise max over its members (morph-net's max grouping), and a
channel is alive when its vector entry passes the threshold (gates: logit > 0) in any member.
"""

from __future__ import annotations

import torch
from torch import nn

from sparsemod.morphnet.gates import LogisticSigmoidGate
from sparsemod.morphnet.groups import OPS, ChannelGroup

ALGORITHMS = ("gamma", "group_lasso", "gates")
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def member_vector(module: nn.Module, algorithm: str, l1_fraction: float) -> torch.Tensor | None:
    """The per-output-channel vector a module contributes, or None if it has none."""
    if algorithm == "gamma" and isinstance(module, BATCH_NORMS) and module.affine:
        return module.weight.abs()
    if algorithm == "group_lasso" and isinstance(module, OPS) and not _depthwise(module):
        weight = module.weight.flatten(1)
        return (1 - l1_fraction) * weight.pow(2).mean(1).sqrt() + l1_fraction * weight.abs().mean(1)
    if algorithm == "gates" and isinstance(module, LogisticSigmoidGate):
        return module.probability()
    return None


def member_alive(module: nn.Module, algorithm: str, vector: torch.Tensor, threshold: float) -> torch.Tensor:
    if algorithm == "gates" and isinstance(module, LogisticSigmoidGate):  # member_vector's gates
        return module.logits.detach() > 0
    return vector.detach() > threshold


def _depthwise(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv1d, nn.Conv2d)) and module.groups > 1


def group_vector(group: ChannelGroup, modules: dict[str, nn.Module], algorithm: str,
                 threshold: float, l1_fraction: float = 0.0) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(regularization vector, alive mask) over the group's root channels; None when such a
    group is never pruned: some layer producing its channels has no regularizer of its own
    (e.g. a residual stream where one branch has no gate), or no conv / linear layer produces
    them (a depthwise conv reading the image: the input's channels cannot be removed, as in
    morph-net, where the input has no regularizer)."""
    vector: torch.Tensor | None = None
    alive: torch.Tensor | None = None
    producers = regularized = 0
    for member in group.members:
        if member.side != "out":
            continue
        module = modules[member.module]
        producers += isinstance(module, OPS) and not _depthwise(module)
        values = member_vector(module, algorithm, l1_fraction)
        if values is None:
            continue
        regularized += 1
        member_mask = member_alive(module, algorithm, values, threshold)
        if vector is None or alive is None:
            vector = torch.zeros(group.size, dtype=values.dtype, device=values.device)
            alive = torch.zeros(group.size, dtype=torch.bool)
        roots = torch.as_tensor(member.root_idxs)
        idxs = torch.as_tensor(member.idxs)
        vector = vector.index_put((roots,), torch.maximum(vector[roots], values[idxs]))
        alive[roots] |= member_mask[idxs].cpu()
    if vector is None or alive is None or producers == 0 or regularized < producers:
        return None
    if not alive.any():  # never remove every channel of a layer
        alive[int(vector.detach().argmax())] = True
    return vector, alive
