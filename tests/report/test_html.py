"""report.html from a hand-made results folder whose right answers are known by construction."""

import json
import re

import pandas as pd
import torch
from torch import nn

from sparsemod.report.html import write_html

OBJECTIVES = ["error", "model_size", "working_memory", "latency"]
# 0_0 is dominated by 2_0 (same error, larger in every cost); 1_0 and 2_0 tie on error and
# 1_0 is the smaller; 3_0 is a morph child of 2_0 and the cheapest in every cost.
TRIALS = pd.DataFrame({
    "index": [0, 1, 2, 3], "arm": ["0_0", "1_0", "2_0", "3_0"],
    "phase": ["sobol", "gp", "sobol", "morph"], "parent": [None, None, None, "2_0"],
    "operators": [None, None, None, "widen filters"],
    "lr": [0.01, 0.029999999999999995, 0.002, 0.0018076776],
    "error": [0.035087719, 0.035087719, 0.035087719, 0.1],
    "model_size": [40000.0, 1000.0, 2000.0, 32.0], "working_memory": [2000.0, 1200.0, 900.0, 256.0],
    "latency": [0.0005, 0.0003, 0.0002, 0.000256], "feasible": [True] * 4,
    "test_accuracy": [0.95, 0.96, 0.96, 0.9], "status": ["completed"] * 4, "reason": [None] * 4,
})
PARETO_ARMS = ["1_0", "2_0", "3_0"]


def page(tmp_path) -> str:
    for arm in PARETO_ARMS:
        folder = tmp_path / "models" / arm
        folder.mkdir(parents=True)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                              nn.Linear(144, 10))
        torch.save(model.state_dict(), folder / "model.pt")
    (tmp_path / "models" / "3_0" / "structure.json").write_text(json.dumps({"0": 4, "4": 10}))
    write_html(tmp_path, TRIALS, TRIALS[TRIALS["arm"].isin(PARETO_ARMS)], OBJECTIVES)
    return (tmp_path / "report.html").read_text()


def test_lowest_lines_name_pareto_arms_ties_broken_by_the_next_objective(tmp_path):
    text = page(tmp_path)
    assert "lowest error: 3.51 % (arm <a href='#arm-1_0'>1_0</a>)" in text  # not the dominated 0_0
    assert "lowest model size: 32 B (arm <a href='#arm-3_0'>3_0</a>)" in text
    assert "lowest latency: 200 µs (arm <a href='#arm-2_0'>2_0</a>)" in text


def test_table_shows_origin_units_rounded_parameters_and_named_layers(tmp_path):
    text = page(tmp_path)
    row = re.search(r"<tr id='arm-3_0'>.*?</tr>", text).group(0)
    assert "morph of <a href='#arm-2_0'>2_0</a>: widen filters" in row
    assert "<td>32 B</td>" in row and "<td>256 B</td>" in row and "<td>256 µs</td>" in row
    assert "pruned by MorphNet" in row and "conv1</span>: 3×3, 4 ch" in row and "fc1</span>: 10 units" in row
    assert "lr = 0.001808" in row
    assert "lr = 0.03" in re.search(r"<tr id='arm-1_0'>.*?</tr>", text).group(0)
    assert "0.0299" not in text.split('<script id="data"')[0]
    assert "not used by the search" in text
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>',
                                text, re.S).group(1))
    assert data["axes"]["model_size"] == {"label": "model size", "scale": 1 / 1024, "unit": "KB",
                                          "positive": True, "log": True}  # 32 B .. 40000 B
    assert data["axes"]["error"]["log"] is False and data["axes"]["error"]["positive"] is False
    assert data["axes"]["latency"]["unit"] == "µs" and data["axes"]["latency"]["log"] is False
