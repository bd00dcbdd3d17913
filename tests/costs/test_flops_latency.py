import pytest
import torch
from torch import nn

from sparsemod.costs import DEVICES, Device, flops_per_layer, latency, layer_traffic, trace_activations


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


def test_a_layers_traffic_includes_its_weights():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1)).eval()
    example = torch.zeros(1, 2, 8, 8)
    traffic = layer_traffic(model, trace_activations(model, example))
    activations = (2 * 8 * 8 + 4 * 8 * 8) * 4  # float32 input read + output written
    weights = (4 * 2 * 3 * 3 + 4) * 4  # kernel and bias, float32
    assert traffic == {"0": activations + weights}
    # memory-bound on a device with plenty of compute: latency = bytes / bandwidth
    assert latency({"0": 1}, Device(flops=1e30, bandwidth=1000.0), traffic) == pytest.approx(1840 / 1000)
