"""End to end: a tiny real search (real Ax, real training, real int8 models, real files)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, write_config

from sparsemod.cli import main
from sparsemod.optimizer.record import load_record
from sparsemod.problem import load_problem

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


def test_impossible_architecture_is_never_trained_and_counted_with_its_reason(finished_search):
    """depth >= 4 cannot run on 8x8 inputs: such candidates are dropped before they train
    (the Sobol points drawn for a 3-trial start include some), and time.txt says why."""
    trials = pd.read_csv(finished_search[0] / "trials.csv")
    assert (trials["depth"] <= 3).all()
    assert (trials["status"] == "completed").all()
    times = (finished_search[0] / "time.txt").read_text()
    [line] = [line for line in times.splitlines() if line.startswith("candidates: ")]
    assert "unbuildable (first: " in line
    assert "Output size is too small" in line or "cannot" in line


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
    trials = pd.read_csv(results / "trials.csv")
    experiment = load_record(path).experiment
    assert len(experiment.trials) == len(trials)
    for _, row in trials.iterrows():
        status = experiment.trials[row["index"]].status
        assert status.is_completed if row["status"] == "completed" else status.is_failed


def test_experiment_json_loads_with_ax_alone_in_a_fresh_interpreter(finished_search):
    """As a user would read it: Ax's own Client, no sparsemod import (nothing registered)."""
    results = finished_search[0]
    code = ("import sys; from ax.api.client import Client; "
            "client = Client.load_from_json_file(sys.argv[1]); "
            "print(client.summarize()[['trial_index', 'trial_status']].to_json(orient='records'))")
    done = subprocess.run([sys.executable, "-c", code, str(results / "experiment.json")],
                          capture_output=True, text=True, timeout=300, cwd=results)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    trials = pd.read_csv(results / "trials.csv")
    assert [row["trial_index"] for row in summary] == list(trials["index"])
    assert [row["trial_status"] for row in summary] == [s.upper() for s in trials["status"]]


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


def test_a_search_whose_first_gp_model_has_one_trial_prints_no_warning(tmp_path):
    """r1 = 2: the first GP ask runs beside Sobol trial 1, on a model of one completed trial
    (its outcomes constant, by construction); the user gets no warning lines for it."""
    config = write_config(tmp_path, train={"r1": "2", "r2": "1"})
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "--config", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "gp: trial 2 suggested" in done.stdout


def test_same_seed_same_sobol_points_and_metrics(tmp_path):
    from conftest import write_config

    tables = []
    for run in ("a", "b"):
        config = write_config(tmp_path, train={"r1": "2", "r2": "0", "name": run})
        assert main(["--config", str(config)]) == 0
        tables.append(pd.read_csv(tmp_path / "results" / run / "trials.csv"))
    columns = ["blocks", "filters", "lr", "error", "model_size", "working_memory", "latency"]
    pd.testing.assert_frame_equal(tables[0][columns], tables[1][columns])


UNBUILDABLE_EXAMPLE = '''
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("width", 2, 8)]

def build(params, input_shape, num_classes):
    raise ValueError(f"width {params['width']} is never buildable")

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''

# Builds, runs and converts in eval mode (so its costs are known), fails once it trains.
UNTRAINABLE_EXAMPLE = '''
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("width", 2, 8)]

class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))

    def forward(self, x):
        return self.body(x)

    def train(self, mode=True):
        if mode:
            raise ValueError("this network refuses to train")
        return super().train(mode)

def build(params, input_shape, num_classes):
    return Net(params["width"])

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def test_a_space_where_nothing_builds_is_one_line_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "failing.py").write_text(UNBUILDABLE_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "failing.py"), "r1": "2", "r2": "1"})
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "could be built and run (first: ValueError: width" in err and "never buildable" in err
    assert not (tmp_path / "results" / "run").exists()  # a corrected config runs under the same name


