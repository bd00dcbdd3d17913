"""benchmarks/sparse_table.py: the honest pick, the budgets' hand designs measured in int8, rows
merged into the JSON by (budget, method, seed), the docs table redrawn between its markers,
and a tiny run of both methods."""

import json
import sys

import pandas as pd
import pytest
import torch
from conftest import REPO, SHARED_MNIST

from sparsemod.costs import model_size, working_memory
from sparsemod.quantize import quantize

sys.path.insert(0, str(REPO / "benchmarks"))
import sparse_table  # noqa: E402

SPARSE = sparse_table.BUDGETS["sparse"]


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
    # a and c trained over the budget: the script refuses such a search
    assert list(sparse_table.trained_outside(trials, SPARSE)["arm"]) == ["a", "c"]


def test_chance_level_is_a_tenth_plus_three_binomial_deviations():
    # 10 classes, 1000 validation images: sqrt(0.1 * 0.9 / 1000) = 0.0094868
    assert sparse_table.chance_level(1000) == pytest.approx(100 * (0.1 + 3 * 0.0094868), abs=1e-3)


@pytest.mark.parametrize("name", list(sparse_table.BUDGETS))
def test_every_hand_design_fits_its_budget_measured_in_int8(name):
    budget = sparse_table.BUDGETS[name]
    for design_name, design in budget.designs.items():
        model = design().eval()
        example = torch.randn(1, 1, 28, 28)
        deployed = quantize(model, "post", [torch.randn(8, 1, 28, 28)], example)
        costs = {"model_size": model_size(deployed), "working_memory": working_memory(deployed, example)}
        assert budget.holds(costs), (design_name, costs)


def row(budget: str, method: str, seed: int, accuracy: float | None) -> dict:
    return {"budget": budget, "method": method, "seed": seed, "test_accuracy": accuracy,
            "model_size": 700 if accuracy else None, "working_memory": 980 if accuracy else None,
            "search_seconds": 60.0 if method == "sparsemod" else None, "network": "n",
            "commit": "abc", "command": f"python benchmarks/sparse_table.py --seeds {seed}"}


def test_rows_merge_by_budget_method_and_seed_and_the_docs_table_is_redrawn(tmp_path):
    out, docs = tmp_path / "rows.json", tmp_path / "bench.md"
    tight = sparse_table.BUDGETS["tight"].key
    sparse_table.merge(out, [row(tight, "sparsemod", 0, 97.0), row(tight, "hand-designed", 0, 96.0)])
    sparse_table.merge(out, [row(tight, "sparsemod", 1, None)])
    rows = sparse_table.merge(out, [row(tight, "sparsemod", 0, 97.5)])  # seed 0 again: replaced
    assert json.loads(out.read_text()) == rows
    assert [(r["method"], r["seed"], r["test_accuracy"]) for r in rows] == [
        ("sparsemod", 0, 97.5), ("sparsemod", 1, None), ("hand-designed", 0, 96.0)]
    docs.write_text(f"# before\n{sparse_table.BEGIN}\nold table\n{sparse_table.END}\n# after\n")
    sparse_table.write_docs(docs, rows)
    text = docs.read_text()
    assert text.startswith("# before\n") and text.endswith("# after\n") and "old table" not in text
    # the median of the seeds that found a network; one of two seeds found none
    assert "| WM ≤ 1 KB, size ≤ 768 B | sparsemod | 97.50 [97.50, 97.50] |" in text
    assert "| 1/2 |" in text and "none found" in text
    assert "- `python benchmarks/sparse_table.py --seeds 1`" in text


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST IDX files not present")
def test_tiny_run_merges_both_methods_inside_the_budget(tmp_path, capsys):
    out, docs = tmp_path / "rows.json", tmp_path / "bench.md"
    docs.write_text(f"{sparse_table.BEGIN}\n{sparse_table.END}\n")
    rows = sparse_table.main(["--seeds", "1", "--trials", "4", "--epochs", "1", "--test-epochs", "1",
                              "--budgets", "sparse", "--methods", "sparsemod", "hand-designed", "--jobs", "2",
                              "--data-dir", str(SHARED_MNIST), "--out", str(out), "--docs", str(docs)])
    assert sorted(r["method"] for r in rows) == ["hand-designed", "sparsemod"]
    assert json.loads(out.read_text()) == rows
    for r in rows:
        assert r["budget"] == "wm<=2048,size<=2867" and r["seed"] == 1
        assert r["command"].startswith("python benchmarks/sparse_table.py --seeds 1 ")
        if r["test_accuracy"] is not None:  # a network was found
            assert r["model_size"] <= 2867 and r["working_memory"] <= 2048
            assert 10 < r["test_accuracy"] <= 100
    assert "| | SpArSe (published, trained on 60k) | 98.64 |" in docs.read_text()
    assert "| sparsemod |" in capsys.readouterr().out
