"""A morphism round (SpArSe's third phase): children of Pareto parents, chosen by the GP.

K candidates are drawn (a random Pareto parent, one or two random operators applied to its
parameters, a function-preserving one first three times in four: they keep what the
parent learned, plain moves mostly explore); those within the budget are scored jointly by
the acquisition function (:mod:`sparsemod.optimizer.acquisition`; not by the original
tool's "smallest norm of the predicted means") and the best ``count`` become Ax trials,
trained from their parent's weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from sparsemod.morphisms.operators import Morphism
from sparsemod.space import Choice, Fixed, Float, Int, Parameter

PRESERVING_FIRST = 0.75
BATCHES = 8  # draws of children at most to find enough that ``keep`` (the budget's bounds) admits


@dataclass(frozen=True)
class Candidate:
    parent: str  # the parent's arm
    params: dict
    operators: tuple[str, ...]


def in_space(params: dict, space: Sequence[Parameter]) -> bool:
    for p in space:
        if p.name not in params:
            return False
        value = params[p.name]
        if isinstance(p, (Int, Float)) and not p.low <= value <= p.high:
            return False
        if isinstance(p, Choice) and value not in p.values:
            return False
        if isinstance(p, Fixed) and value != p.value:
            return False
    return True


def draw_candidates(parents: dict[str, dict], morphisms: Sequence[Morphism], space: Sequence[Parameter],
                    count: int, seen: list[dict], rng: random.Random) -> list[Candidate]:
    """Up to ``count`` distinct children in the search space, new to the experiment."""
    found: list[Candidate] = []
    for _ in range(count * 20):
        if len(found) == count or not parents:
            break
        arm = rng.choice(sorted(parents))
        params = dict(parents[arm])
        applied: list[str] = []
        preserving = [m for m in morphisms if m.preserves]
        first = rng.choice(preserving if preserving and rng.random() < PRESERVING_FIRST else list(morphisms))
        chain = [first] + ([rng.choice(list(morphisms))] if rng.random() < 0.5 else [])
        for morphism in chain:
            child = morphism(params)
            if child is not None:
                params, applied = child, applied + [morphism.name]
        if applied and in_space(params, space) and params not in seen \
                and all(c.params != params for c in found):
            found.append(Candidate(arm, params, tuple(applied)))
    return found


def draw_kept(parents: dict[str, dict], morphisms: Sequence[Morphism], space: Sequence[Parameter],
              count: int, seen: list[dict], rng: random.Random, keep: Callable[[dict], bool]) -> list[Candidate]:
    """Up to ``count`` children that ``keep`` admits, drawn in batches: at a tight budget most
    children of a parent at its edge are over it, and one draw of ``count`` may keep none."""
    kept: list[Candidate] = []
    drawn: list[dict] = []
    for _ in range(BATCHES):
        batch = draw_candidates(parents, morphisms, space, count - len(kept), seen + drawn, rng)
        drawn += [child.params for child in batch]
        kept += [child for child in batch if keep(child.params)]
        if len(kept) >= count or not batch:
            break
    return kept
