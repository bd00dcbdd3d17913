"""Where every candidate of a search comes from, and why none trains over budget.

Each phase of SpArSe's search (Fedorov et al. 2019, Sec. 3.3) proposes candidates, which pass
the same gate before Ax sees them (DESIGN.md, "propose a pool"):

1. lower bounds of the costs (:meth:`CostOracle.bounds`, a few ms): a candidate whose bound
   breaks a budget is over it for sure, and is dropped;
2. the survivors are ranked (Sobol order in the start; the acquisition function in the GP
   and morph rounds, :mod:`~sparsemod.optimizer.acquisition`, with the bounds as the cost
   objectives: ~10 ms a candidate against ~0.4 s for a conversion, docs/benchmarks.md's
   overhead table 4, and ordered like the exact costs);
3. in rank order, the exact pre-training costs (the trial's own conversion, cached by
   structure) admit the first ones that fit.

So a trained network never breaks a cost constraint, and the counts of what was drawn and
rejected are kept per phase (the progress lines and time.txt show them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from sparsemod.config import Constraint
from sparsemod.costs.oracle import Bounds, CostOracle
from sparsemod.errors import InfeasibleSpace
from sparsemod.morphisms.round import Candidate
from sparsemod.optimizer.acquisition import PAREGO_FROM_OBJECTIVES, pick
from sparsemod.optimizer.encoding import Encoding, SobolStream, key
from sparsemod.space import Choice, Fixed, Float, Int

START_DRAWS = 4096  # Sobol points tried for a feasible start before the space is called infeasible
POOL_SIZE = 256  # Sobol points within the bounds in the GP rounds' pool (drawn once, bounded once)
POOL_DRAWS = 4096  # Sobol points drawn at most to find them: under a KB budget ~2 % of the space fits
NEIGHBOURS = 32  # moves around the best trials added to each GP round's pool
RANKED_PER_PICK = 4  # after a rejection, the acquisition ranks this many per trial still wanted
RANKINGS = 5  # the first ranking, and rankings of what is left while exact costs reject


@dataclass
class Counts:
    """What one phase's candidates came to."""

    drawn: int = 0
    over_budget: int = 0  # by their bounds or their exact costs
    unbuildable: int = 0  # cannot be built, run or converted: never proposed
    admitted: int = 0
    first_failure: str = ""  # why the first unbuildable one failed

    def line(self) -> str:
        parts = [f"{self.admitted} of {self.drawn} candidates admitted"]
        if self.over_budget:
            parts.append(f"{self.over_budget} over budget")
        if self.unbuildable:
            parts.append(f"{self.unbuildable} unbuildable (first: {self.first_failure})")
        return ", ".join(parts)


@dataclass
class Observed:
    """The trials the GP learns from, and those still running (pending)."""

    params: list[dict] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)


