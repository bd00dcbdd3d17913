"""End to end: a tiny real search (real Ax, real training, real int8 models, real files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import write_config
from sparsemod.cli import main
from sparsemod.problem import load_problem
from sparsemod.snapshot import load_client

# Each layer halves the 8x8 digits: depth >= 4 cannot run (a 1x1 map cannot be pooled).
EXAMPLE = '''
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int, Choice

SPACE = [Int("depth", 1, 5), Int("width", 2, 8), Choice("lr", (0.01, 0.03))]

def build(params, input_shape, num_classes):
    layers, channels = [], input_shape[0]
    for _ in range(params["depth"]):
        layers += [nn.Conv2d(channels, params["width"], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = params["width"]
    side = max(input_shape[1] >> params["depth"], 1)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, num_classes))

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def dominated(a: np.ndarray, b: np.ndarray) -> bool:
    """b dominates a (all minimised)."""
    return bool(np.all(b <= a) and np.any(b < a))


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    (folder / "layers.py").write_text(EXAMPLE)
    config = write_config(folder, train={"example": str(folder / "layers.py"), "seed": "3"})
    assert main(["--config", str(config)]) == 0
    return folder / "results" / "run", folder / "layers.py", config


def test_trials_csv_has_every_trial_phase_and_column(finished_search):
    results, _, _ = finished_search
    trials = pd.read_csv(results / "trials.csv")
    assert list(trials["index"]) == [0, 1, 2, 3, 4]
    assert list(trials["phase"]) == ["sobol"] * 3 + ["gp"] * 2
    for column in ("depth", "width", "lr", "error", "model_size", "working_memory", "latency",
                   "float_error", "test_accuracy", "status", "reason", "train_seconds", "total_seconds"):
        assert column in trials.columns
    completed = trials[trials["status"] == "completed"]
    assert len(completed) >= 2
    assert completed[["error", "model_size", "working_memory", "latency"]].notna().all().all()
    assert ((completed["error"] >= 0) & (completed["error"] <= 1)).all()


def test_impossible_architecture_is_a_failed_row_with_its_reason(finished_search):
    trials = pd.read_csv(finished_search[0] / "trials.csv")
    failed = trials[trials["status"] == "failed"]
    assert len(failed) >= 1
    assert (failed["depth"] >= 4).all()
    assert failed["reason"].str.contains("cannot run on input").all()
    assert failed["error"].isna().all()


def test_pareto_csv_is_exactly_the_non_dominated_completed_trials(finished_search):
    results = finished_search[0]
    trials = pd.read_csv(results / "trials.csv")
    completed = trials[trials["status"] == "completed"]
    values = completed[["error", "model_size", "working_memory"]].to_numpy()
    expected = {arm for arm, row in zip(completed["arm"], values)
                if not any(dominated(row, other) for other in values)}
    assert set(pd.read_csv(results / "pareto.csv")["arm"]) == expected


def test_models_folder_holds_exactly_the_pareto_models_and_they_rebuild(finished_search):
    results, example, _ = finished_search
    front = set(pd.read_csv(results / "pareto.csv")["arm"])
    assert {p.name for p in (results / "models").iterdir()} == front
    problem = load_problem(example)
    for arm in front:
        params = json.loads((results / "models" / arm / "params.json").read_text())
        model = problem.build(params, (1, 8, 8), 10)
        model.load_state_dict(torch.load(results / "models" / arm / "model.pt", weights_only=True))
        metrics = json.loads((results / "models" / arm / "metrics.json").read_text())
        assert set(metrics) >= {"error", "model_size", "working_memory", "latency"}


def test_experiment_json_is_ax_loadable_small_and_matches(finished_search):
    results = finished_search[0]
    path = results / "experiment.json"
    assert path.stat().st_size < 1_000_000 * 5 / 100  # < 1 MB per 100 trials
    client = load_client(path)
    trials = pd.read_csv(results / "trials.csv")
    experiment = client._experiment
    assert len(experiment.trials) == len(trials)
    for _, row in trials.iterrows():
        status = experiment.trials[row["index"]].status
        assert status.is_completed if row["status"] == "completed" else status.is_failed


def test_time_txt_and_plot(finished_search):
    results = finished_search[0]
    times = (results / "time.txt").read_text()
    assert "state: finished" in times and "sobol:" in times and "gp:" in times
    assert (results / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_results_are_never_overwritten(finished_search, capsys):
    results, _, config = finished_search
    before = (results / "trials.csv").read_text()
    assert main(["--config", str(config)]) == 2
    assert "already holds a search" in capsys.readouterr().err
    assert (results / "trials.csv").read_text() == before


def test_same_seed_same_sobol_points_and_metrics(tmp_path):
    from conftest import write_config

    tables = []
    for run in ("a", "b"):
        config = write_config(tmp_path, train={"r1": "2", "r2": "0", "name": run})
        assert main(["--config", str(config)]) == 0
        tables.append(pd.read_csv(tmp_path / "results" / run / "trials.csv"))
    columns = ["blocks", "filters", "lr", "error", "model_size", "working_memory", "latency"]
    pd.testing.assert_frame_equal(tables[0][columns], tables[1][columns])


FAILING_EXAMPLE = '''
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("width", 2, 8)]

def build(params, input_shape, num_classes):
    raise ValueError(f"width {params['width']} is never buildable")

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def test_every_sobol_trial_failing_stops_with_one_line_also_on_resume(tmp_path, capsys):
    (tmp_path / "failing.py").write_text(FAILING_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "failing.py"), "r1": "2", "r2": "1"})
    for argv in (["--config", str(config)], ["--config", str(config), "--resume"]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "every one of the 2 Sobol trials failed" in err and "build: ValueError: width" in err
        results = tmp_path / "results" / "run"
        assert "state: stopped: every one of the 2 Sobol trials failed" in (results / "time.txt").read_text()
        assert len(pd.read_csv(results / "trials.csv")) == 2 and not (results / ".lock").exists()
