import itertools
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from sparsemod.costs import Device, model_size, working_memory
from sparsemod.data import DataBundle, load_digits
from sparsemod.problem import Problem, load_problem
from sparsemod.quantize import quantize
from sparsemod.trial.job import TrialConfig, TrialJob, trial_seed
from sparsemod.trial.run import run_trial
from sparsemod.trial.train import loader

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


def hand_accuracy(model: torch.nn.Module, part) -> float:
    """Correct predictions / examples, one example at a time."""
    inputs, labels = part.tensors
    with torch.no_grad():
        predictions = [int(model(x[None]).argmax()) for x in inputs]
    return sum(p == int(y) for p, y in zip(predictions, labels)) / len(labels)


def test_error_is_one_minus_validation_accuracy_of_the_deployed_model(digits):
    # a test split whose labels are all wrong: an error measured on it would be near 1
    shifted = TensorDataset(digits.test.tensors[0], (digits.test.tensors[1] + 1) % 10)
    data = DataBundle(digits.train, digits.val, shifted, digits.input_shape, digits.num_classes)
    job = TrialJob(0, "0_0", "sobol", PARAMS, 2, 7)
    result = run_trial(job, load_problem("cnn"), data, trial_config("post"))
    assert result.status == "completed", result.reason
    model = load_problem("cnn").build(PARAMS, (1, 8, 8), 10)
    model.load_state_dict(result.state_dict)
    model.eval()
    calibration = [x for x, _ in itertools.islice(
        loader(digits.train, PARAMS["batch_size"], shuffle=True, seed=job.seed), 4)]
    deployed = quantize(model, "post", calibration, torch.zeros(1, 1, 8, 8))
    expected = 1 - hand_accuracy(deployed, digits.val)
    assert result.metrics["error"] == pytest.approx(expected, abs=1e-12)
    # the test split's error, which it must not be (distinct, so the check above tells them
    # apart); the float model's is reported beside it (equal here: int8 lost no prediction)
    float_error = 1 - hand_accuracy(model, digits.val)
    test_error = 1 - hand_accuracy(deployed, shifted)
    assert round(expected, 9) != round(test_error, 9)
    assert result.extras["float_error"] == pytest.approx(float_error, abs=1e-12)
    assert result.extras["test_accuracy"] == pytest.approx(1 - test_error, abs=1e-12)


