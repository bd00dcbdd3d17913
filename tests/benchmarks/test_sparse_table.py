"""benchmarks/sparse_table.py on tiny settings: a search under SpArSe's budget, the [TEST]
retraining of its best feasible arm, the hand-designed baseline, and the printed table."""

import sys

import pandas as pd
import pytest
import torch

from conftest import REPO, SHARED_MNIST
from sparsemod.costs import model_size, working_memory
from sparsemod.quantize import quantize

sys.path.insert(0, str(REPO / "benchmarks"))
import sparse_table  # noqa: E402

SPARSE = sparse_table.BUDGETS[0]


def test_best_feasible_arm_is_the_lowest_error_inside_both_bounds():
    trials = pd.DataFrame({
        "arm": ["a", "b", "c", "d", "e"],
        "status": ["completed", "completed", "completed", "failed", "completed"],
        "error": [0.01, 0.05, 0.03, 0.0, 0.04],
        "model_size": [5000, 2867, 2000, 100, 2000],  # a: too large
        "working_memory": [1000, 2048, 2049, 100, 1500],  # c: too much memory; d failed
    })
    assert sparse_table.best_feasible_arm(trials, SPARSE)["arm"] == "e"
    assert sparse_table.best_feasible_arm(trials.iloc[:1], SPARSE) is None


@pytest.mark.parametrize("budget", sparse_table.BUDGETS)
def test_every_hand_design_fits_its_budget_measured_in_int8(budget):
    for name, design in sparse_table.DESIGNS[budget.working_memory].items():
        model = design().eval()
        example = torch.randn(1, 1, 28, 28)
        deployed = quantize(model, "post", [torch.randn(8, 1, 28, 28)], example)
        costs = {"model_size": model_size(deployed), "working_memory": working_memory(deployed, example)}
        assert budget.holds(costs), (name, costs)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST IDX files not present")
def test_tiny_run_prints_the_table_with_networks_inside_the_budget(capsys):
    rows = sparse_table.main(["--seeds", "1", "--trials", "4", "--epochs", "1", "--test-epochs", "1",
                              "--budgets", "2048", "--jobs", "2", "--data-dir", str(SHARED_MNIST)])
    assert sorted(r["method"] for r in rows) == ["hand-designed", "sparsemod"]
    for row in rows:
        if row["test_accuracy"] == row["test_accuracy"]:  # a network was found
            assert row["model_size"] <= 2867 and row["working_memory"] <= 2048
            assert 0.1 < row["test_accuracy"] <= 1
    printed = capsys.readouterr().out
    assert "| SpArSe (published, trained on 60k) | 98.64 |" in printed
    assert "| sparsemod |" in printed and "| hand-designed |" in printed
