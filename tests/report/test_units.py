"""Units for people, rounded parameters and layer names, checked against hand-written values."""

import pytest
import torch
from torch import nn

from sparsemod.report.units import human, log_axis, named_layers, rounded


@pytest.mark.parametrize("metric, value, shown", [
    ("model_size", 32.0, "32 B"),             # not 0.03125 KB
    ("model_size", 1000.0, "1000 B"),
    ("model_size", 2867.0, "2.8 KB"),         # 2867 / 1024 = 2.7998
    ("working_memory", 2048.0, "2 KB"),
    ("model_size", 3 * 1024 ** 2, "3 MB"),
    ("latency", 0.000256, "256 µs"),          # not 0.000256 ms
    ("latency", 0.00486, "4.86 ms"),
    ("latency", 2.5, "2.5 s"),
    ("error", 0.035087719, "3.51 %"),
])
def test_each_value_in_its_own_unit(metric, value, shown):
    assert human(metric, value) == shown


def test_parameters_are_rounded_to_four_significant_digits():
    assert rounded(0.029999999999999995) == 0.03
    assert rounded(0.0018076776) == 0.001808
    assert rounded(64) == 64 and rounded("relu") == "relu" and rounded(2.0) == 2.0


def test_log_axis_only_for_positive_values_spanning_a_decade():
    assert log_axis([300.0, 2000.0, 40000.0])
    assert not log_axis([300.0, 2000.0])
    assert not log_axis([0.0, 5.0, 100.0])


def test_layers_are_named_by_kind_and_path_words_not_indices():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 5, 5), nn.BatchNorm2d(5)),
        nn.ReLU(),
        nn.ModuleDict({"body": nn.Conv2d(5, 5, 3, groups=5), "skip": nn.Conv2d(5, 8, 1)}),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    assert named_layers(model.state_dict()) == [
        ("conv1", "0.0", "5×5, 5 ch"),
        ("conv2 body", "2.body", "3×3, 5 ch"),
        ("conv3 skip", "2.skip", "1×1, 8 ch"),
        ("fc1", "4", "10 units"),
    ]
    recurrent = nn.ModuleDict({"rnn": nn.LSTM(8, 16), "head": nn.Linear(16, 4)})
    assert named_layers(recurrent.state_dict()) == [("lstm1 rnn", "rnn", "16 hidden"),
                                                    ("fc1 head", "head", "4 units")]
    assert named_layers({"weight": torch.zeros(3, 2)}) == [("fc1", "(model)", "3 units")]
