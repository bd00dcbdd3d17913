"""Sequence models: collate, splitter, recurrent costs and a tiny search with and without
the splitter."""

import pandas as pd
import pytest
import torch
from conftest import write_config

from sparsemod.cli import main
from sparsemod.config import MorphNetSettings
from sparsemod.costs import Device, flops_per_layer
from sparsemod.problem import load_problem
from sparsemod.sequence import SequenceDataset, left_pad, split_windows, synthetic_frequencies
from sparsemod.trial.job import TrialConfig, TrialJob
from sparsemod.trial.run import run_trial


def test_left_pad_keeps_the_last_steps_and_pads_in_front():
    a, b = torch.ones(3, 2), torch.arange(10.0).view(5, 2)
    inputs, labels = left_pad(4)([(a, 1), (b, 0)])
    assert inputs.shape == (2, 4, 2) and labels.tolist() == [1, 0]
    assert inputs[0, 0].tolist() == [0, 0] and inputs[0, 1:].eq(1).all()
    assert torch.equal(inputs[1], b[-4:])


def test_splitter_windows_carry_their_label():
    data = SequenceDataset([torch.zeros(10, 2), torch.zeros(3, 2)], [2, 1])
    windows = split_windows(data, 4)
    assert [len(s) for s in windows.sequences] == [4, 4, 2, 3]
    assert windows.labels == [2, 2, 2, 1]


def test_synthetic_task_is_variable_length_and_seeded():
    data = synthetic_frequencies(0)
    lengths = {len(s) for s in data.train.sequences}
    assert min(lengths) >= 10 and max(lengths) <= 60 and len(lengths) > 20
    assert torch.equal(synthetic_frequencies(0).test.sequences[0], data.test.sequences[0])


def test_lstm_flops_are_per_step_times_steps():
    model = load_problem("sequence").build(dict(cell="lstm", layers=2, hidden=8, conv_channels=0,
                                                conv_kernel=3, fc_width=4, lr=0.01, batch_size=16,
                                                max_len=5), (5, 3), 2)
    flops = flops_per_layer(model, torch.zeros(1, 5, 3))
    # layer 1: 2·4 gates·8·(3 + 8) = 704 per step, layer 2: 2·4·8·(8 + 8) = 1024; 5 steps
    assert flops["rnn"] == 5 * (704 + 1024)


def test_pruning_a_recurrent_network_is_a_clear_failed_trial():
    params = dict(cell="gru", layers=1, hidden=8, conv_channels=8, conv_kernel=3, fc_width=8,
                  lr=0.01, batch_size=32, max_len=60)
    config = TrialConfig("dynamic", 2, Device(1e9), 1, False,
                         MorphNetSettings("gamma", "flops", 0.01, 1.0, 0, None))
    result = run_trial(TrialJob(0, "0_0", "sobol", params, 1, 0), load_problem("sequence"),
                       synthetic_frequencies(0), config)
    assert result.status == "failed" and "does not support LSTM / GRU / RNN" in result.reason


@pytest.mark.parametrize("splitter", ["false", "true"])
def test_tiny_sequence_search(tmp_path, splitter):
    config = write_config(tmp_path, train={"example": "sequence", "dataset": "synthetic",
                                           "splitter": splitter, "r1": "2", "r2": "1",
                                           "quant_scheme": "both"},
                          test={"splitter": splitter})
    assert main(["--config", str(config)]) == 0
    trials = pd.read_csv(tmp_path / "results" / "run" / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials["reason"].tolist()
    if splitter == "true":
        assert trials["max_len"].between(8, 32).all() and trials["max_len"].nunique() > 1
    else:
        assert (trials["max_len"] == 60).all()


def test_splitter_needs_an_example_that_prepares_data(config_file, capsys):
    config = config_file(train={"splitter": "true"}, test={"splitter": "true"})
    assert main(["--config", str(config)]) == 2
    assert "[TRAIN] splitter: expected false (cnn.py defines no prepare" in capsys.readouterr().err
