"""Pruning removes exactly the dead channels: outputs equal the masked model's."""

import copy

import pytest
import torch
from nets import TOPOLOGIES, Gated, randomise_batchnorm
from torch import nn

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


def masked_copy(model: nn.Module, dead: dict[str, list[int]], keep_beta: bool = True) -> nn.Module:
    """The masked network by hand: γ of the dead channels set to zero, β kept (or zeroed:
    what removing the channels without folding computes)."""
    masked = copy.deepcopy(model)
    for name, channels in dead.items():
        masked.get_submodule(name).weight.data[channels] = 0.0
        if not keep_beta:
            masked.get_submodule(name).bias.data[channels] = 0.0
    return masked


def with_shifted_batchnorms(model: nn.Module, dead: dict[str, list[int]]) -> nn.Module:
    randomise_batchnorm(model)
    for name, channels in dead.items():  # dead but not zero: β > 0 passes the ReLU
        bn = model.get_submodule(name)
        bn.weight.data[channels] = 0.001
        bn.bias.data[channels] = torch.linspace(0.5, 1.5, len(channels))
    return model.eval()


class ResidualOneByOne(nn.Module):
    """A residual stream of 1x1 convs (no padding): its dead channels die in both members."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(8, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                                    nn.Conv2d(6, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Conv2d(8, 4, 4)

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.pool(nn.functional.relu6(x + self.branch(x)))).flatten(1)


FOLD_CASES = {
    # an MLP as a new user writes one
    "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(192, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Linear(16, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 4)),
            {"2": [0, 5, 9], "5": [1, 2]}),
    # unpadded convs, pooling, flatten into a linear layer
    "cnn": (lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 6, 1), nn.BatchNorm2d(6), nn.ReLU6(), nn.Flatten(),
                                  nn.Linear(6 * 3 * 3, 4)),
            {"1": [2, 3, 7], "5": [0]}),
    "residual": (ResidualOneByOne, {"stem.1": [1, 4], "branch.4": [1, 4], "branch.1": [0, 2]}),
}


@pytest.mark.parametrize("case", sorted(FOLD_CASES))
def test_dead_constants_are_folded_into_the_next_layer(case):
    build, dead = FOLD_CASES[case]
    model = with_shifted_batchnorms(build(), dead)
    x = torch.randn(5, 3, 8, 8)
    reg = ResourceRegularizer(model, x, "gamma", "flops", threshold=0.01)
    small = prune(model, reg, x)
    expected = masked_copy(model, dead)(x)
    assert not torch.allclose(masked_copy(model, dead, keep_beta=False)(x), expected, atol=1e-2)
    assert torch.allclose(small(x), expected, atol=1e-5)  # the constants act(β) are folded
    removed = sum(len(c) for name, c in dead.items() if name != "branch.4")
    kept = sum(p.numel() for p in small.parameters())
    assert kept < sum(p.numel() for p in model.parameters()) and removed > 0


def test_group_lasso_dead_rows_fold_their_bias():
    model = FOLD_CASES["mlp"][0]()
    randomise_batchnorm(model)
    model[1].weight.data[[3, 7]] = 1e-4  # dead by group lasso; the bias stays
    model.eval()
    x = torch.randn(5, 3, 8, 8)
    reg = ResourceRegularizer(model, x, "group_lasso", "flops", threshold=1e-2)
    assert reg.alive_counts()["1"] == 14
    masked = copy.deepcopy(model)
    masked[1].weight.data[[3, 7]] = 0.0
    assert torch.allclose(prune(model, reg, x)(x), masked(x), atol=1e-5)
