"""The proposer under a kilobyte budget: every GP round and morph round gets the trials it asks
for while feasible candidates remain, and each one fits by an independent measurement."""

from __future__ import annotations

import math
import random

import torch

from sparsemod.config import Constraint
from sparsemod.costs import model_size, resolve_device, working_memory
from sparsemod.costs.oracle import CostOracle
from sparsemod.data import DataBundle
from sparsemod.morphisms.round import Candidate
from sparsemod.optimizer.proposer import Observed, Proposer
from sparsemod.problem import load_problem
from sparsemod.quantize import quantize
from sparsemod.trial.checks import check_runs

# ~1 % of examples/mcu.py's space fits on 28x28 inputs (a 784 B input leaves 240 B beside it)
BUDGET = (Constraint("working_memory", "<=", 1024), Constraint("model_size", "<=", 768))


def fits(problem, params: dict) -> bool:
    """Measured as a trial would deploy it, without the oracle."""
    torch.manual_seed(0)
    model = problem.build(dict(params), (1, 28, 28), 10)
    example = check_runs(model, (1, 28, 28))
    deployed = quantize(model, "post", [example], example)
    return model_size(deployed) <= 768 and working_memory(deployed, example) <= 1024


def test_every_gp_round_under_a_tight_budget_gets_its_trials():
    problem = load_problem("mcu")
    oracle = CostOracle(problem, DataBundle([], [], [], (1, 28, 28), 10), "post", resolve_device("", 1e9, None),
                        budget=BUDGET)
    proposer = Proposer(oracle, ("error",), BUDGET, seed=1)
    rng = random.Random(0)
    start = proposer.start(4)
    observed = Observed(list(start), [rng.uniform(0.05, 0.5) for _ in start])
    for round_ in range(5):
        picked = proposer.gp(2, observed, observed.params)
        assert len(picked) == 2, (round_, proposer.summary())
        for params in picked:
            assert params not in observed.params and fits(problem, params)
            observed.params.append(params)
            observed.error.append(rng.uniform(0.05, 0.5))


def test_morph_children_are_taken_best_first_by_the_acquisition_function():
    """Children that differ only in the learning rate, after trials whose error falls with it:
    whatever order they were drawn in, the one with the highest rate comes first (draw order,
    or the ranking reversed, would put another first)."""
    problem = load_problem("mcu")
    oracle = CostOracle(problem, DataBundle([], [], [], (1, 28, 28), 10), "post", resolve_device("", 1e9, None))
    proposer = Proposer(oracle, ("error",), (), seed=1)
    observed = Observed(proposer.start(12), [])
    for params in observed.params:  # error falls from 0.6 to 0.1 with log(lr), by hand
        observed.error.append(0.6 - 0.5 * math.log(params["lr"] / 0.003) / math.log(10))
    base = dict(observed.params[0])
    rates = [0.004, 0.029, 0.008, 0.015]
    children = [Candidate("0_0", {**base, "lr": rate}, ("lr",)) for rate in rates]
    for drawn in (children, children[::-1]):
        [best] = proposer.morph(drawn, 1, observed)
        assert best.params["lr"] == 0.029
        first, second = proposer.morph(drawn, 2, observed)
        assert first.params["lr"] == 0.029 and second.params["lr"] != 0.004


def test_the_start_trains_its_cheapest_points_first_across_rounds():
    """Asked in rounds of 2 (a batch), the start's 6 points come cheapest first by FLOPs as
    torch's own counter counts them, and they are the points a start asked at once holds."""
    from torch.utils.flop_counter import FlopCounterMode

    problem = load_problem("mcu")

    def proposer() -> Proposer:
        oracle = CostOracle(problem, DataBundle([], [], [], (1, 28, 28), 10), "post",
                            resolve_device("", 1e9, None))
        return Proposer(oracle, ("error", "model_size"), (), seed=3)

    def flops(params: dict) -> int:
        torch.manual_seed(0)
        model = problem.build(dict(params), (1, 28, 28), 10).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
        return counter.get_total_flops()

    rounds = proposer()
    asked: list[dict] = []
    for _ in range(3):
        asked += rounds.start(2, tried=asked, total=6)
    assert sorted(map(str, asked)) == sorted(map(str, proposer().start(6)))
    counted = [flops(p) for p in asked]
    assert counted == sorted(counted) and counted[0] < counted[-1]


def test_the_objective_thresholds_are_the_tightest_upper_bounds_on_each_cost_objective():
    """Ax's reading of a constraint on an objective: its threshold; latency's pool proxy is the
    FLOPs, so a bound in seconds is not one."""
    budget = (Constraint("model_size", "<=", 5000), Constraint("model_size", "<=", 4000),
              Constraint("working_memory", "<=", 100), Constraint("latency", "<=", 1.0),
              Constraint("arena", "<=", 9000))
    oracle = CostOracle(load_problem("mcu"), DataBundle([], [], [], (1, 28, 28), 10), "post",
                        resolve_device("", 1e9, None), budget=budget)
    proposer = Proposer(oracle, ("error", "model_size", "latency"), budget, seed=0)
    assert proposer.thresholds() == [4000, None]


def test_within_a_loose_budget_the_acquisition_ranks_just_the_trials_wanted(monkeypatch):
    """Every candidate of examples/mcu.py fits 1 MB: the first ranking's picks are admitted, so
    ranking four per wanted trial (a greedy batch of 8 instead of 2) is waste."""
    import sparsemod.optimizer.proposer as module

    loose = (Constraint("model_size", "<=", 1 << 20),)
    oracle = CostOracle(load_problem("mcu"), DataBundle([], [], [], (1, 28, 28), 10), "post",
                        resolve_device("", 1e9, None), budget=loose)
    proposer = Proposer(oracle, ("error", "model_size"), loose, seed=0)
    rng = random.Random(0)
    observed = Observed(proposer.start(6), [])
    observed.error = [rng.uniform(0.05, 0.5) for _ in observed.params]
    asked = []
    real = module.pick
    monkeypatch.setattr(module, "pick", lambda *args: asked.append(args[3]) or real(*args))
    assert len(proposer.gp(2, observed, observed.params)) == 2
    assert asked == [2]
