import json

import pytest
import torch

from sparsemod.zoo import from_structure
from sparsemod.zoo.__main__ import main


@pytest.mark.parametrize("extra", [[], ["--retrain"]])
def test_command_writes_structures_and_prints_the_table(tmp_path, capsys, extra):
    code = main(["--model", "resnet20", "--dataset", "digits", "--limit", "64", "--epochs", "2",
                 "--finetune", "1", "--batch-size", "32", "--strength", "1e-7",
                 "--log-dir", str(tmp_path), *extra])
    assert code == 0
    out = capsys.readouterr().out
    for row in ("FLOPs", "parameters", "model size (KB, float32)", "latency on V100", "test accuracy"):
        assert row in out
    checkpoints = sorted((tmp_path / "learned_structure").glob("alive_*.json"))
    assert len(checkpoints) == 2  # one per epoch
    final = json.loads((tmp_path / "learned_structure" / "final.json").read_text())
    assert final["before"]["stem.0"] == 16 and set(final["after"]) == set(final["before"])
    small = from_structure("resnet20", tmp_path / "learned_structure" / "final.json", 10, 1)
    assert small.stem[0].out_channels == final["after"]["stem.0"]
    assert small(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_bad_choice_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "resnet20", "--target", "joules"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'joules'" in err


def test_missing_data_is_one_line(tmp_path, capsys):
    assert main(["--model", "vgg11", "--dataset", "cifar10", "--data-dir", str(tmp_path)]) == 2
    assert "CIFAR-10 files missing" in capsys.readouterr().err
