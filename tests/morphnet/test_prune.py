"""Pruning removes exactly the dead channels: outputs equal the masked model's."""

import pytest
import torch
from torch import nn

from nets import TOPOLOGIES, Gated, randomise_batchnorm
from sparsemod.costs import flops_per_layer
from sparsemod.morphnet import ResourceRegularizer, apply_structure, prune

X = torch.randn(2, 3, 8, 8)


def kill(model: nn.Module, reg: ResourceRegularizer, every: int = 3) -> None:
    """Zero γ and β of every third root channel in every batch norm of each group."""
    modules = dict(model.named_modules())
    for group in reg.graph.groups:
        dead = set(range(0, group.size, every))
        for member in group.members:
            module = modules[member.module]
            if member.side == "out" and isinstance(module, nn.BatchNorm2d):
                for idx, root in zip(member.idxs, member.root_idxs):
                    if root in dead:
                        module.weight.data[idx] = 0.0
                        module.bias.data[idx] = 0.0


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_pruned_model_equals_masked_model(topology):
    model = TOPOLOGIES[topology]().eval()
    randomise_batchnorm(model)
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=1e-3)
    # with every channel alive the cost is the network's FLOPs
    assert reg.cost() == pytest.approx(sum(flops_per_layer(model, X).values()))
    kill(model, reg)
    masked = model(X)
    small = prune(model, reg, X)
    assert torch.allclose(small(X), masked, atol=1e-5)
    before = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in small.parameters()) < before
    # the regularizer's FLOP cost with the alive channels is the pruned model's real FLOPs
    assert reg.cost() == pytest.approx(sum(flops_per_layer(small, X).values()))


def test_gates_off_prune_exactly():
    model = Gated().eval()
    model.gate1.logits.data[[1, 4]] = -2.0
    model.gate2.logits.data[[0, 5, 9]] = -1.0
    reg = ResourceRegularizer(model, X, "gates", "flops")
    masked = model(X)
    small = prune(model, reg, X)
    assert (small.conv1.out_channels, small.conv2.out_channels) == (6, 7)
    assert torch.allclose(small(X), masked, atol=1e-5)


def test_never_removes_every_channel():
    model = TOPOLOGIES["plain"]().eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.zero_()
    reg = ResourceRegularizer(model, X, "gamma", "flops")
    small = prune(model, reg, X)
    convs = [m for m in small.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.out_channels == 1 for conv in convs)
    assert small(X).shape == (2, 5)


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_structure_json_rebuilds_the_pruned_shapes(topology, tmp_path):
    model = TOPOLOGIES[topology]().eval()
    randomise_batchnorm(model)
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=1e-3)
    kill(model, reg)
    counts = reg.export(tmp_path / "structure.json")
    small = prune(model, reg, X)
    rebuilt = apply_structure(TOPOLOGIES[topology]().eval(), X, tmp_path / "structure.json")
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in small.state_dict().items()}
    rebuilt.load_state_dict(small.state_dict())
    assert torch.allclose(rebuilt(X), small(X), atol=1e-6)
    for name, module in small.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            out = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
            assert counts[name] == out


def test_once_shrinks_a_trained_model_by_its_small_gammas():
    from sparsemod.morphnet import once

    model = TOPOLOGIES["plain"]().eval()
    randomise_batchnorm(model)
    model.features[0][1].weight.data[:3] = 0.001  # three dead channels in the first layer
    model.features[0][1].bias.data[:3] = 0.0
    small = once(model, X, threshold=0.01)
    assert small.features[0][0].out_channels == 5 and small.features[1][0].in_channels == 5
    assert model.features[0][0].out_channels == 8  # the original is never mutated
    assert torch.allclose(small(X), model(X), atol=1e-2)


def test_group_lasso_zero_rows_prune_exactly():
    model = TOPOLOGIES["residual"]().eval()
    randomise_batchnorm(model)
    reg = ResourceRegularizer(model, X, "group_lasso", "size", threshold=1e-6)
    model.conv1[0].weight.data[[0, 2]] = 0.0  # conv1's channels 0 and 2: no weights
    model.conv1[1].bias.data[[0, 2]] = 0.0  # and no shift, so they are exactly zero
    model.conv1[1].running_mean[[0, 2]] = 0.0
    masked = model(X)
    small = prune(model, reg, X)
    assert small.conv1[0].out_channels == 4 and small.conv2[0].in_channels == 4
    assert torch.allclose(small(X), masked, atol=1e-5)
