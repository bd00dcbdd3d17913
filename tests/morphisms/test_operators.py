"""Every function-preserving operator gives child(x) == parent(x) before training, on
several architectures of examples/cnn.py; parents are never changed."""

import copy
import random
import sys

import pytest
import torch
from torch import nn

from sparsemod.morphisms import add_skip, deepen, enlarge, inherit, layer_widths, step, switch, widen
from sparsemod.morphisms.round import Candidate, draw_candidates, in_space
from sparsemod.morphnet import apply_structure
from sparsemod.morphnet.groups import ChannelGraph
from sparsemod.problem import load_problem

PROBLEM = load_problem("cnn")
MORPHISMS = next(m for k, m in sys.modules.items() if k.startswith("sparsemod_example_cnn")).MORPHISMS
BASE = dict(blocks=2, layers=1, filters=6, growth=1.5, kernel=3, conv_type="standard", downsample="max",
            skip=False, fc_layers=1, fc_width=16, dropout=0.1, lr=0.01, batch_size=32)
ARCHITECTURES = {
    "standard": BASE,
    "separable": {**BASE, "conv_type": "separable"},
    "strided+skip": {**BASE, "downsample": "strided", "layers": 2, "skip": True, "blocks": 3},
}
X = torch.randn(4, 1, 8, 8)


def trained_like(params: dict) -> nn.Module:
    torch.manual_seed(0)
    model = PROBLEM.build(params, (1, 8, 8), 10).eval()
    for module in model.modules():  # batch-norm statistics as after training
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


PRESERVING = {"deepen layers": deepen("layers", 3), "widen filters": widen("filters", 1.5, 64),
              "enlarge kernel": enlarge("kernel", (3, 5)), "add skip": add_skip("skip"),
              "deepen fc_layers": deepen("fc_layers", 2, minimum=1), "widen fc_width": widen("fc_width", 1.5, 128)}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("operator", sorted(PRESERVING))
def test_function_preserving(operator, architecture):
    morphism = PRESERVING[operator]
    parent_params = ARCHITECTURES[architecture]
    child_params = morphism(parent_params)
    if child_params is None:
        pytest.skip(f"{operator} does not apply to {architecture}")
    assert morphism.preserves
    parent = trained_like(parent_params)
    before = copy.deepcopy(parent.state_dict())
    child = PROBLEM.build(child_params, (1, 8, 8), 10).eval()
    inherit(parent, child, X[:1])
    assert torch.allclose(child(X), parent(X), atol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in parent.state_dict().items())  # parent intact
    assert sum(p.numel() for p in child.parameters()) > sum(p.numel() for p in parent.parameters())


def test_parameter_moves_copy_what_overlaps_and_run():
    parent = trained_like(BASE)
    for morphism in [step("blocks", +1, 1, 3), switch("downsample", ("max", "avg", "strided")),
                     switch("conv_type", ("standard", "separable")), step("fc_layers", -1, 0, 2)]:
        assert not morphism.preserves
        child = PROBLEM.build(morphism(BASE), (1, 8, 8), 10).eval()
        inherit(parent, child, X[:1])
        assert child(X).shape == (4, 10)
    child = PROBLEM.build(step("blocks", +1, 1, 3)(BASE), (1, 8, 8), 10).eval()
    inherit(parent, child, X[:1])  # the first block is the parent's, weight for weight
    assert torch.equal(child.get_submodule("0.body.0").weight, parent.get_submodule("0.body.0").weight)


def test_operators_respect_bounds_and_do_nothing_at_them():
    assert deepen("layers", 3)({**BASE, "layers": 3}) is None
    assert widen("filters", 1.5, 64)({**BASE, "filters": 64}) is None
    assert enlarge("kernel", (3, 5))({**BASE, "kernel": 5}) is None
    assert deepen("fc_layers", 2, minimum=1)({**BASE, "fc_layers": 0}) is None  # not an identity


def test_candidates_are_new_distinct_and_in_the_space():
    parents = {"1_0": BASE, "2_0": ARCHITECTURES["separable"]}
    found = draw_candidates(parents, MORPHISMS, PROBLEM.space, 20, [BASE], random.Random(0))
    assert 5 <= len(found) <= 20
    assert all(isinstance(c, Candidate) and c.parent in parents and c.operators for c in found)
    assert all(in_space(c.params, PROBLEM.space) and c.params != BASE for c in found)
    assert len({tuple(sorted(c.params.items())) for c in found}) == len(found)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("operator", sorted(PRESERVING))
def test_function_preserving_from_a_pruned_parent(operator, architecture):
    """A MorphNet-pruned parent (fewer channels than its parameters say) still passes its
    function on: the child is built at the morphed parameters' widths and the channels the
    parent lost are replicas of those it kept."""
    parent_params = ARCHITECTURES[architecture]
    child_params = PRESERVING[operator](parent_params)
    if child_params is None:
        pytest.skip(f"{operator} does not apply to {architecture}")
    parent = trained_like(parent_params)
    widths = layer_widths(parent)
    structure = {group.root: max(1, group.size // 2) for group in ChannelGraph(parent, X[:1]).groups}
    parent = apply_structure(parent, X[:1], structure).eval()
    assert layer_widths(parent) != widths
    child = PROBLEM.build(child_params, (1, 8, 8), 10).eval()
    inherit(parent, child, X[:1], parent_widths=widths)
    assert torch.allclose(child(X), parent(X), atol=1e-4)


def test_children_are_drawn_until_enough_fit_the_budget():
    """A tight budget keeps few children of parents at its edge (here: width + depth <= 8):
    one draw of 6 keeps fewer than 6, batches of draws keep 6, each new and distinct."""
    import random

    from sparsemod.morphisms import deepen, step, widen
    from sparsemod.morphisms.round import draw_candidates, draw_kept
    from sparsemod.space import Int

    space = [Int("width", 1, 64), Int("depth", 1, 8)]
    morphisms = [widen("width", 1.5, 64), deepen("depth", 8), step("width", -1, 1, 64), step("depth", -1, 1, 8)]
    parents = {f"{w}_0": {"width": w, "depth": 7 - w % 3} for w in range(1, 6)}
    seen = list(parents.values())

    def keep(params: dict) -> bool:
        return params["width"] + params["depth"] <= 8

    once = [c for c in draw_candidates(parents, morphisms, space, 6, seen, random.Random(0)) if keep(c.params)]
    kept = draw_kept(parents, morphisms, space, 6, seen, random.Random(0), keep)
    assert len(once) < 6 and len(kept) == 6
    assert all(keep(c.params) and c.params not in seen for c in kept)
    assert len({tuple(sorted(c.params.items())) for c in kept}) == 6
