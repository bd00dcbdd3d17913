"""Multi-objective early stopping: MO-ASHA (Schmucker et al., "Multi-objective Asynchronous
Successive Halving", 2021), the multi-objective form of ASHA's stopping rule (Li et al.,
"A System for Massively Parallel Hyperparameter Tuning", MLSys 2020).

Rungs lie at geometric epochs r_k = g · η^k (g = ``grace_epochs``, η = ``reduction_factor``,
k = 0, 1, ...), those below a trial's own epoch budget (its last epoch needs no decision).
When a trial reports at a rung, its vector (error at that epoch, the active costs) joins the
rung's records, and the trial goes on only if it ranks among the best ⌈n/η⌉ of the n
vectors recorded there so far (itself included, so the first trial at a rung always goes on;
ASHA's asynchronous rule, which never waits for a rung to fill).

Rank (MO-ASHA's non-dominated sorting with ε-net selection): fronts first (front 0 is the
Pareto set of the rung, front 1 that of the rest, ...); within a front, the ε-net order
MO-ASHA uses: the lowest error first, then repeatedly the point farthest (Euclidean, each
objective divided by the front's range) from those already ranked.  It spreads the few
survivors along the front.  NSGA-II's crowding distance, the usual alternative, cannot tell
apart the points of a small front (every one of them is an extreme of some objective, so
all get ∞), and small rungs are the usual case.

``keep_front`` (``early_stopping = moasha_front``) never stops a trial on its rung's Pareto
front: the rule then stops only trials that some trial at the same epoch beats on every
objective, and keeps the best ⌈n/η⌉ when the front is smaller.  With one objective the
front is the best trial alone, so this is ASHA again; with several, a small front-line
network with a high early error is not stopped for it, whereas plain MO-ASHA, while a rung
holds no more than η trials, keeps only the lowest error (the ε-net starts there).

Trials are judged in ``brackets``: only against trials of the same bracket (sparsemod puts
morph children, which start from their parent's weights, in their own), each trial at the
rungs of its own epoch budget.  The rule holds no process, thread or Ax state: the search
calls :meth:`MOASHA.on_report` for the reports of its worker process and of its Ray trials
alike, and a Ray Tune ``TrialScheduler`` can wrap the same object.
"""

from __future__ import annotations

import math

import numpy as np

from sparsemod.front.pareto import pareto_mask
from sparsemod.trial.job import Report


def epsnet_order(values: np.ndarray) -> list[int]:
    """ε-net order of the rows of ``values`` (n x m, one front, column 0 the error): the
    lowest error first, then each time the row whose distance to the nearest row already
    taken is largest (ties: the smaller index)."""
    span = values.max(axis=0) - values.min(axis=0)
    scaled = (values - values.min(axis=0)) / np.where(span > 0, span, 1.0)
    order = [int(np.argmin(values[:, 0]))]
    nearest = np.linalg.norm(scaled - scaled[order[0]], axis=1)
    nearest[order[0]] = -math.inf
    while len(order) < len(values):
        pick = int(np.argmax(nearest))
        order.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[pick], axis=1))
        nearest[order] = -math.inf
    return order


def promotion_order(values: np.ndarray) -> list[int]:
    """Row indices of ``values`` (n x m, minimised, column 0 the error), best first: by
    non-dominated front, within a front in ε-net order."""
    values = np.asarray(values, dtype=float)
    remaining = np.arange(len(values))
    order: list[int] = []
    while len(remaining):
        front = remaining[pareto_mask(values[remaining])]
        if not len(front):  # NaN rows (no error measured) rank last, in report order
            return order + [int(i) for i in remaining]
        order += [int(front[i]) for i in epsnet_order(values[front])]
        remaining = np.setdiff1d(remaining, front)
    return order


class MOASHA:
    """The stopping rule: ``on_report`` says whether a trial goes on after an epoch."""

    def __init__(self, grace_epochs: int, reduction_factor: int, objectives: tuple[str, ...],
                 keep_front: bool = False):
        """``objectives``: the error first, then the active costs (names in a report's
        metrics); ``keep_front``: never stop a trial on its rung's Pareto front."""
        if grace_epochs < 1 or reduction_factor < 2:
            raise ValueError("grace_epochs must be >= 1 and reduction_factor >= 2")
        self.grace_epochs, self.reduction_factor = grace_epochs, reduction_factor
        self.objectives = tuple(objectives)
        self.keep_front = keep_front
        # bracket -> rung epoch -> trial -> objective vector, in the order first recorded
        self.records: dict[str, dict[int, dict[int, tuple[float, ...]]]] = {}

    def rungs(self, max_epochs: int) -> list[int]:
        """The rung epochs of a trial trained ``max_epochs`` epochs."""
        rungs, epoch = [], self.grace_epochs
        while epoch < max_epochs:
            rungs.append(epoch)
            epoch *= self.reduction_factor
        return rungs

    def record(self, report: Report) -> bool:
        """Add ``report`` to its rung (a trial reporting again replaces its vector, so a
        re-run trial is not counted twice); False when ``report.epoch`` is no rung."""
        if report.epoch not in self.rungs(report.max_epochs):
            return False
        rung = self.records.setdefault(report.bracket, {}).setdefault(report.epoch, {})
        rung[report.trial] = tuple(float(report.metrics[name]) for name in self.objectives)
        return True

    def on_report(self, report: Report) -> bool:
        """True: train on; False: stop the trial now (it ranks below the rung's top ⌈n/η⌉)."""
        if not self.record(report):
            return True
        rung = self.records[report.bracket][report.epoch]
        trials = list(rung)
        values = np.array([rung[t] for t in trials])
        keep = math.ceil(len(trials) / self.reduction_factor)
        if self.keep_front:
            keep = max(keep, int(pareto_mask(values).sum()))
        best = promotion_order(values)[:keep]
        return trials.index(report.trial) in best
