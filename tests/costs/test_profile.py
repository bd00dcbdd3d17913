"""The calibrated device profile: prediction by hand, files, errors."""

import json

import pytest
import torch
from torch import nn

from sparsemod.costs import (
    DeployedOp,
    Device,
    DeviceProfile,
    KindModel,
    ProfileError,
    deployed_ops,
    modeled_latency,
    resolve_device,
    trace_activations,
)
from sparsemod.costs.profile import CALIBRATED_KINDS
from sparsemod.quantize import quantize


def profile() -> DeviceProfile:
    kinds = {kind: KindModel(1e-6, 0.0, 0.0) for kind in CALIBRATED_KINDS}
    kinds["conv"] = KindModel(10e-6, 1e-9, 2e-9)
    kinds["add"] = KindModel(3e-6, 0.0, 1e-9)
    return DeviceProfile("test", 5e-6, kinds, {"threads": 1})


def test_prediction_by_hand():
    ops = [DeployedOp("c", "conv", 1000, 100, 200, 50), DeployedOp("a", "add", 0, 400, 200, 0),
           DeployedOp("f", "view", 0, 10, 10, 0), DeployedOp("r", "other", 0, 30, 20, 0)]
    # overhead 5 µs; conv 10 µs + 1000 ns + 2 ns x 350 B; add 3 µs + 600 ns; view 1 µs;
    # "other" falls back on the add model: 3 µs + 50 ns
    expected = 5e-6 + (10e-6 + 1000e-9 + 700e-9) + (3e-6 + 600e-9) + 1e-6 + (3e-6 + 50e-9)
    assert profile().predict(ops) == pytest.approx(expected)


def test_modeled_latency_uses_the_profile_on_the_deployed_ops():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    x = torch.randn(4, 1, 6, 6)
    deployed = quantize(model, "post", [x], x[:1])
    trace = trace_activations(deployed, x[:1])
    ops = deployed_ops(deployed, trace)
    assert [op.kind for op in ops] == ["quantize", "conv", "view", "linear", "dequantize"]
    conv = ops[1]
    assert conv.macs == 2 * 16 * 9 and conv.input_bytes == 36 and conv.output_bytes == 32
    expected = 5e-6 + 4 * 1e-6 + 10e-6 + 1e-9 * conv.macs + 2e-9 * conv.bytes
    assert modeled_latency(profile(), {}, deployed, trace) == pytest.approx(expected)


def test_round_trip_and_resolution(tmp_path):
    path = tmp_path / "cpu.json"
    profile().save(path)
    assert DeviceProfile.load(path) == profile()
    assert resolve_device(str(path), 1.0, None) == profile()
    assert resolve_device("V100", 1.0, None).flops == 125000e9
    assert resolve_device("", 7.0, 3.0) == Device(7.0, 3.0)


def test_bad_profiles_are_named(tmp_path):
    with pytest.raises(ProfileError, match=r"missing.json: device profile not found .*sparsemod.calibrate"):
        DeviceProfile.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError, match="bad.json: not a device profile written by sparsemod.calibrate"):
        DeviceProfile.load(tmp_path / "bad.json")
    data = json.loads(json.dumps({"name": "x", "overhead": 0, "kinds": {"conv": {"fixed": 0, "per_mac": 0,
                                                                                  "per_byte": 0}}}))
    (tmp_path / "partial.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="lacks the op kinds depthwise, linear"):
        DeviceProfile.load(tmp_path / "partial.json")