def test_trials_get_distinct_seeds_and_a_seed_reproduces_a_trial(digits):
    seeds = {trial_seed(0, index) for index in range(100)} | {trial_seed(1, index) for index in range(100)}
    assert len(seeds) == 200
    assert trial_seed(3, 5) == trial_seed(3, 5)
    job = TrialJob(4, "4_0", "sobol", PARAMS, 1, trial_seed(0, 4))
    first, again = (run_trial(job, load_problem("cnn"), digits, trial_config("post")) for _ in range(2))
    other = run_trial(TrialJob(4, "4_0", "sobol", PARAMS, 1, trial_seed(0, 5)), load_problem("cnn"),
                      digits, trial_config("post"))
    assert first.metrics == again.metrics and first.extras["float_error"] == again.extras["float_error"]
    assert all(torch.equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    assert not all(torch.equal(first.state_dict[k], other.state_dict[k]) for k in first.state_dict)


class BranchesOnValues(torch.nn.Module):
    """Runs eagerly, but neither torch.export nor torch.fx can trace ``if`` on a tensor's value."""

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
    assert result.reason.startswith("shape check: RuntimeError: the network cannot be traced by torch.export")
    assert "GuardOnDataDependentSymNode" in result.reason
    assert result.train_seconds == 0 and result.state_dict is None


def test_a_trial_reports_after_its_report_epochs_and_stops_when_told(digits):
    reports = []

    def decide(report):
        reports.append(report)
        return report.epoch < 2

    job = TrialJob(3, "3_0", "sobol", PARAMS, 4, 0, report_epochs=(2, 3))
    result = run_trial(job, load_problem("cnn"), digits, trial_config("post"), decide)
    assert result.status == "stopped" and result.epochs_trained == 2, result.reason
    assert [(r.trial, r.epoch, r.max_epochs, r.bracket) for r in reports] == [(3, 2, 4, "scratch")]
    # a report holds the deployed network's costs and the float model's validation error:
    # the stopped trial, measured at that epoch, gives the same numbers
    for name in ("model_size", "working_memory", "latency"):
        assert reports[-1].metrics[name] == result.metrics[name]
    assert reports[-1].metrics["error"] == result.extras["float_error"]
    assert result.state_dict is None  # never saved: a stopped trial is never on the front


def test_reporting_does_not_change_training(digits):
    plain = run_trial(TrialJob(4, "4_0", "sobol", PARAMS, 2, 0), load_problem("cnn"), digits, trial_config("post"))
    reported = run_trial(TrialJob(4, "4_0", "sobol", PARAMS, 2, 0, report_epochs=(1,)), load_problem("cnn"), digits,
                         trial_config("post"), lambda report: True)
    assert plain.status == reported.status == "completed"
    assert plain.epochs_trained == reported.epochs_trained == 2
    assert plain.metrics == reported.metrics


def counting(monkeypatch, name: str) -> list:
    """Calls of ``<name>`` by the trial's modules (its run and its checks), counted."""
    import sparsemod.trial.checks
    import sparsemod.trial.run

    calls: list = []
    for module in (sparsemod.trial.run, sparsemod.trial.checks):
        if hasattr(module, name):
            def wrapper(*args, real=getattr(module, name), **kwargs):
                calls.append(name)
                return real(*args, **kwargs)

            monkeypatch.setattr(module, name, wrapper)
    return calls


def test_a_stopped_trial_skips_the_int8_measurement_and_costs_what_a_completed_one_measures(digits, monkeypatch):
    quantized, measured = counting(monkeypatch, "quantize"), counting(monkeypatch, "measure")
    stopped = run_trial(TrialJob(5, "5_0", "sobol", PARAMS, 4, 0, report_epochs=(1, 2)), load_problem("cnn"),
                        digits, trial_config("post"), lambda report: False)
    assert stopped.status == "stopped" and stopped.epochs_trained == 1, stopped.reason
    # the trace check's conversion is the only one: no calibrated int8 network, no measuring
    assert (len(quantized), len(measured)) == (1, 0)
    assert stopped.metrics["error"] == stopped.extras["float_error"] and "test_accuracy" not in stopped.extras
    assert stopped.total_seconds >= stopped.train_seconds > 0
    completed = run_trial(TrialJob(5, "5_0", "sobol", PARAMS, 1, 0), load_problem("cnn"), digits, trial_config("post"))
    assert completed.status == "completed" and (len(quantized), len(measured)) == (3, 1)
    for name in ("model_size", "working_memory", "latency"):
        assert stopped.metrics[name] == completed.metrics[name], name
    assert stopped.extras["flops"] == completed.extras["flops"] > 0


def test_a_stopped_pruned_trial_costs_its_alive_structure_as_a_calibrated_int8_network(digits):
    from sparsemod.config import MorphNetSettings
    from sparsemod.costs import flops_per_layer, modeled_latency, trace_activations
    from sparsemod.morphnet import apply_structure

    params = dict(PARAMS, conv_type="standard", layers=2, filters=16, dropout=0.0)
    # a high threshold: channels die within 2 epochs
    config = TrialConfig("post", 4, Device(1e9, 1e8), 1, False, MorphNetSettings("gamma", "flops", 0.5, 10.0, 1, None))
    stopped = run_trial(TrialJob(6, "6_0", "sobol", params, 6, 0, report_epochs=(2, 4)), load_problem("cnn"),
                        digits, config, lambda report: False)
    assert stopped.status == "stopped" and stopped.epochs_trained == 2, stopped.reason
    # the same structure, quantized with calibration batches as a completed trial is
    example = torch.zeros(1, 1, 8, 8)
    model = apply_structure(load_problem("cnn").build(params, (1, 8, 8), 10), example, stopped.structure)
    full = sum(p.numel() for p in load_problem("cnn").build(params, (1, 8, 8), 10).parameters())
    assert stopped.extras["parameters"] == sum(p.numel() for p in model.parameters()) < full  # pruned
    calibration = [x for x, _ in itertools.islice(loader(digits.train, 32, shuffle=True, seed=0), 4)]
    deployed = quantize(model, "post", calibration, example)
    assert stopped.metrics["model_size"] == model_size(deployed)
    assert stopped.metrics["working_memory"] == working_memory(deployed, example)
    assert stopped.metrics["latency"] == modeled_latency(Device(1e9, 1e8), flops_per_layer(model, example), deployed,
                                                         trace_activations(deployed, example))


def test_trial_trains_with_the_configured_schedule_and_shift(digits, training_spies):
    """[TRAIN] schedule and augment_shift reach the trial's training: the learning rate of
    every Adam step, and the pixels every training batch was shifted by."""
    import math

    rates, shifts = training_spies
    config = TrialConfig("post", 4, Device(1e9), 1, False, schedule="cosine", augment_shift=2)
    result = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 2, 0), load_problem("cnn"), digits, config)
    assert result.status == "completed", result.reason
    steps = 2 * math.ceil(len(digits.train) / PARAMS["batch_size"])
    assert rates == pytest.approx([0.01 * (1 + math.cos(math.pi * t / steps)) / 2 for t in range(steps)])
    assert shifts == [2] * steps


