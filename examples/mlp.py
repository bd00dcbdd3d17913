"""A tabular search space: a BatchNorm MLP on scikit-learn's bundled breast-cancer data.

30 features per sample (so ``input_shape`` is ``(30,)``), 2 classes, 569 samples split
60/20/20 with the seed; each feature standardised with the training part's mean and std.
``deepen`` and ``widen`` grow the MLP's Linear layers as they grow convs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from torch import nn
from torch.utils.data import TensorDataset

from sparsemod.data import DataBundle, DataError
from sparsemod.morphisms import deepen, widen
from sparsemod.space import Choice, Float, Int

SPACE = [
    Int("layers", 1, 3),
    Int("width", 8, 128, log=True),
    Float("dropout", 0.0, 0.5),
    Float("lr", 1e-3, 3e-2, log=True),
    Choice("batch_size", (16, 32, 64)),
]

DATASETS = ("breast_cancer",)

MORPHISMS = [deepen("layers", high=3), widen("width", 1.5, high=128)]


def build(params: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    (features,) = input_shape  # one sample's shape, without the batch
    layers: list[nn.Module] = []
    for _ in range(params["layers"]):
        layers += [nn.Linear(features, params["width"]), nn.BatchNorm1d(params["width"]), nn.ReLU(),
                   nn.Dropout(params["dropout"])]
        features = params["width"]
    return nn.Sequential(*layers, nn.Linear(features, num_classes))


def load_data(dataset: str, data_dir: Path | None, seed: int) -> DataBundle:
    if dataset != "breast_cancer":
        raise DataError(f"dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    train, val, test = np.split(order, [int(0.6 * len(y)), int(0.8 * len(y))])
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-8
    x = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    parts = (TensorDataset(x[p], y[p]) for p in (train, val, test))
    return DataBundle(*parts, input_shape=(x.shape[1],), num_classes=2)
