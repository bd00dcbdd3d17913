"""examples/cnn.py's stem: 2x downsampling before the first block's full-resolution
activations, so that a 28x28 input fits kilobytes of working memory (SpArSe's budgets)."""

import pytest
import torch

from sparsemod.costs import working_memory
from sparsemod.problem import load_problem
from sparsemod.quantize import quantize

CNN = load_problem("cnn")
BASE = dict(blocks=2, layers=1, filters=8, growth=1.75, kernel=3, conv_type="standard",
            downsample="max", skip=False, fc_layers=0, fc_width=8, dropout=0.0)


def int8_working_memory(params: dict) -> int:
    torch.manual_seed(0)
    model = CNN.build(params, (1, 28, 28), 10).eval()
    example = torch.randn(1, 1, 28, 28)
    return working_memory(quantize(model, "post", [torch.randn(8, 1, 28, 28)], example), example)


@pytest.mark.parametrize("params, expected", [
    # no stem: conv 1->8 at 28x28 writes 8*784 B, max pooling reads them and writes 8*196
    (BASE, 8 * 784 + 8 * 196),
    # pool: the conv 1->8 runs at 14x14 (196 B in, 8*196 out); then max pooling 1568 -> 392
    (dict(BASE, stem="pool"), 8 * 196 + 8 * 49),
    # strided 5x5 first conv 1->6: 784 B in, 6*14*14 out
    (dict(BASE, stem="strided", filters=6, growth=2.5, kernel=5), 784 + 6 * 196),
])
def test_stem_downsamples_before_the_first_full_resolution_activation(params, expected):
    assert int8_working_memory(params) == expected


@pytest.mark.parametrize("stem", ["pool", "strided"])
@pytest.mark.parametrize("downsample", ["max", "avg", "strided"])
def test_stem_with_every_downsampling_and_skips_gives_the_right_flatten_width(stem, downsample):
    params = dict(BASE, stem=stem, downsample=downsample, blocks=3, layers=2, skip=True, fc_layers=1)
    model = CNN.build(params, (1, 28, 28), 10).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert CNN.build(params, (1, 27, 27), 10).eval()(torch.randn(2, 1, 27, 27)).shape == (2, 10)


def test_mcu_space_builds_on_mnist_and_its_morphisms_stay_inside_it():
    import random

    from sparsemod.space import Choice, Float, Int

    mcu = load_problem("mcu")
    rng = random.Random(0)
    bounds = {p.name: p for p in mcu.space}
    for _ in range(30):
        params = {p.name: rng.choice(p.values) if isinstance(p, Choice) else
                  rng.randint(p.low, p.high) if isinstance(p, Int) else rng.uniform(p.low, p.high)
                  for p in mcu.space}
        assert mcu.build(params, (1, 28, 28), 10).eval()(torch.randn(1, 1, 28, 28)).shape == (1, 10)
        for morphism in mcu.morphisms:
            child = morphism(params)
            for name, value in (child or {}).items():
                p = bounds[name]
                assert value in p.values if isinstance(p, Choice) else p.low <= value <= p.high, (morphism.name, name)
    assert isinstance(bounds["lr"], Float) and bounds["stem"].values == ("none", "pool", "strided")
