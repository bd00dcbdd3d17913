"""SpArSe-style CNN search space (Fedorov et al. 2019, Sec. 4) and its network builder.

Blocks of conv layers (standard or depthwise-separable), each block ending in a 2x
downsampling (max / average pooling or a strided last conv), then fully connected layers.
Data: scikit-learn's bundled ``digits`` (default, no files), ``mnist`` (IDX files),
``cifar10`` and ``cifar2`` (CIFAR-10 python pickles) from ``data_dir``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from sparsemod.data import DataBundle, DataError, load_cifar, load_digits, load_mnist
from sparsemod.space import Choice, Float, Int

SPACE = [
    Int("blocks", 1, 3),
    Int("layers", 1, 3),  # conv layers per block
    Int("filters", 4, 64, log=True),  # filters of the first block
    Float("growth", 1.0, 2.0),  # filters multiply by this from block to block
    Choice("kernel", (3, 5)),
    Choice("conv_type", ("standard", "separable")),
    Choice("downsample", ("max", "avg", "strided")),
    Int("fc_layers", 0, 2),
    Int("fc_width", 8, 128, log=True),
    Float("dropout", 0.0, 0.5),
    Float("lr", 1e-3, 3e-2, log=True),
    Choice("batch_size", (16, 32, 64, 128)),
]

DATASETS = ("digits", "mnist", "cifar10", "cifar2")


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


def build(params: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    c_in = channels
    for block in range(params["blocks"]):
        c_out = max(1, round(params["filters"] * params["growth"] ** block))
        for layer in range(params["layers"]):
            strided = params["downsample"] == "strided" and layer == params["layers"] - 1
            layers += conv_layer(c_in, c_out, params["kernel"], 2 if strided else 1,
                                 params["conv_type"] == "separable" and c_in > 1)
            c_in = c_out
        if params["downsample"] == "max":
            layers.append(nn.MaxPool2d(2))
        elif params["downsample"] == "avg":
            layers.append(nn.AvgPool2d(2))
        # a stride-2 conv with "same" padding rounds up; a 2x2 pooling rounds down
        rounding = 1 if params["downsample"] == "strided" else 0
        height, width = (height + rounding) // 2, (width + rounding) // 2
    layers.append(nn.Flatten())
    features = c_in * height * width
    for _ in range(params["fc_layers"]):
        layers += [nn.Linear(features, params["fc_width"]), nn.ReLU(), nn.Dropout(params["dropout"])]
        features = params["fc_width"]
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
