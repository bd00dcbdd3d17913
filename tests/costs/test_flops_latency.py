import pytest
import torch
from torch import nn

from sparsemod.costs import (
    DEVICES,
    Device,
    deployed_ops,
    flops_per_layer,
    latency,
    layer_traffic,
    trace_activations,
)
from sparsemod.quantize import quantize


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


class ResidualPool(nn.Module):
    """conv 1->4 (3x3) on 1x8x8; a 1x1 conv branch added back; max pool; linear 64 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv, self.branch = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(64, 10)

    def forward(self, x):
        y = self.conv(x)
        return self.head(torch.flatten(self.pool(y + self.branch(y)), 1))


def test_roofline_counts_pooling_and_add_traffic():
    data = [torch.randn(8, 1, 8, 8)]
    deployed = quantize(ResidualPool().eval(), "post", data, data[0][:1])
    x = torch.zeros(1, 1, 8, 8)
    # int8 activations, 1 B per element: conv 64 in + 256 out; branch 256 + 256;
    # add 256 + 256 in + 256 out; pool 256 + 64; linear 64 + 10 — plus each op's stored bytes:
    # int8 weights, per output channel a float32 scale, an int32 zero point and a float32 bias,
    # and its output's scale and zero point (8 B; the add has only those)
    activations = {"conv": 64 + 256, "branch": 256 + 256, "add": 3 * 256, "pool": 256 + 64, "head": 64 + 10}
    weights = (36 + 4 * 12 + 8) + (16 + 4 * 12 + 8) + (640 + 10 * 12 + 8) + 8
    traffic = layer_traffic(deployed, trace_activations(deployed, x))
    assert sum(traffic.values()) == sum(activations.values()) + weights
    # memory-bound device (1 B/s): seconds = bytes; the pool and the add are no longer skipped
    memory_bound = latency(flops_per_layer(ResidualPool(), x), Device(1e30, 1.0), traffic)
    assert memory_bound == pytest.approx(sum(activations.values()) + weights)


def test_deployed_ops_kinds_and_macs():
    data = [torch.randn(8, 1, 8, 8)]
    deployed = quantize(ResidualPool().eval(), "post", data, data[0][:1])
    ops = deployed_ops(deployed, trace_activations(deployed, torch.zeros(1, 1, 8, 8)))
    kinds = [op.kind for op in ops]
    assert kinds == ["quantize", "conv", "conv", "add", "pool", "view", "linear", "dequantize"]
    by_kind = {op.kind: op for op in ops}
    assert [op.macs for op in ops if op.kind == "conv"] == [4 * 64 * 9, 4 * 64 * 4]
    assert by_kind["linear"].macs == 64 * 10 and by_kind["pool"].macs == 0
    assert by_kind["quantize"].input_bytes == 64 * 4 and by_kind["dequantize"].output_bytes == 10 * 4


def test_depthwise_is_its_own_kind():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU()).eval()
    data = [torch.randn(8, 4, 5, 5)]
    deployed = quantize(model, "post", data, data[0][:1])
    ops = deployed_ops(deployed, trace_activations(deployed, data[0][:1]))
    (depthwise,) = [op for op in ops if op.kind == "depthwise"]
    assert depthwise.macs == 4 * 25 * 9


def test_float_fused_layers_are_classified_too():
    # quant_scheme "none" / "dynamic" keep a float conv fused with its ReLU (a Sequential)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 36, 4)).eval()
    x = torch.randn(4, 1, 8, 8)
    deployed = quantize(model, "none", [x], x[:1])
    ops = deployed_ops(deployed, trace_activations(deployed, x[:1]))
    conv = next(op for op in ops if op.kind == "conv")
    assert conv.macs == 3 * 36 * 9