CUDA = torch.cuda.is_available()


@pytest.mark.skipif(CUDA, reason="a CPU-only torch's side: see the test below for a CUDA device")
def test_a_gpu_trial_whose_torch_sees_no_cuda_device_fails_with_that_reason(digits):
    config = TrialConfig("post", 4, Device(1e9), 1, False, train_device="cuda")
    result = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 1, 0), load_problem("cnn"), digits, config)
    assert result.status == "failed" and result.train_seconds == 0 and result.state_dict is None
    assert result.reason.startswith("device: RuntimeError: the trial was given a GPU, but torch "), result.reason


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("pruning", [False, True])
def test_a_gpu_trial_trains_on_the_gpu_and_quantizes_and_measures_on_the_cpu(digits, monkeypatch, pruning):
    from sparsemod.config import MorphNetSettings

    devices: list[set[str]] = []  # the devices of the parameters at every optimizer step
    adam_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        devices.append({p.device.type for group in self.param_groups for p in group["params"]})
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    morphnet = MorphNetSettings("gamma", "flops", 0.5, 10.0, 1, None) if pruning else None
    params = dict(PARAMS, conv_type="standard", dropout=0.0)
    job = TrialJob(0, "0_0", "sobol", params, 2, 0, report_epochs=(1,))
    reports = []
    on_gpu = run_trial(job, load_problem("cnn"), digits, TrialConfig("post", 4, Device(1e9), 1, False, morphnet,
                                                                      train_device="cuda"),
                       lambda report: reports.append(report) or True)
    assert on_gpu.status == "completed", on_gpu.reason
    assert devices and all(kinds == {"cuda"} for kinds in devices)  # every step, fine-tuning included
    assert {t.device.type for t in on_gpu.state_dict.values()} == {"cpu"}
    assert 0 <= on_gpu.metrics["error"] < 0.6 and len(reports) == 1
    if not pruning:  # the int8 costs follow from the structure alone: those of the same trial on the CPU
        devices.clear()
        on_cpu = run_trial(job, load_problem("cnn"), digits, TrialConfig("post", 4, Device(1e9), 1, False))
        assert all(kinds == {"cpu"} for kinds in devices)
        for name in ("model_size", "working_memory", "latency"):
            assert on_gpu.metrics[name] == on_cpu.metrics[name] == reports[0].metrics[name]
