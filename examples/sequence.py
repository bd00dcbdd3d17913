"""A sequence search space: LSTM / GRU layers with an optional 1-D conv front end (CNN-RNN).

Data (nothing downloaded): ``synthetic`` (variable-length, 10-60 steps, made here; the
default), ``digits_rows`` (scikit-learn digits read as 8 rows of 8), ``mnist_rows`` (MNIST
from IDX files in data_dir as 28 rows of 28).  ``max_len`` is searched when
``splitter = true`` (windows of max_len steps) and fixed otherwise.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from sparsemod.data import DataBundle, DataError, load_digits, load_mnist
from sparsemod.sequence import prepare_sequences, rows_as_sequences, synthetic_frequencies
from sparsemod.space import Choice, Fixed, Float, Int

DATASETS = ("synthetic", "digits_rows", "mnist_rows")
FIXED_MAX_LEN = 60  # without the splitter: long enough for every synthetic sequence


def search_space(splitter: bool) -> list:
    return [
        Choice("cell", ("lstm", "gru")),
        Int("layers", 1, 2),
        Int("hidden", 8, 64, log=True),
        Choice("conv_channels", (0, 8, 16, 32)),  # 0: no conv front end
        Choice("conv_kernel", (3, 5)),
        Int("fc_width", 8, 64, log=True),
        Float("lr", 1e-3, 3e-2, log=True),
        Choice("batch_size", (16, 32, 64)),
        Int("max_len", 8, 32) if splitter else Fixed("max_len", FIXED_MAX_LEN),
    ]


def load_data(dataset: str, data_dir: Path | None, seed: int) -> DataBundle:
    if dataset == "synthetic":
        return synthetic_frequencies(seed)
    if dataset == "digits_rows":
        return rows_as_sequences(load_digits(seed))
    if dataset == "mnist_rows":
        return rows_as_sequences(load_mnist(data_dir, seed))
    raise DataError(f"dataset {dataset!r}: expected one of {', '.join(DATASETS)}")


def prepare(data: DataBundle, params: dict, splitter: bool) -> DataBundle:
    """Per trial: cut or window the sequences to this trial's max_len."""
    return prepare_sequences(data, int(params["max_len"]), splitter)


class SequenceClassifier(nn.Module):
    def __init__(self, params: dict, features: int, num_classes: int):
        super().__init__()
        channels = params["conv_channels"]
        self.front = (nn.Sequential(nn.Conv1d(features, channels, params["conv_kernel"],
                                              padding=params["conv_kernel"] // 2), nn.ReLU())
                      if channels else None)
        rnn = nn.LSTM if params["cell"] == "lstm" else nn.GRU
        self.rnn = rnn(channels or features, params["hidden"], params["layers"], batch_first=True)
        self.head = nn.Sequential(nn.Linear(params["hidden"], params["fc_width"]), nn.ReLU(),
                                  nn.Linear(params["fc_width"], num_classes))

    def forward(self, x):  # x: (batch, steps, features)
        if self.front is not None:
            x = self.front(x.transpose(1, 2)).transpose(1, 2)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build(params: dict, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return SequenceClassifier(params, input_shape[-1], num_classes)