def test_every_sobol_trial_failing_stops_with_one_line_also_on_resume(tmp_path, capsys):
    (tmp_path / "failing.py").write_text(UNTRAINABLE_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "failing.py"), "r1": "2", "r2": "1"})
    for argv in (["--config", str(config)], ["--config", str(config), "--resume"]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "every one of the 2 Sobol trials failed" in err and "refuses to train" in err
        results = tmp_path / "results" / "run"
        assert "state: stopped: every one of the 2 Sobol trials failed" in (results / "time.txt").read_text()
        assert len(pd.read_csv(results / "trials.csv")) == 2 and not (results / ".lock").exists()


# --- early stopping (MO-ASHA): a search killed mid-way and resumed ---------------------

@pytest.fixture(scope="module")
def early_stopped_search(tmp_path_factory):
    from conftest import write_config
    from test_resume import kill_after

    folder = tmp_path_factory.mktemp("early")
    config = write_config(folder, train={"r1": "6", "r2": "1", "batch_size": "2", "epochs1": "3",
                                         "epochs2": "3", "early_stopping": "moasha", "grace_epochs": "1",
                                         "reduction_factor": "2"})
    results = folder / "results" / "run"
    before = kill_after(config, results, 3, 8)
    assert main(["--config", str(config), "--resume"]) == 0
    return config, results, before, pd.read_csv(results / "trials.csv")


def test_stopped_trials_are_rows_with_their_epoch_and_metrics(early_stopped_search):
    _, _, _, table = early_stopped_search
    assert sorted(table["index"]) == list(range(8))
    stopped, completed = table[table["status"] == "stopped"], table[table["status"] == "completed"]
    assert len(stopped) >= 1 and len(completed) >= 1
    assert set(stopped["epochs_trained"]) <= {1, 2}  # rungs at 1 and 2 of 3 epochs (grace 1, eta 2)
    assert (completed["epochs_trained"] == 3).all()
    metrics = ["error", "model_size", "working_memory", "latency", "float_error", "train_seconds"]
    assert np.isfinite(stopped[metrics].to_numpy(dtype=float)).all()


def test_stopped_trials_are_early_stopped_in_ax_with_their_data(early_stopped_search):
    _, results, _, table = early_stopped_search
    experiment = load_record(results / "experiment.json").experiment
    data = experiment.lookup_data().df
    for row in table.itertuples():
        trial = experiment.trials[row.index]
        assert trial.status.is_early_stopped == (row.status == "stopped")
        if row.status == "stopped":  # its metrics, attached before it was marked
            error = data[(data["trial_index"] == row.index) & (data["metric_name"] == "error")]["mean"]
            assert list(error) == pytest.approx([row.error])
            assert [r["epoch"] for r in trial.run_metadata["reports"]] == list(range(1, row.epochs_trained + 1))


def test_stopped_trials_stay_out_of_the_front_and_models(early_stopped_search):
    _, results, _, table = early_stopped_search
    front = set(pd.read_csv(results / "pareto.csv")["arm"])
    assert front and front <= set(table[table["status"] == "completed"]["arm"])
    assert {p.name for p in (results / "models").iterdir()} == front


def test_resume_keeps_stopped_trials_and_rebuilds_the_rungs(early_stopped_search):
    from sparsemod.config import load_config
    from sparsemod.search.loop import Search
    from sparsemod.store.results import ResultsFolder

    config, results, before, after = early_stopped_search
    kept = after.set_index("index").loc[before["index"]].reset_index()
    columns = ["arm", "status", "epochs_trained", "error"]
    pd.testing.assert_frame_equal(kept[columns], before[columns])
    from sparsemod.cli import make_proposer

    settings = load_config(config).search
    problem = load_problem("cnn")
    proposer = make_proposer(load_config(config), problem, problem.load_data("digits", None, 0))
    search = Search(settings, problem, None, ResultsFolder(results, settings.objective_names,
                                                             [p.name for p in problem.space]),
                    load_record(results / "experiment.json"), proposer)
    rung = search.stopping.records["scratch"][1]
    assert set(rung) == set(after["index"])  # every trial reached epoch 1
    for row in after[(after["status"] == "stopped") & (after["epochs_trained"] == 1)].itertuples():
        # stopped at epoch 1: its rung vector is what it was measured at (float error, costs)
        assert rung[row.index] == pytest.approx((row.float_error, row.model_size, row.working_memory))


def test_the_next_phase_takes_a_free_slot_while_the_starts_dearest_trial_trains(tmp_path):
    """Two workers (simulated: nothing trains), 4 Sobol trials of which the last submitted
    (the start trains its dearest last) takes 100 s and the rest 1 s, then 2 GP trials of
    1 s: once every Sobol trial is submitted, a slot freed at 2 s goes to the GP phase, so
    both GP trials end before the slow Sobol one (at 3 s and 4 s, not after 100 s)."""
    from sparsemod.testing import FakeExecutor

    def seconds(job):
        return 100.0 if job.phase == "sobol" and job.index == 3 else 1.0

    def metrics(job):
        return {"error": 0.5 - 0.01 * job.index, "model_size": 1000.0 + 10 * job.index,
                "working_memory": 500.0, "latency": 1e-3}

    config = write_config(tmp_path, train={"r1": "4", "r2": "2", "batch_size": "1"})
    fake = FakeExecutor(metrics, capacity=2, seconds=seconds)
    assert main(["--config", str(config)], executor=fake) == 0
    ends = [(clock, job.phase) for clock, job in fake.finished]
    assert ends == [(1.0, "sobol"), (1.0, "sobol"), (2.0, "sobol"), (3.0, "gp"), (4.0, "gp"), (101.0, "sobol")]
    times = (tmp_path / "results" / "run" / "time.txt").read_text()
    assert "sobol: " in times and "gp: " in times
