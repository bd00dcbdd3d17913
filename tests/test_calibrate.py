"""Calibration: the fit recovers known coefficients; a real (tiny) run writes a usable profile."""

import random

import pytest
import torch
from torch import nn

from sparsemod.calibrate import fit, main, network_samples, time_interleaved
from sparsemod.costs import DeployedOp, DeviceProfile
from sparsemod.costs.profile import CALIBRATED_KINDS
from sparsemod.quantize import quantize


def test_fit_recovers_a_linear_cost_model():
    ops = [DeployedOp(str(i), "conv", macs, 0, moved, 0)
           for i, (macs, moved) in enumerate([(0, 100), (1e4, 50), (1e5, 2e3), (3e6, 1e4), (5e3, 9e4)])]
    seconds = [20e-6 + 1e-10 * op.macs + 5e-10 * op.bytes for op in ops]
    model = fit(ops, seconds)
    assert model.fixed == pytest.approx(20e-6, rel=1e-6)
    assert model.per_mac == pytest.approx(1e-10, rel=1e-6)
    assert model.per_byte == pytest.approx(5e-10, rel=1e-6)


def test_fit_keeps_coefficients_non_negative():
    ops = [DeployedOp(str(i), "add", 0, 0, moved, 0) for i, moved in enumerate([10, 100, 1000])]
    model = fit(ops, [3e-6, 2e-6, 1e-6])  # time falling with bytes: no negative per-byte cost
    assert model.per_byte == 0.0 and model.fixed > 0


def test_each_sample_runs_its_op_alone_on_its_int8_input():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    x = torch.randn(4, 2, 6, 6)
    deployed = quantize(model, "post", [x], x[:1])
    samples = network_samples(deployed, x[:1])
    assert [s.op.kind for s in samples] == ["quantize", "conv", "view", "linear", "dequantize"]
    with torch.no_grad():
        logits = samples[-1].run()  # the dequantize of the linear layer's recorded output
        assert torch.equal(logits, deployed(x[:1]))
        assert samples[1].run().dtype == torch.int8 and samples[1].run().shape == (1, 3, 4, 4)
    times = time_interleaved([s.run for s in samples], 3, random.Random(0))
    assert len(times) == 5 and all(t > 0 for t in times)


def test_a_tiny_calibration_writes_a_loadable_profile(tmp_path):
    assert main(["--out", str(tmp_path / "cpu.json"), "--networks", "2", "--runs", "2"]) == 0
    profile = DeviceProfile.load(tmp_path / "cpu.json")
    assert set(profile.kinds) == set(CALIBRATED_KINDS) and profile.overhead >= 0
    assert all(m.fixed >= 0 and m.per_mac >= 0 and m.per_byte >= 0 for m in profile.kinds.values())
    assert profile.conditions["threads"] == 1 and profile.conditions["quant_scheme"] == "post"


def test_bad_arguments_exit_2(capsys):
    assert main(["--out", "cpu.txt"]) == 2
    assert "--out: expected a .json file name, got 'cpu.txt'" in capsys.readouterr().err
    assert main(["--out", "cpu.json", "--networks", "1"]) == 2
