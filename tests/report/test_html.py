"""report.html from a hand-made results folder whose right answers are known by construction."""

import json
import re

import pandas as pd
import pytest
import torch
from torch import nn

from sparsemod.report.figures import hypervolume_over_time, parallel_figure, pareto_figure
from sparsemod.report.html import PLOTLY_JS, axes, write_html

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
    "total_seconds": [2.0, 1.5, 1.0, 0.5],
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
    scales = axes(TRIALS, OBJECTIVES)
    assert scales["model_size"] == {"label": "model size", "scale": 1 / 1024, "unit": "KB",
                                    "positive": True, "log": True}  # 32 B .. 40000 B
    assert scales["error"]["log"] is False and scales["error"]["positive"] is False
    assert scales["latency"]["unit"] == "µs" and scales["latency"]["log"] is False


def test_plotly_js_is_a_file_beside_the_page_and_the_only_script_it_loads(tmp_path):
    text = page(tmp_path)
    assert re.findall(r'<script src="([^"]+)"', text) == [PLOTLY_JS]
    assert (tmp_path / PLOTLY_JS).stat().st_size > 1_000_000 and "http" not in PLOTLY_JS
    assert len(text) < 200_000  # the bundle is not inlined into a page rewritten after every trial


def test_pareto_plot_panels_split_front_from_trials_in_display_units(tmp_path):
    scales = axes(TRIALS, OBJECTIVES)
    figure = pareto_figure(TRIALS, set(PARETO_ARMS), OBJECTIVES, scales)
    assert len(figure.data) == 2 * 6  # 4 objectives: 6 pairs, trials and front in each
    trials, front = figure.data[0], figure.data[1]  # error against model size
    assert list(trials.customdata) == ["0_0"] and sorted(front.customdata) == PARETO_ARMS
    assert list(trials.x) == [100 * 0.035087719] and list(trials.y) == [40000 / 1024]
    assert "arm 3_0 (morph of 2_0)" in front.hovertext[2] and "model size: 32 B" in front.hovertext[2]
    assert figure.layout.yaxis.type == "log" and figure.layout.xaxis.type == "linear"


def test_one_objective_is_drawn_against_the_trial_number(tmp_path):
    write_html(tmp_path, TRIALS, TRIALS.iloc[[1]], ["error"])  # two pairs of one objective: none
    figure = pareto_figure(TRIALS, {"1_0"}, ["error"], axes(TRIALS, ["error"]))
    assert len(figure.data) == 2 and list(figure.data[1].x) == [1] and list(figure.data[0].x) == [0, 2, 3]
    assert figure.layout.xaxis.title.text == "trial (number)"
    assert "lowest error" in (tmp_path / "report.html").read_text()


def test_parallel_coordinates_code_choices_and_drop_constants(tmp_path):
    trials = TRIALS.assign(conv=["dw", "standard", "dw", "dw"], depth=[2, 2, 2, 2])
    figure = parallel_figure(trials, set(PARETO_ARMS), ["lr", "conv", "depth"], OBJECTIVES, axes(trials, OBJECTIVES))
    dimensions = {d.label: d for d in figure.data[0].dimensions}
    assert "depth" not in dimensions  # the same in every trial
    assert list(dimensions["conv"].values) == [0, 1, 0, 0] and list(dimensions["conv"].ticktext) == ["dw", "standard"]
    assert list(figure.data[0].line.color) == [0, 1, 1, 1]


def test_hypervolume_over_time_by_hand():
    # two objectives scaled by 1.1 x their largest feasible value (error 0.5, size 100):
    # a = (0.4, 100) -> (0.727, 0.909), box 0.273 x 0.0909; b = (0.2, 50) -> (0.364, 0.455)
    # dominates a: box 0.636 x 0.545; c is infeasible, d failed: neither counts
    trials = pd.DataFrame({"arm": list("abcd"), "status": ["completed"] * 3 + ["failed"],
                           "feasible": [True, True, False, None], "error": [0.4, 0.2, 0.5, None],
                           "model_size": [100.0, 50.0, 10.0, None], "total_seconds": [3.0, 2.0, 1.0, 0.5]})
    curve = hypervolume_over_time(trials, ["error", "model_size"])
    first = (1 - 0.4 / 0.44) * (1 - 100 / 110)
    second = (1 - 0.2 / 0.44) * (1 - 50 / 110)
    assert curve["hypervolume"].tolist() == pytest.approx([first, second, second, second])
    assert curve["cpu_seconds"].tolist() == [3.0, 5.0, 6.0, 6.5] and curve["trials"].tolist() == [1, 2, 3, 4]
