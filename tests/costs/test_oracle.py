"""Costs before training: the oracle's exact costs equal what the trained trial measures
(pruning off), and its cheap bounds never exceed them."""

from __future__ import annotations

import pytest

from sparsemod.config import Constraint
from sparsemod.costs import model_size, resolve_device
from sparsemod.costs.oracle import CostOracle
from sparsemod.data import DataBundle
from sparsemod.optimizer.encoding import Encoding, SobolStream
from sparsemod.problem import load_problem
from sparsemod.quantize import quantize
from sparsemod.trial.checks import check_runs
from sparsemod.trial.job import TrialConfig, TrialJob
from sparsemod.trial.run import run_trial

DEVICE = resolve_device("", 1e9, None)


def trial_config(scheme: str, budget: tuple[Constraint, ...] = ()) -> TrialConfig:
    return TrialConfig(scheme, 1, DEVICE, 1, False, budget=budget)


@pytest.mark.parametrize("example, dataset, scheme", [
    ("cnn", "digits", "post"), ("mcu", "digits", "post"), ("sequence", "synthetic", "dynamic"),
])
def test_exact_costs_before_training_equal_the_trained_trials(example, dataset, scheme):
    """Three Sobol points of each space, trained one epoch: the trial's measured model size,
    working memory, modelled latency and TFLM arena are the oracle's, computed before any
    training."""
    problem = load_problem(example)
    data = problem.load_data(dataset, None, 0)
    oracle = CostOracle(problem, data, scheme, DEVICE)
    compared = 0
    for index, params in enumerate(SobolStream(Encoding(problem.space), 0).draw(6)):
        verdict = oracle.exact(params)
        if verdict.costs is None:
            continue
        result = run_trial(TrialJob(index, f"{index}_0", "sobol", params, 1, index), problem, data,
                           trial_config(scheme))
        assert result.status == "completed", result.reason
        for metric in ("model_size", "working_memory", "latency", "arena"):
            assert verdict.costs[metric] == pytest.approx(result.metrics[metric], rel=1e-9), metric
        compared += 1
        if compared == 3:
            break
    assert compared == 3


def test_bounds_never_exceed_the_exact_costs():
    """Over 40 Sobol points of the microcontroller space on 28x28 inputs: int8 weight bytes
    and the largest layer's input + output are lower bounds of the measured costs."""
    problem = load_problem("mcu")
    data = DataBundle([], [], [], (1, 28, 28), 10)
    oracle = CostOracle(problem, data, "post", DEVICE)
    checked = 0
    for params in SobolStream(Encoding(problem.space), 1).draw(40):
        bounds = oracle.bounds(params)
        model = problem.build(params, (1, 28, 28), 10)
        example = check_runs(model, (1, 28, 28))
        deployed = quantize(model, "post", [example], example)
        # independent of the oracle: the size function on the converted net, weights counted by hand
        assert bounds.model_size == sum(m.weight.numel() for m in model.modules()
                                        if hasattr(m, "weight") and m.weight is not None and m.weight.dim() > 1)
        assert bounds.model_size <= model_size(deployed)
        exact = oracle.exact(params).costs
        assert bounds.working_memory <= exact["working_memory"] <= exact["arena"]
        checked += 1
    assert checked == 40


@pytest.mark.parametrize("metric", ["model_size", "arena"])
def test_the_worker_refuses_a_network_over_budget_before_training(metric):
    problem = load_problem("cnn")
    data = problem.load_data("digits", None, 0)
    params = SobolStream(Encoding(problem.space), 0).draw(1)[0]
    size = CostOracle(problem, data, "post", DEVICE).exact(params).costs[metric]
    job = TrialJob(0, "0_0", "gp", params, 3, 0)
    refused = run_trial(job, problem, data, trial_config("post", (Constraint(metric, "<=", size - 1),)))
    assert refused.status == "failed" and refused.epochs_trained == 0
    assert refused.reason.startswith(f"budget: ValueError: over budget before training ({metric}")
    fits = run_trial(job, problem, data, trial_config("post", (Constraint(metric, "<=", size),)))
    assert fits.status == "completed" and fits.metrics[metric] == size
