"""The [TEST] mode on a real finished search: retrain, test split, export."""

import json

import pandas as pd
import pytest
import torch
from conftest import write_config

from sparsemod.cli import main
from sparsemod.data import load_digits
from sparsemod.deploy.host import export, load_torchscript
from sparsemod.quantize import quantize
from sparsemod.trial.train import accuracy


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrain")
    config = write_config(folder, train={"r1": "3", "r2": "0", "pruning": "true", "epochs1": "3"},
                          test={"epochs": "2", "pruning": "true"})
    assert main(["--config", str(config)]) == 0
    results = folder / "results" / "run"
    return config, results, list(pd.read_csv(results / "pareto.csv")["arm"])


def test_arm_is_retrained_tested_and_exported(searched, capsys):
    config, results, arms = searched
    assert main(["test", "--config", str(config), "--arm", arms[0]]) == 0
    printed = capsys.readouterr().out
    assert f"arm {arms[0]} retrained 2 epochs" in printed and "TorchScript file" in printed
    report = json.loads((results / "test" / f"{arms[0]}.json").read_text())
    for key in ("test_error", "float_test_error", "val_error", "model_size", "working_memory",
                "latency", "measured_latency", "torchscript_bytes"):
        assert key in report
    assert report["pruned"] and report["width_multiplier"] == 1.0
    structure = json.loads((results / "models" / arms[0] / "structure.json").read_text())
    assert report["structure"] == structure  # rebuilt to the learned widths
    # the exported TorchScript classifies the test split exactly as measured
    scripted = load_torchscript(results / "test" / f"{arms[0]}.torchscript.pt")
    data = load_digits(0)
    assert accuracy(scripted, data.test) == pytest.approx(1 - report["test_error"])
    assert report["onnx"] is not None  # static int8 convs export to ONNX


def test_expand_widens_to_the_budget(searched):
    config, results, arms = searched
    trials = pd.read_csv(results / "trials.csv").set_index("arm")
    budget = 3 * trials.loc[arms[0], "flops"]
    text = config.read_text().replace("[TEST]\n", f"[TEST]\nexpand_target = flops\nexpand_budget = {budget}\n")
    config.write_text(text)
    assert main(["test", "--config", str(config), "--arm", arms[0]]) == 0
    report = json.loads((results / "test" / f"{arms[0]}.json").read_text())
    assert report["width_multiplier"] > 1.3
    assert 0.5 * budget < report["flops"] <= budget


def test_unknown_arm_lists_the_available_ones(searched, capsys):
    config, _, arms = searched
    assert main(["test", "--config", str(config), "--arm", "99_0"]) == 2
    err = capsys.readouterr().err
    assert "[TEST] arm: expected one of" in err and arms[0] in err and "got '99_0'" in err


def test_missing_results_folder_is_a_clear_error(tmp_path, capsys):
    config = write_config(tmp_path, default={"train": "false"}, test={"arm": "0_0"})
    assert main(["--config", str(config)]) == 2
    assert "holds no search results" in capsys.readouterr().err


def test_torchscript_export_predicts_like_the_quantized_model(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(144, 10)).eval()
    inputs = torch.randn(16, 1, 8, 8)
    for scheme in ("post", "dynamic", "none"):
        deployed = quantize(model, scheme, [inputs], inputs[:1])
        files = export(deployed, inputs[:1], tmp_path / scheme)
        assert torch.equal(load_torchscript(files.torchscript)(inputs), deployed(inputs))
        if scheme == "dynamic":
            assert files.onnx is None and "linear_dynamic" in files.onnx_error
        else:
            assert files.onnx is not None and files.onnx_bytes > 0


def test_test_schedule_and_shift_reach_the_retraining(searched, training_spies, tmp_path):
    """[TEST] schedule = constant retrains at the arm's learning rate throughout (the default
    is cosine), and augment_shift shifts every retraining batch by that many pixels."""
    config, results, arms = searched
    rates, shifts = training_spies
    text = config.read_text().replace("[TEST]\n", "[TEST]\nschedule = constant\naugment_shift = 1\n")
    constant = tmp_path / "constant.ini"
    constant.write_text(text.replace("root = results", f"root = {results.parent}"))
    assert main(["test", "--config", str(constant), "--arm", arms[0]]) == 0
    lr = json.loads((results / "models" / arms[0] / "params.json").read_text())["lr"]
    assert rates and rates == [pytest.approx(lr)] * len(rates)
    assert shifts == [1] * len(rates)
    report = json.loads((results / "test" / f"{arms[0]}.json").read_text())
    assert (report["schedule"], report["augment_shift"]) == ("constant", 1)
