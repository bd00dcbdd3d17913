"""Small networks of each topology MorphNet must handle (shared by the morphnet tests)."""

import torch
from torch import nn

from sparsemod.morphnet import LogisticSigmoidGate


def cbr(c_in, c_out, k=3, groups=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class PlainCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(cbr(3, 8), cbr(8, 12), nn.MaxPool2d(2), cbr(12, 16))
        self.head = nn.Linear(16 * 4 * 4, 5)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 8)
        self.conv1, self.conv2 = cbr(8, 6), nn.Sequential(nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.conv3, self.conv4 = cbr(8, 6), nn.Sequential(nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.conv2(self.conv1(x)))
        x = torch.relu(x + self.conv4(self.conv3(x)))
        return self.head(x.mean((2, 3)))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1, depthwise 3x3, project 1x1 (+ skip)."""

    def __init__(self, channels, expand):
        super().__init__()
        hidden = channels * expand
        self.expand, self.depthwise = cbr(channels, hidden, 1), cbr(hidden, hidden, 3, groups=hidden)
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.project(self.depthwise(self.expand(x)))


class MobileNetV2Like(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 8)
        self.blocks = nn.Sequential(InvertedResidual(8, 3), InvertedResidual(8, 2))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 6)
        self.left, self.right = cbr(6, 5), cbr(6, 7, 1)
        self.mix = cbr(12 + 6, 9)
        self.head = nn.Linear(9, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.left(x), x, self.right(x)], dim=1)
        return self.head(self.mix(x).mean((2, 3)))


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.gate1 = nn.Conv2d(3, 8, 3, padding=1), LogisticSigmoidGate(8)
        self.conv2, self.gate2 = nn.Conv2d(8, 10, 3, padding=1), LogisticSigmoidGate(10)
        self.head = nn.Linear(10, 5)

    def forward(self, x):
        x = self.gate1(torch.relu(self.conv1(x)))
        x = self.gate2(torch.relu(self.conv2(x)))
        return self.head(x.mean((2, 3)))


TOPOLOGIES = {"plain": PlainCNN, "residual": Residual, "mobilenetv2": MobileNetV2Like, "concat": Concat}


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.data = torch.rand(n, generator=generator) + 0.5
            module.bias.data = torch.randn(n, generator=generator) * 0.1
            module.running_mean = torch.randn(n, generator=generator) * 0.1
            module.running_var = torch.rand(n, generator=generator) + 0.5
