"""ONNX export: named input / output, a dynamic batch axis, and onnxruntime agrees with torch."""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from sparsemod.data import load_digits
from sparsemod.deploy.host import export
from sparsemod.quantize import quantize
from sparsemod.quantize.int8 import QuantizedLinear
from sparsemod.trial.train import loader, train


@pytest.fixture(scope="module")
def trained():
    data = load_digits(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))
    train(model, data.train, {"lr": 0.01}, 2, 0)
    calibration = [inputs for inputs, _ in loader(data.train, 64)][:4]
    inputs = next(iter(loader(data.test, 100)))[0]
    return model.eval(), calibration, inputs


@pytest.mark.parametrize("scheme", ["post", "none"])
def test_onnx_takes_a_batch_of_100_by_name_and_matches_the_quantized_model(trained, tmp_path, scheme):
    model, calibration, inputs = trained
    assert inputs.shape[0] == 100
    deployed = quantize(model, scheme, calibration, inputs[:1])
    files = export(deployed, inputs[:1], tmp_path / "arm")
    graph = onnx.load(str(files.onnx)).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["logits"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = onnxruntime.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": inputs.numpy()})
    with torch.no_grad():
        expected = deployed(inputs).numpy()
    assert logits.shape == (100, 10)
    if scheme == "none":
        np.testing.assert_allclose(logits, expected, atol=1e-4)
    else:
        # ONNX's QDQ form: the conv's and linears' weights stored int8, one scale per channel
        int8 = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) > 1]
        assert sorted(tuple(t.dims) for t in int8) == [(8, 1, 3, 3), (10, 32), (32, 128)]
        assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
        # int8 kernels of two runtimes may round a value one output step apart
        step = [m for m in deployed.modules() if isinstance(m, QuantizedLinear)][-1].output_scale
        assert np.abs(logits - expected).max() <= 2 * step + 1e-6
        assert (logits.argmax(1) == expected.argmax(1)).mean() >= 0.98


def test_an_activation_zero_point_of_zero_exports(tmp_path):
    """Inputs centred on 0 calibrate to zero point 0; the ONNX exporter used to fail on it
    ('Argument passed to at() was not in the map') when it inlined the Q/DQ functions."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)).eval()
    inputs = torch.linspace(-1, 1, 16 * 64).reshape(16, 1, 8, 8)
    deployed = quantize(model, "post", [inputs], inputs[:1])
    assert int(deployed.quantize.zero_point) == 0
    files = export(deployed, inputs[:1], tmp_path / "arm")
    assert files.onnx_error == ""
    session = onnxruntime.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": inputs.numpy()})
    with torch.no_grad():
        expected = deployed(inputs).numpy()
    step = deployed.get_submodule("3").output_scale
    assert np.abs(logits - expected).max() <= 2 * step + 1e-6
