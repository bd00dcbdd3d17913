"""The proposer under a kilobyte budget: every GP round and morph round gets the trials it asks
for while feasible candidates remain, and each one fits by an independent measurement."""

from __future__ import annotations

import random

import torch

from sparsemod.config import Constraint
from sparsemod.costs import model_size, resolve_device, working_memory
from sparsemod.costs.oracle import CostOracle
from sparsemod.data import DataBundle
from sparsemod.optimizer.proposer import Observed, Proposer
from sparsemod.problem import load_problem
from sparsemod.quantize import quantize
from sparsemod.trial import check_runs

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
