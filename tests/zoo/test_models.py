"""Every zoo model builds, runs on 32x32, and survives regularize → prune → forward with its
residual / depthwise / concat groups consistent (pruned outputs equal the masked ones)."""

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "morphnet"))
from nets import randomise_batchnorm  # noqa: E402
from test_prune import kill  # noqa: E402

from sparsemod.morphnet import ResourceRegularizer, prune  # noqa: E402
from sparsemod.zoo import MODELS, build, from_structure  # noqa: E402

X = torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gamma_regularize_prune_forward(name):
    model = build(name).eval()
    randomise_batchnorm(model)
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=1e-3)
    assert reg.regularization_term().requires_grad
    kill(model, reg)
    masked = model(X)
    small = prune(model, reg, X)
    assert torch.allclose(small(X), masked, atol=1e-4)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["resnet20", "mobilenetv2", "densenet"])
def test_gate_variant_prunes_closed_gates(name):
    from sparsemod.morphnet import LogisticSigmoidGate

    model = build(name, gates=True).eval()
    gates = [m for m in model.modules() if isinstance(m, LogisticSigmoidGate)]
    for gate in gates:
        gate.logits.data[::2] = -1.0  # close every other channel of every producer
    reg = ResourceRegularizer(model, X, "gates", "flops")
    masked = model(X)
    small = prune(model, reg, X)
    assert not any(isinstance(m, LogisticSigmoidGate) for m in small.modules())
    assert torch.allclose(small(X), masked, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet20", "vgg11", "densenet"])
def test_from_structure_gives_exactly_the_json_counts(name, tmp_path):
    model = build(name).eval()
    randomise_batchnorm(model)
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=1e-3)
    kill(model, reg, every=2)
    path = tmp_path / "learned.json"
    path.write_text(json.dumps({"before": ResourceRegularizer(build(name), X).alive_counts(),
                                "after": reg.alive_counts()}))
    small = from_structure(name, path)
    for layer, count in reg.alive_counts().items():
        module = small.get_submodule(layer)
        assert (module.out_channels if isinstance(module, nn.Conv2d) else module.out_features) == count
    assert small(X).shape == (2, 10)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="model: expected one of resnet20"):
        build("alexnet")
