import pytest
import torch
from torch import nn

from sparsemod.costs import DEVICES, Device, flops_per_layer, latency


def test_flops_per_layer_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10))
    flops = flops_per_layer(model, torch.zeros(5, 1, 8, 8))
    # conv: 2 FLOPs/MAC x 4 out channels x 8x8 outputs x 1 in channel x 3x3 = 4608
    # linear: 2 x 64 x 10 = 1280; relu / pool are not counted; batch 1 whatever the input
    assert flops == {"0": 4608, "4": 1280}


def test_depthwise_conv_flops():
    flops = flops_per_layer(nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.zeros(1, 4, 5, 5))
    assert sum(flops.values()) == 2 * 4 * 25 * 1 * 9


def test_roofline_latency():
    device = Device(flops=1000.0, bandwidth=100.0)
    # op a: max(1000/1000, 50/100) = 1 s (compute-bound); b: max(2, 500/100 = 5) = 5 s
    assert latency({"a": 1000, "b": 2000}, device, {"a": 50, "b": 500}) == pytest.approx(6.0)
    assert latency({"a": 1000, "b": 2000}, Device(1000.0)) == pytest.approx(3.0)


def test_device_presets_follow_morphnet_table():
    assert DEVICES["V100"].flops == 125000e9 and DEVICES["V100"].bandwidth == 900e9
    assert DEVICES["P4"].flops == 5500e9 and DEVICES["P4"].bandwidth == 192e9
