"""SpArSe-style CNN search space (Fedorov et al. 2019, Sec. 4) and its network builder.

Blocks of conv layers (standard or depthwise-separable, optionally with a 1x1 skip path
around the block), each block ending in a 2x downsampling (max / average pooling or a
strided last conv), then fully connected layers.  ``MORPHISMS`` lists the moves the
morphism rounds may make on these parameters.

An optional ``stem`` parameter downsamples 2x before the first block's full-resolution
activations exist: ``pool`` (2x2 average pooling of the input) or ``strided`` (the first
conv has stride 2).  A chain's working memory is max over layers of (input + output) bytes
(SpArSe), so on a 28x28 int8 input (784 B) a 2 KB budget leaves a first layer at full
resolution at most one channel.
``examples/mcu.py`` searches it, with ranges sized for microcontroller budgets.
Data: scikit-learn's bundled ``digits`` (default, no files), ``mnist`` (IDX files),
``cifar10`` and ``cifar2`` (CIFAR-10 python pickles) from ``data_dir``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sparsemod.data import DataBundle, DataError, load_cifar, load_digits, load_mnist
from sparsemod.morphisms import add_skip, deepen, enlarge, step, switch, widen
from sparsemod.space import Choice, Float, Int

SPACE = [
    Int("blocks", 1, 3),
    Int("layers", 1, 3),  # conv layers per block
    Int("filters", 4, 64, log=True),  # filters of the first block
    Float("growth", 1.0, 2.0),  # filters multiply by this from block to block
    Choice("kernel", (3, 5)),
    Choice("conv_type", ("standard", "separable")),
    Choice("downsample", ("max", "avg", "strided")),
    Choice("skip", (False, True)),  # a 1x1 conv path around each block's conv layers
    Int("fc_layers", 0, 2),
    Int("fc_width", 8, 128, log=True),
    Float("dropout", 0.0, 0.5),
    Float("lr", 1e-3, 3e-2, log=True),
    Choice("batch_size", (16, 32, 64, 128)),
]

DATASETS = ("digits", "mnist", "cifar10", "cifar2")

MORPHISMS = [
    # function-preserving
    deepen("layers", high=3), widen("filters", 1.5, high=64), enlarge("kernel", (3, 5)),
    add_skip("skip"), deepen("fc_layers", high=2, minimum=1), widen("fc_width", 1.5, high=128),
    # the original tool's parameter moves
    step("blocks", +1, 1, 3), step("blocks", -1, 1, 3), step("layers", -1, 1, 3),
    step("fc_layers", -1, 0, 2), step("fc_layers", +1, 0, 2),
    switch("downsample", ("max", "avg", "strided")), switch("conv_type", ("standard", "separable")),
]


def load_data(dataset: str, data_dir: Path | None, seed: int) -> DataBundle:
    if dataset == "digits":
        return load_digits(seed)
    if dataset == "mnist":
        return load_mnist(data_dir, seed)
    if dataset in ("cifar10", "cifar2"):
        return load_cifar(data_dir, seed, two_class=dataset == "cifar2")
    raise DataError(f"dataset {dataset!r}: expected one of {', '.join(DATASETS)}")


def conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]


def conv_layer(c_in: int, c_out: int, kernel: int, stride: int, separable: bool) -> list[nn.Module]:
    if not separable:
        return conv_bn_relu(c_in, c_out, kernel, stride)
    return conv_bn_relu(c_in, c_in, kernel, stride, groups=c_in) + conv_bn_relu(c_in, c_out, 1)


class Block(nn.Module):
    """A block's conv layers, plus (``skip``) a strided-as-needed 1x1 conv path around them."""

    def __init__(self, layers: list[nn.Module], skip: nn.Module | None):
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + self.skip(x) if self.skip is not None else out


STEMS = ("none", "pool", "strided")


def build(params: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    stem = params.get("stem", "none")  # absent from SPACE: no stem
    if stem == "pool":
        layers.append(nn.AvgPool2d(2))
        height, width = height // 2, width // 2
    c_in = channels
    for block in range(params["blocks"]):
        c_out = max(1, round(params["filters"] * params["growth"] ** block))
        body, block_in, block_stride = [], c_in, 1
        for layer in range(params["layers"]):
            stride = 2 if params["downsample"] == "strided" and layer == params["layers"] - 1 else 1
            if stem == "strided" and block == 0 and layer == 0:
                stride *= 2
            body += conv_layer(c_in, c_out, params["kernel"], stride,
                               params["conv_type"] == "separable" and c_in > 1)
            # an odd kernel with padding k // 2 and stride s: out = (in - 1) // s + 1 (rounds up)
            height, width = (height - 1) // stride + 1, (width - 1) // stride + 1
            block_stride *= stride
            c_in = c_out
        skip = (nn.Sequential(nn.Conv2d(block_in, c_out, 1, stride=block_stride, bias=False),
                              nn.BatchNorm2d(c_out)) if params.get("skip") else None)
        layers.append(Block(body, skip))
        if params["downsample"] in ("max", "avg"):
            layers.append(nn.MaxPool2d(2) if params["downsample"] == "max" else nn.AvgPool2d(2))
            height, width = height // 2, width // 2  # a 2x2 pooling rounds down
    layers.append(nn.Flatten())
    features = c_in * height * width
    for _ in range(params["fc_layers"]):
        layers += [nn.Linear(features, params["fc_width"]), nn.ReLU(), nn.Dropout(params["dropout"])]
        features = params["fc_width"]
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
