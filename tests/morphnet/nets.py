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
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = module.num_features
            module.weight.data = torch.rand(n, generator=generator) + 0.5
            module.bias.data = torch.randn(n, generator=generator) * 0.1
            module.running_mean = torch.randn(n, generator=generator) * 0.1
            module.running_var = torch.rand(n, generator=generator) + 0.5


def conv_bn(c_in, c_out, kernel, stride=1, groups=1, bn=True):
    padding = "same" if stride == 1 else tuple(k // 2 for k in kernel)
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=not bn)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU()) if bn else nn.Sequential(conv, nn.ReLU())


class MorphNetDepthwise(nn.Module):
    """morph-net's GammaFlopsWithDepthwiseConvTest network (flop_regularizer_test.py) on a
    1x3x17x19 image: dw1 (3x3 depthwise on the image) -> conv1 (13, 7x5); conv2 (23, 1x1)
    -> dw2 (5x5 depthwise); concat -> conv3 (29, 3x3, stride 2).  A pooled linear head
    follows, so that conv3's channels are prunable as in morph-net (which ends at conv3)."""

    def __init__(self, depthwise_batchnorm: bool = True):
        super().__init__()
        self.dw1 = conv_bn(3, 3, (3, 3), groups=3, bn=depthwise_batchnorm)
        self.conv1 = conv_bn(3, 13, (7, 5))
        self.conv2 = conv_bn(3, 23, (1, 1))
        self.dw2 = conv_bn(23, 23, (5, 5), groups=23, bn=depthwise_batchnorm)
        self.conv3 = conv_bn(36, 29, (3, 3), stride=2)
        self.head = nn.Linear(29, 5)

    def forward(self, x):
        x = torch.cat([self.conv1(self.dw1(x)), self.dw2(self.conv2(x))], dim=1)
        return self.head(self.conv3(x).mean((2, 3)))


def set_gammas(model: nn.Module, gammas: dict[str, list[float]]) -> None:
    """Batch-norm scales of the named blocks (index 1 of each Sequential)."""
    for name, values in gammas.items():
        model.get_submodule(name)[1].weight.data = torch.tensor(values)
