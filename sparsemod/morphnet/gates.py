"""FiGS gates (Shin et al. 2020; morph-net's LogisticSigmoid source).

A gate multiplies each channel of its input by a mask.  In training the mask is a hard
threshold of the logit plus logistic noise, with a straight-through gradient through the
relaxed sigmoid; at inference it is ``1[logit > 0]``.  The probability that a channel is on,
σ(logit), is its regularization vector entry.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch_pruning as tp
from torch import nn


class LogisticSigmoidGate(nn.Module):
    """Insert after an activation: ``x * mask`` with one learned logit per channel (dim 1)."""

    def __init__(self, channels: int, temperature: float = 0.5, init_logit: float = 3.0):
        super().__init__()
        self.logits = nn.Parameter(torch.full((channels,), float(init_logit)))
        self.temperature = temperature

    def probability(self) -> torch.Tensor:
        """P(channel on) = σ(logit)."""
        return torch.sigmoid(self.logits)

    def mask(self) -> torch.Tensor:
        if not self.training:
            return (self.logits > 0).to(self.logits.dtype)
        uniform = torch.rand_like(self.logits).clamp(1e-6, 1 - 1e-6)
        noise = torch.log(uniform) - torch.log1p(-uniform)  # logistic(0, 1)
        soft = torch.sigmoid((self.logits + noise) / self.temperature)
        hard = (soft > 0.5).to(soft.dtype)
        return hard + soft - soft.detach()  # straight-through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (x.dim() - 2)
        return x * self.mask().view(shape)


class GatePruner(tp.pruner.function.BasePruningFunc):
    """Tells Torch-Pruning a gate's channels follow its input's (like batch norm)."""

    def prune_out_channels(self, layer: LogisticSigmoidGate, idxs: Sequence[int]) -> nn.Module:
        keep = sorted(set(range(layer.logits.numel())) - set(idxs))
        layer.logits = nn.Parameter(layer.logits.data[keep].clone())
        return layer

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: LogisticSigmoidGate) -> int:
        return layer.logits.numel()

    get_in_channels = get_out_channels
