"""Network morphisms as moves on a search space's parameters (Wei et al. 2016; SpArSe).

An example exposes ``MORPHISMS``, a list of these operators over its own parameters; each
maps a parent's parameters to a child's (or None where it does not apply, e.g. at a
bound).  The child network is built by the example's builder and inherits the parent's
weights (:func:`sparsemod.morphisms.inherit.inherit`).  Function-preserving operators give
child(x) == parent(x) before any training:

- ``deepen``: one more layer, initialised to the identity (conv: a Dirac kernel; batch norm:
  γ = 1, β = 0, unit statistics; linear: the identity matrix);
- ``widen``: more channels / units, Net2Wider: new units replicate existing ones and the
  layers reading them split the outgoing weights among the copies;
- ``enlarge``: a larger kernel, the old one zero-padded in its centre;
- ``add_skip``: a skip path whose layers (named ``*skip*``) start at zero.

``step`` and ``switch`` are the original tool's parameter moves (± layers, filters, kernel,
pooling, layer type …): the child copies the weights where shapes overlap, and is not
function-preserving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Params = dict[str, Any]


@dataclass(frozen=True)
class Morphism:
    name: str
    preserves: bool  # child(x) == parent(x) before training
    move: Callable[[Params], Params | None]

    def __call__(self, params: Params) -> Params | None:
        child = self.move(dict(params))
        return None if child is None or child == params else child


def deepen(param: str, high: int, minimum: int = 0) -> Morphism:
    """``param`` + 1 (a count of layers), while it stays <= high and was >= minimum (a first
    dense layer changes the width, so it cannot be an identity)."""
    return Morphism(f"deepen {param}", True,
                    lambda p: {**p, param: p[param] + 1} if minimum <= p[param] < high else None)


def widen(param: str, factor: float, high: int) -> Morphism:
    """``param`` x factor (a width), capped at high."""
    def move(p: Params) -> Params | None:
        wider = min(high, max(p[param] + 1, round(p[param] * factor)))
        return {**p, param: wider} if wider > p[param] else None
    return Morphism(f"widen {param}", True, move)


def enlarge(param: str, sizes: tuple[int, ...]) -> Morphism:
    """The next larger kernel size of ``sizes``."""
    def move(p: Params) -> Params | None:
        larger = [s for s in sizes if s > p[param]]
        return {**p, param: min(larger)} if larger else None
    return Morphism(f"enlarge {param}", True, move)


def add_skip(param: str) -> Morphism:
    """Turn a boolean skip-connection parameter on."""
    return Morphism(f"add {param}", True, lambda p: {**p, param: True} if not p[param] else None)


def step(param: str, delta: float, low: float, high: float) -> Morphism:
    """``param`` + delta within [low, high] (not function-preserving)."""
    def move(p: Params) -> Params | None:
        value = p[param] + delta
        value = type(p[param])(value) if isinstance(p[param], int) else value
        return {**p, param: value} if low <= value <= high else None
    return Morphism(f"{param} {delta:+g}", False, move)


def switch(param: str, values: tuple) -> Morphism:
    """``param`` to the next of ``values`` (not function-preserving)."""
    def move(p: Params) -> Params | None:
        index = values.index(p[param]) if p[param] in values else -1
        return {**p, param: values[(index + 1) % len(values)]}
    return Morphism(f"switch {param}", False, move)
