"""The regularizer's terms against hand-computed values."""

import json

import pytest
import torch
from torch import nn

from sparsemod.costs import Device
from sparsemod.morphnet import ResourceRegularizer

X = torch.zeros(1, 3, 8, 8)


def two_layer() -> nn.Module:
    # conv 3->4 (3x3) + bn, conv 4->6 (1x1) + bn, mean, linear 6->5; 8x8 maps throughout
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))
    model[1].weight.data.fill_(0.5)  # Σγ1 = 2
    model[4].weight.data.fill_(0.25)  # Σγ2 = 1.5
    return model


def test_flops_term_and_cost_by_hand():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "flops")
    # c1 = 2·64·9 = 1152: 1152·(3·Σγ1 + 4·0);  c2 = 2·64 = 128: 128·(4·Σγ2 + 6·Σγ1);
    # head c = 2: 2·(6·0 + 5·Σγ2)  (its inputs are group 2, its outputs are classes)
    assert reg.regularization_term().item() == pytest.approx(1152 * 6 + 128 * 18 + 2 * 7.5)
    assert reg.cost() == pytest.approx(1152 * 12 + 128 * 24 + 2 * 30)


def test_size_term_and_cost_by_hand():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "size")
    assert reg.regularization_term().item() == pytest.approx(9 * 6 + 18 + 7.5)
    assert reg.cost() == 9 * 12 + 24 + 30  # the weights of the three layers


def test_memory_term_is_the_peak_layer():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "memory")
    # conv1: 64·3 + 64·4 = 448; conv2: 64·4 + 64·6 = 640 (peak); head 6 + 5
    assert reg.cost() == 640
    assert reg.regularization_term().item() == pytest.approx(64 * 2 + 64 * 1.5)


def test_latency_uses_the_bottleneck_side():
    compute_bound = ResourceRegularizer(two_layer(), X, "gamma", "latency", device=Device(1e9))
    flops = ResourceRegularizer(two_layer(), X, "gamma", "flops")
    assert compute_bound.cost() == pytest.approx(flops.cost() / 1e9)
    memory_bound = ResourceRegularizer(two_layer(), X, "gamma", "latency", device=Device(1e15, 1e3))
    size = ResourceRegularizer(two_layer(), X, "gamma", "size")
    assert memory_bound.cost() == pytest.approx(size.cost() / 1e3)  # 1 B per int8 weight


def test_term_is_differentiable_and_alive_follows_threshold(tmp_path):
    model = two_layer()
    model[4].weight.data[:2] = 0.001
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=0.01)
    reg.regularization_term().backward()
    assert model[1].weight.grad.abs().sum() > 0 and model[4].weight.grad.abs().sum() > 0
    assert reg.alive_counts() == {"0": 4, "3": 4, "8": 5}
    exported = reg.export(tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == exported == reg.alive_counts()


def test_group_lasso_vector():
    model = two_layer()
    model[0].weight.data.fill_(2.0)
    reg = ResourceRegularizer(model, X, "group_lasso", "flops", l1_fraction=0.25)
    vector, alive = reg.group_vectors()[[g.root for g in reg.graph.groups].index("0")]
    assert torch.allclose(vector, torch.full((4,), 0.75 * 2.0 + 0.25 * 2.0))


def test_bad_choices_are_named():
    with pytest.raises(ValueError, match="algorithm: expected one of gamma|group_lasso|gates"):
        ResourceRegularizer(two_layer(), X, "l0")
    with pytest.raises(ValueError, match="target: expected one of flops|size|latency|memory"):
        ResourceRegularizer(two_layer(), X, "gamma", "energy")
