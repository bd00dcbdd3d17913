"""Parameters ↔ points of the unit cube, for Sobol draws and for the GP.

Two maps, both per parameter of the space (``Fixed`` ones take no coordinate):

- :meth:`Encoding.from_unit`: a Sobol point ``u ∈ [0, 1)^k`` (one coordinate a parameter) to
  parameters: ranges linearly or on a log scale, integers by equal-width bins, choices by
  ``floor(u · n)``;
- :meth:`Encoding.encode`: parameters to the GP's inputs: ranges and ordered choices to one
  coordinate in [0, 1] (log-scaled where the range is), unordered choices one-hot (as Ax
  encodes them), so that distance means what the parameter means.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from sparsemod.space import Choice, Fixed, Float, Int, Parameter


def _ordered(parameter: Choice) -> bool:
    if parameter.ordered is not None:
        return parameter.ordered
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parameter.values)


class Encoding:
    def __init__(self, space: Sequence[Parameter]):
        self.space = list(space)
        self.free = [p for p in self.space if not isinstance(p, Fixed)]
        self.width = sum(len(p.values) if isinstance(p, Choice) and not _ordered(p) else 1 for p in self.free)

    def from_unit(self, u: Sequence[float]) -> dict:
        params: dict = {}
        coordinates = iter(u)
        for p in self.space:
            if isinstance(p, Fixed):
                params[p.name] = p.value
                continue
            x = min(max(float(next(coordinates)), 0.0), 1.0 - 1e-12)
            if isinstance(p, Choice):
                params[p.name] = p.values[int(x * len(p.values))]
            elif isinstance(p, Int):
                if p.log:  # equal widths on the log scale, each integer's own share
                    low, high = math.log(p.low - 0.5 + 1e-9), math.log(p.high + 0.5)
                    params[p.name] = min(max(round(math.exp(low + x * (high - low))), p.low), p.high)
                else:
                    params[p.name] = p.low + int(x * (p.high - p.low + 1))
            else:
                assert isinstance(p, Float)
                if p.log:
                    params[p.name] = math.exp(math.log(p.low) + x * (math.log(p.high) - math.log(p.low)))
                else:
                    params[p.name] = p.low + x * (p.high - p.low)
        return params

    def encode(self, params: dict) -> list[float]:
        row: list[float] = []
        for p in self.free:
            value = params[p.name]
            if isinstance(p, Choice):
                position = list(p.values).index(value)
                if _ordered(p):
                    row.append(position / max(len(p.values) - 1, 1))
                else:
                    row.extend(1.0 if i == position else 0.0 for i in range(len(p.values)))
            elif p.log:
                row.append((math.log(value) - math.log(p.low)) / max(math.log(p.high) - math.log(p.low), 1e-12))
            else:
                row.append((value - p.low) / max(p.high - p.low, 1e-12))
        return row

    def encode_all(self, rows: Sequence[dict]) -> torch.Tensor:
        return torch.tensor([self.encode(r) for r in rows], dtype=torch.double).reshape(len(rows), self.width)


def key(params: dict) -> tuple:
    """A hashable identity of a parameter set (floats rounded as Ax stores them)."""
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


class SobolStream:
    """A scrambled Sobol sequence over the space, seeded, that continues where it stopped."""

    def __init__(self, encoding: Encoding, seed: int):
        self.encoding = encoding
        self.engine = torch.quasirandom.SobolEngine(max(len(encoding.free), 1), scramble=True, seed=seed)
        self.drawn = 0

    def draw(self, count: int) -> list[dict]:
        self.drawn += count
        return [self.encoding.from_unit(u.tolist()) for u in self.engine.draw(count, dtype=torch.double)]
