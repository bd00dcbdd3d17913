"""Data sets read from files the user has (nothing is downloaded at run time).

Every loader returns a :class:`DataBundle`: train / validation / test datasets plus the input
shape and class count the builder needs.  The search optimises on validation only; the test
split is reported, never optimised (the original tool optimised on test: a leak).
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from sparsemod.errors import DataError


@dataclass
class DataBundle:
    train: Dataset
    val: Dataset
    test: Dataset
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    num_classes: int
    collate_fn: Callable | None = None


def check_splits(bundle: DataBundle) -> None:
    """Every split must hold an example: an empty one would fail (train) or score
    meaninglessly (val, test) in every trial, so it is refused before the search starts."""
    sizes = {name: len(getattr(bundle, name)) for name in ("train", "val", "test")}
    empty = [name for name, size in sizes.items() if size == 0]
    if empty:
        counts = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise DataError(f"empty split: {', '.join(empty)} ({counts} examples); every split "
                        "needs at least one example")


def split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, ...]:
    """Seeded shuffle of ``range(n)`` cut into train / val / test with the given val, test fractions."""
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = (int(round(f * n)) for f in fractions)
    return order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test]


def tensor_bundle(
    images: np.ndarray, labels: np.ndarray, parts: tuple[np.ndarray, ...], num_classes: int
) -> DataBundle:
    """Standardise with the training part's mean / std, then wrap each part as tensors."""
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    train_idx = torch.as_tensor(parts[0])
    if len(train_idx) > 1:  # too few to standardise: check_splits refuses such data
        mean, std = x[train_idx].mean(), x[train_idx].std().clamp_min(1e-8)
        x = (x - mean) / std
    train, val, test = (TensorDataset(x[torch.as_tensor(p)], y[torch.as_tensor(p)]) for p in parts)
    return DataBundle(train, val, test, tuple(x.shape[1:]), num_classes)


def load_digits(seed: int) -> DataBundle:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): 70 / 15 / 15 split."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = digits.images.astype(np.float32)[:, None]  # (n, 1, 8, 8)
    parts = split_indices(len(images), (0.15, 0.15), seed)
    return tensor_bundle(images, digits.target, parts, 10)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format), optionally gzipped."""
    with _open(path) as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).copy()
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: expected {dims} bytes of data, found {data.size}")
    return data.reshape(dims)


def load_mnist(data_dir: Path | None, seed: int) -> DataBundle:
    """MNIST from IDX files in ``data_dir`` (``.gz`` or not).

    With the 60k training files present: 55k train / 5k val (seeded) and the 10k test set.
    With only the 10k ``t10k-*`` files: a seeded 8k / 1k / 1k split of them.
    """
    folder = _require_dir(data_dir, "mnist", "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
    test_images, test_labels = _find(folder, "t10k-images-idx3-ubyte"), _find(folder, "t10k-labels-idx1-ubyte")
    if test_images is None or test_labels is None:
        raise DataError(
            f"{folder}: MNIST files not found; expected t10k-images-idx3-ubyte[.gz] and "
            "t10k-labels-idx1-ubyte[.gz] (and optionally train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz])"
        )
    x_test, y_test = read_idx(test_images), read_idx(test_labels)
    train_images, train_labels = _find(folder, "train-images-idx3-ubyte"), _find(folder, "train-labels-idx1-ubyte")
    if train_images is not None and train_labels is not None:
        x_train, y_train = read_idx(train_images), read_idx(train_labels)
        images = np.concatenate([x_train, x_test])[:, None].astype(np.float32) / 255
        labels = np.concatenate([y_train, y_test])
        n_train = len(x_train)
        order = np.random.default_rng(seed).permutation(n_train)
        parts: tuple[np.ndarray, ...] = (order[5000:], order[:5000], np.arange(n_train, n_train + len(x_test)))
    else:
        images = x_test[:, None].astype(np.float32) / 255
        labels = y_test
        parts = split_indices(len(images), (0.1, 0.1), seed)
    return tensor_bundle(images, labels, parts, 10)


CIFAR10_VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck


def load_cifar(data_dir: Path | None, seed: int, two_class: bool = False) -> DataBundle:
    """CIFAR-10 from the python pickle batches (``data_batch_1..5``, ``test_batch``).

    45k train / 5k val (seeded) / the 10k test batch.  ``two_class``: CIFAR-2, the binary
    relabelling used for microcontroller budgets (SpArSe): vehicles (1) vs animals (0).
    """
    expected = "data_batch_1 .. data_batch_5 and test_batch (cifar-10-batches-py)"
    folder = _require_dir(data_dir, "cifar10", expected)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder}: CIFAR-10 files missing: {', '.join(missing)}; expected {expected}")
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"]))
    x = np.concatenate(images).astype(np.float32) / 255
    y = np.concatenate(labels)
    if two_class:
        y = np.isin(y, CIFAR10_VEHICLES).astype(np.int64)
    order = np.random.default_rng(seed).permutation(50000)
    parts = (order[5000:], order[:5000], np.arange(50000, 60000))
    return tensor_bundle(x, y, parts, 2 if two_class else 10)


def _require_dir(data_dir: Path | None, dataset: str, expected: str) -> Path:
    if data_dir is None:
        raise DataError(f"dataset {dataset!r} needs data_dir = a folder holding {expected}")
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data_dir not found; expected a folder holding {expected}")
    return data_dir
