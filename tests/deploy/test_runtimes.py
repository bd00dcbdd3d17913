"""[TEST] export = tflite / executorch: the files run under each runtime, and the figures the
comparison JSON reports are checked here by other means (LiteRT's interpreter, the smallest
arena TFLM accepts, ExecuTorch's runtime called directly)."""

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_config

from sparsemod.cli import main
from sparsemod.data import load_digits


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deploy")
    config = write_config(folder, train={"r1": "2", "r2": "0", "epochs1": "2"}, test={"epochs": "3"})
    assert main(["--config", str(config)]) == 0
    results = folder / "results" / "run"
    return config, results, list(pd.read_csv(results / "pareto.csv")["arm"])


def exporting(config, runtimes: str):
    lines = [line for line in config.read_text().splitlines() if not line.startswith("export =")]
    config.write_text("\n".join(lines).replace("[TEST]", f"[TEST]\nexport = {runtimes}") + "\n")
    return config


def exported(searched, runtime: str, suffix: str):
    """The [TEST] run with ``export = runtime``: the file and its comparison JSON."""
    config, results, arms = searched
    assert main(["test", "--config", str(exporting(config, runtime)), "--arm", arms[0]]) == 0
    path = results / "test" / f"{arms[0]}{suffix}"
    check = json.loads(path.with_name(path.name + ".json").read_text())
    assert check["file_bytes"] == path.stat().st_size
    return path, check, json.loads((results / "test" / f"{arms[0]}.json").read_text())


def test_a_missing_runtime_is_one_line_before_anything_trains(searched, monkeypatch, capsys):
    config, results, arms = searched
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tflite_micro" else find_spec(name, *a))
    assert main(["test", "--config", str(exporting(config, "tflite")), "--arm", arms[0]]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "[TEST] export: tflite needs " in error and "tflite_micro" in error
    assert "pip install -r requirements-deploy.txt" in error
    assert not (results / "test").exists()  # nothing retrained


def test_tflite_file_runs_under_tflm_as_litert_runs_it(searched):
    pytest.importorskip("tflite_micro")
    pytest.importorskip("litert_torch")
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime

    path, check, report = exported(searched, "tflite", ".tflite")
    # LiteRT's own interpreter (another runtime) on the same int8 inputs
    litert = Interpreter(model_path=str(path))
    litert.allocate_tensors()
    source, target = litert.get_input_details()[0], litert.get_output_details()[0]
    scale, zero = source["quantization"]
    data = load_digits(0)
    images = torch.stack([x for x, _ in data.test]).permute(0, 2, 3, 1).numpy()
    labels = np.array([int(y) for _, y in data.test])
    correct = 0
    for image, label in zip(images, labels):
        litert.set_tensor(source["index"], np.clip(np.round(image / scale) + zero, -128, 127)
                          .astype(np.int8)[None])
        litert.invoke()
        correct += int(litert.get_tensor(target["index"]).argmax() == label)
    assert check["runtime_test_accuracy"] == pytest.approx(correct / len(labels), abs=1.5 / len(labels))
    assert check["test_accuracy"] == pytest.approx(1 - report["test_error"])
    assert abs(check["accuracy_difference_points"]) <= 2.0  # two quantizers' choices of scales
    # flash: the constant tensors as LiteRT reads them (before allocation only constants have data)
    weights, reader = 0, Interpreter(model_path=str(path))
    for tensor in reader.get_tensor_details():
        try:
            data = reader.get_tensor(tensor["index"])
        except ValueError:
            continue
        int8 = tensor["dtype"] == np.int8
        weights += data.nbytes + (8 * len(tensor["quantization_parameters"]["scales"]) if int8 else 0)
    assert check["weight_bytes"] == weights
    assert check["weight_bytes"] == pytest.approx(check["model_size"], rel=0.10)
    # the arena: the smallest that TFLM accepts, found by bisection
    low, high = 0, 1 << 20
    while high - low > 1:
        middle = (low + high) // 2
        try:
            runtime.Interpreter.from_file(str(path), arena_size=middle)
            high = middle
        except RuntimeError:
            low = middle
    memory = check["memory"]
    assert memory["arena"] == memory["activations"] + memory["runtime"]
    assert memory["arena"] <= high <= memory["arena"] + 64  # + the arena's alignment
    assert memory["activations"] >= check["working_memory"]


def test_executorch_file_runs_under_its_runtime(searched):
    pytest.importorskip("executorch")
    from executorch.runtime import Runtime

    path, check, _ = exported(searched, "executorch", ".pte")
    method = Runtime.get().load_program(str(path)).load_method("forward")
    data = load_digits(0)
    images = torch.stack([x for x, _ in data.test])
    predicted = torch.cat([method.execute([x[None]])[0] for x in images]).argmax(dim=1)
    labels = torch.tensor([int(y) for _, y in data.test])
    assert check["runtime_test_accuracy"] == pytest.approx((predicted == labels).double().mean().item())
    assert abs(check["accuracy_difference_points"]) <= 2.0
    assert check["memory"]["planned"] >= 0


def test_the_arena_metric_predicts_tflms_arena(tmp_path):
    """20 Sobol points of examples/mcu.py on 28x28 inputs (not the networks the runtime bytes
    were fitted to): TFLM's planned activations exactly, its whole arena within 5 %."""
    pytest.importorskip("tflite_micro")
    pytest.importorskip("litert_torch")
    from sparsemod.costs import tflm_arena, trace_activations
    from sparsemod.deploy import tflite
    from sparsemod.optimizer.encoding import Encoding, SobolStream
    from sparsemod.problem import load_problem
    from sparsemod.quantize import quantize
    from sparsemod.trial.checks import check_runs

    problem = load_problem("mcu")
    for index, params in enumerate(SobolStream(Encoding(problem.space), 2).draw(20)):
        torch.manual_seed(index)
        model = problem.build(params, (1, 28, 28), 10).eval()
        example = check_runs(model, (1, 28, 28))
        calibration = [torch.rand(16, 1, 28, 28)]
        deployed = quantize(model, "post", calibration, example)
        predicted = tflm_arena(deployed, trace_activations(deployed, example))
        measured = tflite.convert(model, calibration, example, tmp_path / f"{index}.tflite")
        assert predicted["activations"] == measured["activations"], params
        assert predicted["arena"] == pytest.approx(measured["arena"], rel=0.05), params
