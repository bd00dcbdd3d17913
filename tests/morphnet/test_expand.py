import pytest
import torch
from nets import TOPOLOGIES, Gated

from sparsemod.morphnet import ResourceRegularizer
from sparsemod.morphnet.expand import expand, resize

X = torch.randn(2, 3, 8, 8)


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_expand_fits_the_budget_and_keeps_groups_consistent(topology):
    model = TOPOLOGIES[topology]().eval()
    base = ResourceRegularizer(model, X).cost()
    wide, multiplier = expand(model, X, "flops", 4 * base)
    cost = ResourceRegularizer(wide, X).cost()
    assert 1.8 < multiplier < 2.5 and 3.0 * base < cost <= 4 * base
    assert wide(X).shape == model(X).shape


def test_resize_sets_exact_group_sizes():
    model = Gated().eval()
    resized = resize(model, X, {"conv1": 3, "conv2": 20})
    assert (resized.conv1.out_channels, resized.gate1.logits.numel(), resized.conv2.in_channels) == (3, 3, 3)
    assert (resized.conv2.out_channels, resized.head.in_features) == (20, 20)
    assert model.conv1.out_channels == 8  # the original is untouched


def test_budget_below_the_smallest_network_is_an_error():
    with pytest.raises(ValueError, match="even the network at 1/16 width costs"):
        expand(TOPOLOGIES["plain"]().eval(), X, "flops", 10.0)
