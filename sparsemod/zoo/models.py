"""Standard CIFAR-style architectures for 32x32 inputs, written here (torchvision does not
import beside this torch).  Every conv is followed by BatchNorm (so Gamma works); with
``gates=True`` a FiGS :class:`~sparsemod.morphnet.LogisticSigmoidGate` follows every
conv + BatchNorm (+ ReLU), so each channel's every producer is gated (a residual stream's
channel dies only when all its producers' gates close).

- ``resnet20`` / ``resnet56``: He et al. 2016's CIFAR ResNets (3 stages of 16/32/64 channels,
  (depth − 2) / 6 basic blocks each, 1x1 projection shortcuts where the shape changes);
- ``vgg11`` / ``vgg16``: VGG with BatchNorm, one linear classifier on the 1x1x512 map;
- ``mobilenetv2``: Sandler et al. 2018's inverted residuals, CIFAR strides (32x32 → 4x4);
- ``densenet``: a small DenseNet (3 dense blocks of 6 conv layers, growth 12, transitions
  halving channels), post-activation so each conv's BatchNorm scales its own outputs.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from sparsemod.morphnet.gates import LogisticSigmoidGate


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
            activation: bool = True, gate: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if activation:
        layers.append(nn.ReLU())
    if gate:
        layers.append(LogisticSigmoidGate(c_out))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, gates: bool):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, gate=gates)
        self.conv2 = conv_bn(c_out, c_out, 3, activation=False, gate=gates)
        self.shortcut = (conv_bn(c_in, c_out, 1, stride, activation=False, gate=gates)
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, gates: bool = False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        self.stem = conv_bn(in_channels, 16, gate=gates)
        stages, c_in = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for index in range(blocks):
                stages.append(BasicBlock(c_in, width, 2 if stage and index == 0 else 1, gates))
                c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


VGG_LAYERS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, gates: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for entry in VGG_LAYERS[depth]:
            if isinstance(entry, str):  # "M"
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(conv_bn(c_in, entry, gate=gates))
                c_in = entry
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, gates: bool):
        super().__init__()
        hidden = c_in * expand
        layers = [conv_bn(c_in, hidden, 1, gate=gates)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, gate=gates),
                   conv_bn(hidden, c_out, 1, activation=False, gate=gates)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


# (expansion t, channels c, repeats n, first stride s); CIFAR: the first two strides are 1
MOBILENETV2_LAYERS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, gates: bool = False):
        super().__init__()
        self.stem = conv_bn(in_channels, 32, gate=gates)
        blocks, c_in = [], 32
        for expand, width, repeats, stride in MOBILENETV2_LAYERS:
            for index in range(repeats):
                blocks.append(InvertedResidual(c_in, width, stride if index == 0 else 1, expand, gates))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.last = conv_bn(c_in, 1280, 1, gate=gates)
        self.head = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.last(self.blocks(self.stem(x))).mean((2, 3)))


class DenseBlock(nn.Module):
    def __init__(self, c_in: int, layers: int, growth: int, gates: bool):
        super().__init__()
        self.layers = nn.ModuleList(conv_bn(c_in + i * growth, growth, gate=gates) for i in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class DenseNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, gates: bool = False,
                 layers: int = 6, growth: int = 12):
        super().__init__()
        c = 2 * growth
        self.stem = conv_bn(in_channels, c, gate=gates)
        stages: list[nn.Module] = []
        for index in range(3):
            stages.append(DenseBlock(c, layers, growth, gates))
            c += layers * growth
            if index < 2:
                stages += [conv_bn(c, c // 2, 1, gate=gates), nn.AvgPool2d(2)]
                c //= 2
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet20": lambda **kw: ResNet(20, **kw),
    "resnet56": lambda **kw: ResNet(56, **kw),
    "vgg11": lambda **kw: VGG(11, **kw),
    "vgg16": lambda **kw: VGG(16, **kw),
    "mobilenetv2": MobileNetV2,
    "densenet": DenseNet,
}


def build(name: str, num_classes: int = 10, in_channels: int = 3, gates: bool = False) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {name!r}")
    return MODELS[name](num_classes=num_classes, in_channels=in_channels, gates=gates)
