"""examples/mlp.py, README's tabular example: Linear layers grow by deepen / widen with the
parent's function kept, and a whole search with morphism rounds runs on it."""

import pandas as pd
import pytest
import torch
from conftest import write_config
from torch import nn

from sparsemod.cli import main
from sparsemod.morphisms import inherit
from sparsemod.problem import load_problem

MLP = load_problem("mlp")
PARENT = {"layers": 2, "width": 16, "dropout": 0.2, "lr": 0.01, "batch_size": 32}


@pytest.mark.parametrize("operator", range(len(MLP.morphisms)))
def test_deepen_and_widen_keep_the_mlp_function(operator):
    torch.manual_seed(0)
    parent = MLP.build(PARENT, (30,), 2).eval()
    for module in parent.modules():  # batch-norm statistics as after training
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    child_params = MLP.morphisms[operator](PARENT)
    child = MLP.build(child_params, (30,), 2).eval()
    x = torch.randn(8, 30)
    inherit(parent, child, x[:1])
    assert sum(p.numel() for p in child.parameters()) > sum(p.numel() for p in parent.parameters())
    assert torch.allclose(child(x), parent(x), atol=1e-4)


def test_a_search_with_morphism_rounds_runs_on_the_mlp(tmp_path):
    config = write_config(tmp_path, train={"example": "mlp", "dataset": "breast_cancer", "r1": "3",
                                           "r2": "0", "r3": "1", "batch_size": "1",
                                           "morphisms": "true", "objectives": "2", "epochs3": "1"})
    assert main(["--config", str(config)]) == 0
    trials = pd.read_csv(tmp_path / "results" / "run" / "trials.csv")
    assert (trials["status"] == "completed").all()
    assert list(trials["phase"]) == ["sobol"] * 3 + ["morph"]
    assert trials["error"].min() < 0.2  # a 2-class problem: better than chance after 1 epoch