class Proposer:
    def __init__(self, oracle: CostOracle, objectives: Sequence[str], constraints: Sequence[Constraint], seed: int):
        self.oracle, self.objectives, self.seed = oracle, tuple(objectives), seed
        self.constraints = tuple(constraints)
        self.encoding = Encoding(oracle.problem.space)
        self.counts: dict[str, Counts] = {}
        self._bounds: dict[tuple, Bounds | None] = {}
        self._pool: list[dict] | None = None
        self._start: dict[int, list[dict]] = {}  # the start's points, by how many were asked

    @property
    def scores_hypervolume(self) -> bool:
        """The GP and morph rounds are scored by qLogNEHVI (two or three objectives)."""
        costs = [m for m in self.objectives if m != "error"]
        return len(self.objectives) > 1 and 1 + len(costs) < PAREGO_FROM_OBJECTIVES

    def restore_counts(self, phase: str, saved: dict) -> None:
        self.counts[phase] = Counts(**saved)

    def summary(self) -> str:
        """One line: the candidates of each phase (progress lines and time.txt)."""
        return "; ".join(f"{phase}: {counts.line()}" for phase, counts in self.counts.items())

    def bounds(self, params: dict) -> Bounds | None:
        k = key(params)
        if k not in self._bounds:
            self._bounds[k] = self.oracle.bounds(params)
        return self._bounds[k]

    def _passes_bounds(self, params: dict, counts: Counts) -> bool:
        """Within the budget by its bounds; a candidate is counted the first time it is seen."""
        new = key(params) not in self._bounds
        found = self.bounds(params)
        broken = found is None or bool(found.breaks(self.oracle.budget))
        if new:
            counts.drawn += 1
            if found is None:
                counts.unbuildable += 1
                counts.first_failure = counts.first_failure or self.oracle.last_failure
            elif broken:
                counts.over_budget += 1
        return not broken

    def within_bounds(self, params: dict, phase: str) -> bool:
        """Within the budget by its bounds (counted among ``phase``'s candidates once)."""
        return self._passes_bounds(params, self.counts.setdefault(phase, Counts()))

    def _admit(self, params: dict, counts: Counts) -> bool:
        """Exact costs decide (only a budget needs them: without one every buildable fits)."""
        if not self.oracle.budget:
            counts.admitted += 1
            return True
        verdict = self.oracle.exact(params)
        if verdict.costs is None:
            counts.unbuildable += 1
            counts.first_failure = counts.first_failure or verdict.reason
        elif verdict.violations:
            counts.over_budget += 1
        else:
            counts.admitted += 1
        return verdict.fits

    def start(self, count: int, tried: Sequence[dict] = (), total: int | None = None) -> list[dict]:
        """The start's next ``count`` points: of the first ``total`` (default ``count``) Sobol
        points that fit, those not in ``tried``, cheapest first by FLOPs, which training time
        grows with (the same points as in Sobol order, but the first front is in sooner and a
        search cut short holds more of it; a resumed start continues with the same points).
        :class:`InfeasibleSpace` if none of ``START_DRAWS`` fits."""
        points = self._start_points(max(total or count, count), bool(tried))
        done = {key(p) for p in tried}
        untried = [p for p in points if key(p) not in done]
        return sorted(untried, key=lambda p: self._bounds[key(p)].flops)[:count]  # type: ignore[union-attr]

    def _start_points(self, total: int, resumed: bool) -> list[dict]:
        """The first ``total`` Sobol points that fit, in the stream's order (drawn once)."""
        if total in self._start:  # found before the results folder was made: not drawn twice
            return self._start[total]
        counts = self.counts.setdefault("sobol", Counts())
        seen: set[tuple] = set()
        stream = SobolStream(self.encoding, self.seed)
        found: list[dict] = []
        smallest: dict[str, float] = {}
        while len(found) < total and stream.drawn < START_DRAWS:
            for params in stream.draw(min(64, START_DRAWS - stream.drawn)):
                if key(params) in seen:
                    continue
                seen.add(key(params))
                if self._passes_bounds(params, counts) and self._admit(params, counts):
                    found.append(params)
                    if len(found) == total:
                        break
                elif (b := self._bounds.get(key(params))) is not None:
                    for metric in ("model_size", "working_memory"):
                        smallest[metric] = min(smallest.get(metric, float("inf")), getattr(b, metric))
        if not found and not resumed:
            raise InfeasibleSpace(self._nothing_fits(counts, smallest))
        self._start[total] = found
        return found

    def _nothing_fits(self, counts: Counts, smallest: dict[str, float]) -> str:
        if counts.unbuildable == counts.drawn:
            return (f"none of {counts.drawn:,} sampled points of the space could be built and run "
                    f"(first: {counts.first_failure}); check the example's build()")
        budget = ", ".join(str(c) for c in self.oracle.budget)
        hint = ", ".join(f"{m} >= {v:g}" for m, v in smallest.items()
                         if any(c.metric == m for c in self.oracle.budget))
        return (f"0 of {counts.drawn:,} sampled points fit {budget}"
                + (f" (smallest lower bounds seen: {hint})" if hint else "")
                + "; narrow the space or relax the budget")

    def _cost_vectors(self, rows: Sequence[dict]) -> torch.Tensor:
        """The bounds as the cost objectives among ``objectives`` (latency: the FLOPs)."""
        columns = [m for m in self.objectives if m != "error"]
        values = []
        for params in rows:
            b = self.bounds(params)
            proxy = {"model_size": b.model_size, "working_memory": b.working_memory, "latency": b.flops} if b else {}
            values.append([proxy.get(m, 0.0) for m in columns])
        return torch.tensor(values, dtype=torch.double).reshape(len(rows), len(columns))

    def _rank(self, pool: list[dict], observed: Observed, count: int, seed: int) -> list[int]:
        """Positions in ``pool``, best first by the acquisition function."""
        encode = self.encoding.encode_all
        costs = None
        if len(self.objectives) > 1:
            costs = (self._cost_vectors(observed.params), self._cost_vectors(observed.pending), self._cost_vectors(pool))
        positions, _ = pick(encode(observed.params), torch.tensor(observed.error, dtype=torch.double),
                            encode(pool), count, encode(observed.pending) if observed.pending else None,
                            costs, self.constraints, seed, self.thresholds())
        return positions

    def thresholds(self) -> list[float | None]:
        """Per cost objective, its objective threshold (the tightest ``<=`` constraint on it;
        None for latency, whose bound here is the FLOPs, not seconds)."""
        return [min((c.bound for c in self.constraints if c.metric == m and c.op == "<="), default=None)
                if m != "latency" else None for m in self.objectives if m != "error"]

    def _choose(self, pool: list[dict], observed: Observed, count: int, counts: Counts,
                scored: bool = True) -> list[int]:
        """Rank ``pool`` (already within the bounds; ``scored`` False: in the order given) and
        admit the first ``count`` that fit.  The first ranking picks just ``count``: within a loose
        budget they fit, and a greedy batch of q picks costs ~q²/2 acquisition passes over the
        pool.  When exact costs reject some (a tight budget), what is left is ranked again with
        the admitted ones pending, ``RANKED_PER_PICK`` per trial still wanted."""
        chosen: list[int] = []
        rejected: set[int] = set()
        for ranking in range(RANKINGS):
            left = [i for i in range(len(pool)) if i not in rejected and i not in chosen]
            if len(chosen) == count or not left:
                break
            wanted = count - len(chosen)
            ranked = left
            if scored:
                pending = Observed(observed.params, observed.error, observed.pending + [pool[i] for i in chosen])
                top = min(wanted * RANKED_PER_PICK if ranking and self.oracle.budget else wanted, len(left))
                ranked = [left[p] for p in self._rank([pool[i] for i in left], pending, top,
                                                      self.seed + len(observed.params))]
            for position in ranked:
                if self._admit(pool[position], counts):
                    chosen.append(position)
                    if len(chosen) == count:
                        break
                else:
                    rejected.add(position)
        return chosen

    def _neighbours(self, observed: Observed, rng: random.Random) -> list[dict]:
        """One or two parameters of a good trial moved (a step of an integer, another value of
        a choice, a jitter of a real): local refinement the Sobol pool lacks."""
        best = [p for _, p in sorted(zip(observed.error, observed.params), key=lambda t: t[0])][:8]
        moves = []
        free = self.encoding.free
        for _ in range(NEIGHBOURS if best else 0):
            params = dict(rng.choice(best))
            for parameter in rng.sample(free, min(len(free), rng.choice((1, 2)))):
                params[parameter.name] = _move(parameter, params[parameter.name], rng)
            moves.append(params)
        return moves

    def gp(self, count: int, observed: Observed, tried: Sequence[dict]) -> list[dict]:
        counts = self.counts.setdefault("gp", Counts())
        if self._pool is None:
            stream, self._pool = SobolStream(self.encoding, self.seed + 1), []
            while len(self._pool) < POOL_SIZE and stream.drawn < POOL_DRAWS:
                drawn = stream.draw(min(POOL_SIZE, POOL_DRAWS - stream.drawn))
                self._pool += [p for p in drawn if self._passes_bounds(p, counts)][:POOL_SIZE - len(self._pool)]
        rng = random.Random(self.seed * 1_000_003 + len(observed.params))
        seen = {key(p) for p in tried} | {key(p) for p in observed.pending}
        pool, keys = [], set()
        for params in self._pool + self._neighbours(observed, rng):
            k = key(params)
            if k in seen or k in keys:
                continue
            keys.add(k)
            if self._passes_bounds(params, counts):
                pool.append(params)
        return [pool[i] for i in self._choose(pool, observed, count, counts)]

    def morph(self, children: Sequence[Candidate], count: int, observed: Observed,
              scored: bool = True) -> list[Candidate]:
        """The best ``count`` children that fit, best first, scored jointly (each pick pending
        for the next); ``scored`` False: in the order drawn."""
        counts = self.counts.setdefault("morph", Counts())
        kept = [c for c in children if self._passes_bounds(c.params, counts)]
        return [kept[i] for i in self._choose([c.params for c in kept], observed, count, counts, scored)]


def _move(parameter: Int | Float | Choice | Fixed, value, rng: random.Random):
    if isinstance(parameter, Choice):
        others = [v for v in parameter.values if v != value]
        return rng.choice(others) if others else value
    if isinstance(parameter, Int):
        return min(max(value + rng.choice((-1, 1)), parameter.low), parameter.high)
    if isinstance(parameter, Float):
        jitter = (parameter.high - parameter.low) * rng.gauss(0.0, 0.1)
        return min(max(value + jitter, parameter.low), parameter.high)
    return value

