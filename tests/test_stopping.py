"""MO-ASHA on hand-made learning curves: who goes on at each rung."""

from __future__ import annotations

import numpy as np

from sparsemod.search.stopping import MOASHA, epsnet_order, promotion_order
from sparsemod.trial.job import Report

OBJECTIVES = ("error", "model_size")


def report(trial: int, epoch: int, error: float, size: float, max_epochs: int = 8,
           bracket: str = "scratch") -> Report:
    return Report(trial, epoch, max_epochs, {"error": error, "model_size": size}, bracket)


def test_rungs_are_geometric_below_the_budget():
    assert MOASHA(1, 2, OBJECTIVES).rungs(8) == [1, 2, 4]
    assert MOASHA(2, 3, OBJECTIVES).rungs(20) == [2, 6, 18]
    assert MOASHA(2, 3, OBJECTIVES).rungs(18) == [2, 6]  # the last epoch needs no decision
    assert MOASHA(4, 3, OBJECTIVES).rungs(4) == []


def test_epsnet_order_by_hand():
    # one front; scaled by its ranges (error 0.1-0.4, size 90-400):
    # a (0, 1), b (1/3, 290/310), c (5/6, 10/310), d (1, 0)
    values = np.array([[0.1, 400], [0.2, 380], [0.35, 100], [0.4, 90]])
    # a: lowest error.  Farthest from a: d (sqrt 2).  Nearest taken point: b 0.34 (a),
    # c 0.17 (d): b, then c.
    assert epsnet_order(values) == [0, 3, 1, 2]


def test_promotion_order_fronts_then_epsnet():
    values = np.array([[0.6, 200], [0.5, 100], [0.4, 300], [0.45, 150], [0.7, 250]])
    # fronts: {1, 2, 3}, then {0}, then {4} (dominated by 0).  In front 0 (scaled: 1 (1, 0),
    # 2 (0, 1), 3 (0.5, 0.25)): 2 lowest error; 1 at sqrt 2 from it beats 3 at 0.90.
    assert promotion_order(values) == [2, 1, 3, 0, 4]
    assert promotion_order(np.array([[np.nan, 1.0], [0.5, 2.0]])) == [1, 0]  # no error: last


def test_who_goes_on_at_each_rung():
    rule = MOASHA(grace_epochs=1, reduction_factor=2, objectives=OBJECTIVES)
    # rung 1 (keep ceil(n / 2) of the n vectors recorded there)
    assert rule.on_report(report(0, 1, 0.5, 100))        # n=1: the first always goes on
    assert not rule.on_report(report(1, 1, 0.6, 200))    # n=2, keep 1: dominated by 0
    assert rule.on_report(report(2, 1, 0.4, 300))        # n=3, keep 2: front {0, 2}
    # n=4, keep 2: front {0, 2, 3} scaled 0 (1, 0), 2 (0, 1), 3 (0.5, 0.25): 2, then 0 (sqrt 2 away)
    assert not rule.on_report(report(3, 1, 0.45, 150))
    # n=5, keep 3: front {0, 2, 3, 4}; 2 (lowest error), then 4 (the far corner, sqrt 2 away)
    assert rule.on_report(report(4, 1, 0.9, 10))
    # epoch 3 is no rung: nothing recorded, never stopped
    assert rule.on_report(report(0, 3, 0.99, 100))
    assert 3 not in rule.records["scratch"]
    # rung 2: the survivors 0, 2, 4 meet again
    assert rule.on_report(report(2, 2, 0.3, 300))
    assert not rule.on_report(report(0, 2, 0.35, 300 + 1))  # n=2, keep 1: dominated by 2
    assert rule.on_report(report(4, 2, 0.8, 10))          # n=3, keep 2: front {2, 4}


def test_single_objective_is_asha():
    rule = MOASHA(1, 3, ("error",))
    decisions = [rule.on_report(Report(t, 1, 9, {"error": e})) for t, e in enumerate([0.5, 0.6, 0.4, 0.7, 0.3])]
    # keep ceil(n/3): n=1 keep 1 (0.5 best); n=2 keep 1 (0.6 not); n=3 keep 1 (0.4 best);
    # n=4 keep 2 (0.7 worst); n=5 keep 2 (0.3 best)
    assert decisions == [True, False, True, False, True]


def test_brackets_and_budgets_are_judged_apart():
    rule = MOASHA(1, 2, OBJECTIVES)
    assert rule.on_report(report(0, 1, 0.1, 10))
    # a morph child with a worse vector is the first of its own bracket: it goes on
    assert rule.on_report(report(1, 1, 0.9, 900, max_epochs=4, bracket="morph"))
    assert not rule.on_report(report(2, 1, 0.95, 950, max_epochs=4, bracket="morph"))
    # a trial of 1 epoch has no rung: it is never recorded nor stopped
    assert rule.on_report(report(3, 1, 0.99, 999, max_epochs=1))
    assert set(rule.records["scratch"][1]) == {0}


def test_a_rerun_trial_replaces_its_own_record():
    rule = MOASHA(1, 2, OBJECTIVES)
    assert rule.on_report(report(0, 1, 0.5, 100))
    assert rule.on_report(report(0, 1, 0.5, 100))  # the same trial again: still n=1
    assert rule.records["scratch"][1] == {0: (0.5, 100.0)}


def test_keep_front_never_stops_a_trial_on_its_rungs_front():
    plain, front = MOASHA(1, 3, OBJECTIVES), MOASHA(1, 3, OBJECTIVES, keep_front=True)
    curves = [(0, 0.5, 100), (1, 0.9, 10), (2, 0.6, 200), (3, 0.4, 900)]
    decisions = {rule: [rule.on_report(report(t, 1, e, s)) for t, e, s in curves] for rule in (plain, front)}
    # plain, keep ceil(n/3) = 1 while n <= 3: 1 (front {0, 1}, not the lowest error) stops;
    # 2 is dominated by 0; n=4 keeps 2: front {0, 1, 3}, epsnet: 3 (lowest error) first
    assert decisions[plain] == [True, False, False, True]
    # keep_front: 1 is on the front {0, 1}; 2 is dominated by 0 and stops all the same
    assert decisions[front] == [True, True, False, True]
