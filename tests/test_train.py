"""The trainer's recipe options: random pixel shifts and the cosine learning-rate schedule."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sparsemod.trial.train import random_shift, train


def one_dot(n: int, size: int = 9) -> torch.Tensor:
    """n images of zeros with a single 1 in the centre."""
    images = torch.zeros(n, 1, size, size)
    images[:, 0, size // 2, size // 2] = 1.0
    return images


def displacement(image: torch.Tensor) -> tuple[int, int]:
    (y, x), = (image[0] == 1.0).nonzero().tolist()
    return y - image.shape[-2] // 2, x - image.shape[-1] // 2


def test_random_shift_moves_each_image_by_every_offset_within_the_range_only():
    torch.manual_seed(0)
    shifted = random_shift(one_dot(400), 2)
    assert shifted.shape == (400, 1, 9, 9)
    assert (shifted.sum(dim=(1, 2, 3)) == 1.0).all()  # the dot moved, nothing else appeared
    seen = {displacement(image) for image in shifted}
    assert seen == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


def test_random_shift_fills_with_the_edge_and_refuses_non_images():
    torch.manual_seed(0)
    background = torch.full((50, 1, 6, 6), -0.4)  # a standardised background is not 0
    assert torch.equal(random_shift(background, 1), background)
    with pytest.raises(ValueError, match=r"needs image batches \(N, C, H, W\).*set shift = 0"):
        random_shift(torch.zeros(4, 10), 1)


class Recorder(nn.Module):
    """A linear classifier that keeps every batch it is trained on."""

    def __init__(self, features: int):
        super().__init__()
        self.linear = nn.Linear(features, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1))


@pytest.mark.parametrize("shift", [0, 1])
def test_train_shifts_the_training_images_by_the_configured_pixels(shift):
    data = TensorDataset(one_dot(64), torch.zeros(64, dtype=torch.long))
    model = Recorder(81)
    train(model, data, {"lr": 0.01, "batch_size": 16}, 2, seed=0, shift=shift)
    seen = {displacement(image) for batch in model.seen for image in batch}
    assert seen == {(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)}


def learning_rates(monkeypatch, **kwargs) -> list[float]:
    """The learning rate of every Adam step of a short training run."""
    rates = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kw):
        rates.append(self.param_groups[0]["lr"])
        return step(self, *args, **kw)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    data = TensorDataset(torch.randn(40, 3), torch.randint(0, 2, (40,)))
    train(nn.Linear(3, 2), data, {"lr": 0.02, "batch_size": 10}, 3, seed=0, **kwargs)
    return rates


def test_cosine_schedule_follows_the_formula_per_step(monkeypatch):
    rates = learning_rates(monkeypatch, schedule="cosine")
    total = 3 * 4  # epochs x batches
    assert rates == pytest.approx([0.02 * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)])
    assert learning_rates(monkeypatch, schedule="constant") == [0.02] * total
