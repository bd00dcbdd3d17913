"""Sequence data: variable-length sequences, the left-padding ``collate_fn``, the splitter.

A batch is a dense ``(batch, max_len, features)`` tensor: each sequence is cut to its last
``max_len`` steps or padded with zeros *on the left*, so a recurrent layer's last step is
always the sequence's real last step.  (Packing with ``pack_padded_sequence`` would do the
same in float, but a packed sequence cannot go through the traced, quantized deployed
graph, which must see one fixed shape.)  ``splitter = true`` instead chops every sequence
into windows of ``max_len`` steps, each window carrying the sequence's label (SpArSe's
splitter).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from sparsemod.data import DataBundle, split_indices


class SequenceDataset(Dataset):
    """Sequences of shape (steps_i, features) with one label each."""

    def __init__(self, sequences: Sequence[torch.Tensor], labels: Sequence[int]):
        self.sequences, self.labels = list(sequences), [int(y) for y in labels]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], self.labels[index]


def left_pad(max_len: int) -> Callable[[list], tuple[torch.Tensor, torch.Tensor]]:
    """collate_fn: the last ``max_len`` steps of each sequence, zero-padded on the left."""
    def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        features = batch[0][0].shape[1]
        out = torch.zeros(len(batch), max_len, features)
        for row, (sequence, _) in enumerate(batch):
            tail = sequence[-max_len:]
            out[row, max_len - len(tail):] = tail
        return out, torch.tensor([label for _, label in batch])

    return collate


def split_windows(dataset: SequenceDataset, max_len: int) -> SequenceDataset:
    """Every sequence cut into consecutive windows of ``max_len`` steps (the last one may be
    shorter and is padded by the collate_fn), each with the sequence's label."""
    sequences, labels = [], []
    for sequence, label in zip(dataset.sequences, dataset.labels):
        for start in range(0, len(sequence), max_len):
            sequences.append(sequence[start:start + max_len])
            labels.append(label)
    return SequenceDataset(sequences, labels)


def prepare_sequences(data: DataBundle, max_len: int, splitter: bool) -> DataBundle:
    """The bundle one trial trains on: windows (splitter) or whole sequences, left-padded."""
    train, val, test = data.train, data.val, data.test
    if splitter:  # a sequence example's splits are SequenceDatasets
        train, val, test = (split_windows(cast(SequenceDataset, part), max_len) for part in (train, val, test))
    return DataBundle(train, val, test, (max_len, data.input_shape[-1]), data.num_classes, left_pad(max_len))


def synthetic_frequencies(seed: int, count: int = 900, classes: int = 3) -> DataBundle:
    """A made-up variable-length task: which of ``classes`` frequencies a noisy two-channel
    oscillation has; 10-60 steps each.  70 / 15 / 15 split."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for _ in range(count):
        label = int(rng.integers(classes))
        steps = int(rng.integers(10, 61))
        t = np.arange(steps)
        omega, phase = 2 * math.pi * (label + 1) / 12, rng.uniform(0, 2 * math.pi)
        signal = np.stack([np.sin(omega * t + phase), np.cos(omega * t + phase)], axis=1)
        sequences.append(torch.tensor(signal + 0.3 * rng.standard_normal(signal.shape), dtype=torch.float32))
        labels.append(label)
    train, val, test = split_indices(count, (0.15, 0.15), seed)
    pick = lambda idx: SequenceDataset([sequences[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return DataBundle(pick(train), pick(val), pick(test), (60, 2), classes)


def rows_as_sequences(images: DataBundle) -> DataBundle:
    """An image bundle read row by row: (1, H, W) images become H steps of W features."""
    def convert(part) -> SequenceDataset:
        x, y = part.tensors
        return SequenceDataset(list(x[:, 0]), y.tolist())

    height, width = images.input_shape[1:]
    return DataBundle(convert(images.train), convert(images.val), convert(images.test),
                      (height, width), images.num_classes)
