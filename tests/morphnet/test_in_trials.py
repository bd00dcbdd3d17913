"""MorphNet inside trials (pruning = true): real search, pruned models on disk."""

import json

import pandas as pd
import torch
from conftest import write_config

from sparsemod.cli import main
from sparsemod.config import MorphNetSettings
from sparsemod.costs import Device, flops_per_layer
from sparsemod.data import load_digits
from sparsemod.problem import load_problem
from sparsemod.store.results import load_model
from sparsemod.trial.job import Inheritance, TrialConfig, TrialJob
from sparsemod.trial.run import run_trial

PARAMS = dict(blocks=2, layers=2, filters=16, growth=1.5, kernel=3, conv_type="standard",
              downsample="max", fc_layers=1, fc_width=32, dropout=0.0, lr=0.01, batch_size=32)


def config(strength: float, algorithm: str = "gamma", log_dir=None) -> TrialConfig:
    return TrialConfig("post", 4, Device(1e9), 1, False,
                       MorphNetSettings(algorithm, "flops", 0.01, strength, 1, log_dir))


def test_a_pruned_trial_shrinks_flops_and_reports_before_and_after(tmp_path):
    data = load_digits(0)
    result = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 8, 0), load_problem("cnn"), data,
                       config(2.0, log_dir=tmp_path))
    assert result.status == "completed", result.reason
    assert result.extras["flops"] < 0.7 * result.extras["flops_before"]
    assert result.extras["parameters"] < result.extras["parameters_before"]
    assert result.metrics["error"] < 0.15
    assert set(result.structure) >= {"0.body.0", "0.body.3"} and result.structure["0.body.0"] < 16
    assert any((tmp_path / "0_0").iterdir())  # TensorBoard event file


def test_gates_algorithm_without_gates_is_a_failed_trial_with_its_reason():
    result = run_trial(TrialJob(1, "1_0", "sobol", PARAMS, 1, 0), load_problem("cnn"),
                       load_digits(0), config(1.0, "gates"))
    assert result.status == "failed"
    assert "no channel carries a gates regularizer" in result.reason


def test_search_with_pruning_keeps_structure_and_rebuilds_pareto_models(tmp_path):
    path = write_config(tmp_path, train={"pruning": "true", "r1": "2", "r2": "1", "seed": "1",
                                         "epochs1": "4", "epochs2": "4"})
    path.write_text(path.read_text() + "[MORPHNET]\nstrength = 4\nfinetune_epochs = 1\n")
    assert main(["--config", str(path)]) == 0
    results = tmp_path / "results" / "run"
    trials = pd.read_csv(results / "trials.csv")
    completed = trials[trials["status"] == "completed"]
    assert (completed["flops"] <= completed["flops_before"]).all()
    assert (completed["flops"] < completed["flops_before"]).any()
    problem = load_problem("cnn")
    example = torch.zeros(1, 1, 8, 8)
    for arm in pd.read_csv(results / "pareto.csv")["arm"]:
        structure = json.loads((results / "models" / arm / "structure.json").read_text())
        model = load_model(results, arm, problem.build, (1, 8, 8), 10)
        row = completed[completed["arm"] == arm].iloc[0]
        assert sum(flops_per_layer(model, example).values()) == row["flops"]
        assert all(isinstance(v, int) for v in structure.values())


def test_a_morph_child_of_a_pruned_parent_starts_with_its_function():
    data, problem = load_digits(0), load_problem("cnn")
    parent = run_trial(TrialJob(0, "0_0", "sobol", PARAMS, 8, 0), problem, data, config(2.0))
    assert parent.status == "completed", parent.reason
    assert parent.structure["0.body.0"] < PARAMS["filters"]
    child_params = {**PARAMS, "fc_layers": 2}  # deepen: a new identity layer after the pruned one
    inheritance = Inheritance("0_0", PARAMS, parent.state_dict, parent.structure, ("deepen fc_layers",))
    plain = TrialConfig("post", 4, Device(1e9), 1, False)
    child = run_trial(TrialJob(1, "1_0", "morph", child_params, 0, 1, inheritance), problem, data, plain)
    assert child.status == "completed", child.reason
    assert abs(child.metrics["error"] - parent.metrics["error"]) < 0.015  # untrained: the parent's function


def test_a_pruned_trial_reports_its_alive_structure_and_stops_without_finetuning():
    reports = []

    def decide(report):
        reports.append(report)
        return report.epoch < 3

    job = TrialJob(5, "5_0", "sobol", PARAMS, 8, 0, report_epochs=(1, 3))
    result = run_trial(job, load_problem("cnn"), load_digits(0), config(4.0), decide)
    assert result.status == "stopped" and result.epochs_trained == 3, result.reason
    assert [r.epoch for r in reports] == [1, 3]  # only after its report epochs
    # the last report's costs are those of the network pruned at epoch 3, which the stopped
    # trial deploys as it is (no fine-tuning changes its structure)
    for name in ("model_size", "working_memory", "latency"):
        assert reports[-1].metrics[name] == result.metrics[name]
    assert result.extras["flops"] < result.extras["flops_before"]
