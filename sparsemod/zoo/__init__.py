"""MorphNet model zoo: standard architectures, shrunk by MorphNet and rebuilt smaller.

    python -m sparsemod.zoo --model resnet20 --algorithm gamma --target flops --hardware V100
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sparsemod.morphnet import apply_structure
from sparsemod.zoo.models import MODELS, build

INPUT_SIDE = 32


def from_structure(model_name: str, structure: str | Path | dict, num_classes: int = 10,
                   in_channels: int = 3, gates: bool = False) -> nn.Module:
    """The base architecture shrunk to a learned structure ({layer: alive outputs}), or the
    ``after`` part of a learned-structure JSON written by the zoo command."""
    if not isinstance(structure, dict):
        import json

        structure = dict(json.loads(Path(structure).read_text()))
    structure = structure.get("after", structure)
    model = build(model_name, num_classes, in_channels, gates).eval()
    return apply_structure(model, torch.zeros(1, in_channels, INPUT_SIDE, INPUT_SIDE), structure)


__all__ = ["MODELS", "build", "from_structure"]
