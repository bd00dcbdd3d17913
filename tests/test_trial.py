from pathlib import Path

import pytest
import torch

from sparsemod.costs import Device, model_size, working_memory
from sparsemod.data import load_digits
from sparsemod.problem import Problem, load_problem
from sparsemod.quantize import quantize
from sparsemod.trial import TrialConfig, TrialJob, run_trial

PARAMS = dict(blocks=2, layers=1, filters=8, growth=1.5, kernel=3, conv_type="separable",
              downsample="max", fc_layers=1, fc_width=16, dropout=0.1, lr=0.01, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    return load_digits(0)


def trial_config(scheme: str) -> TrialConfig:
    return TrialConfig(scheme, 4, Device(1e9, 1e8), 1, False)


@pytest.mark.parametrize("scheme", ["post", "dynamic", "both", "none"])
def test_trial_measures_the_deployed_model(digits, scheme):
    result = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 2, 0), load_problem("cnn"), digits,
                       trial_config(scheme))
    assert result.status == "completed", result.reason
    assert 0 <= result.metrics["error"] < 0.6  # learnt something in 2 epochs
    assert result.extras["flops"] > 0 and result.metrics["latency"] > 0
    assert result.extras["measured_latency"] > 0


def test_int8_costs_are_smaller_than_float(digits):
    problem = load_problem("cnn")
    post = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 1, 0), problem, digits, trial_config("post"))
    none = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 1, 0), problem, digits, trial_config("none"))
    assert post.metrics["model_size"] < none.metrics["model_size"] / 2.5
    assert post.metrics["working_memory"] * 4 == none.metrics["working_memory"]
    # the weights the trial returns rebuild the network it measured
    model = problem.build(PARAMS, (1, 8, 8), 10)
    model.load_state_dict(none.state_dict)
    example = torch.zeros(1, 1, 8, 8)
    deployed = quantize(model, "none", [], example)
    assert model_size(deployed) == none.metrics["model_size"] < model_size(model)  # BN folded
    assert working_memory(deployed, example) == none.metrics["working_memory"]


def test_impossible_architecture_fails_before_training(digits):
    params = dict(PARAMS, blocks=3, downsample="max", kernel=3)
    tiny = digits
    tiny.input_shape = (1, 4, 4)  # 4x4 -> 2 -> 1 -> cannot pool again
    result = run_trial(TrialJob(1, "1_0", "sobol", params, 1, 0), load_problem("cnn"), tiny,
                       trial_config("post"))
    tiny.input_shape = (1, 8, 8)
    assert result.status == "failed"
    assert result.reason.startswith("shape check: RuntimeError: the network cannot run on input (1, 4, 4)")
    assert result.train_seconds == 0 and result.state_dict is None


def test_diverging_training_is_a_failed_trial(digits):
    result = run_trial(TrialJob(2, "2_0", "gp", dict(PARAMS, lr=1e12), 1, 0), load_problem("cnn"),
                       digits, trial_config("post"))
    assert result.status == "failed" and result.reason.startswith("train:")


class BranchesOnValues(torch.nn.Module):
    """Runs eagerly, but torch.fx cannot trace ``if`` on a tensor's value."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        if x.sum() > 0:
            x = x * 2
        return self.fc(x)


def test_untraceable_network_fails_in_the_shape_check_before_training(digits):
    problem = Problem(Path("branches.py"), [], lambda params, shape, classes: BranchesOnValues(),
                      lambda *args: digits, None)
    result = run_trial(TrialJob(3, "3_0", "sobol", {"lr": 0.01}, 1, 0), problem, digits,
                       trial_config("post"))
    assert result.status == "failed"
    assert result.reason.startswith("shape check: RuntimeError: the network cannot be traced by torch.fx")
    assert "TraceError" in result.reason
    assert result.train_seconds == 0 and result.state_dict is None
