"""Outcome constraints and stopping on stagnation, in real searches (the stagnation stop's
logic on made-up metrics, through :class:`sparsemod.testing.FakeExecutor`)."""

import pandas as pd
import pytest
from conftest import write_config

from sparsemod.cli import main
from sparsemod.config import ConfigError, load_config
from sparsemod.optimizer.record import load_record
from sparsemod.testing import FakeExecutor
from sparsemod.trial.job import TrialJob


def test_no_trained_trial_breaks_a_cost_constraint_and_the_front_obeys_them(tmp_path):
    """Candidates over the budget are replaced before they train (before exact costs at
    generation, this search trained some over working_memory <= 1024)."""
    config = write_config(tmp_path, train={"r1": "5", "r2": "1",
                                           "constraints": "working_memory <= 1024, latency >= 0"})
    assert main(["--config", str(config)]) == 0
    results = tmp_path / "results" / "run"
    trials = pd.read_csv(results / "trials.csv")
    completed = trials[trials["status"] == "completed"]
    assert (completed["feasible"] == (completed["working_memory"] <= 1024)).all()
    assert len(completed) == 7 and completed["feasible"].all()
    candidates = [line for line in (results / "time.txt").read_text().splitlines() if line.startswith("candidates: ")]
    assert candidates and "over budget" in candidates[0]
    pareto = pd.read_csv(results / "pareto.csv")
    assert (pareto["working_memory"] <= 1024).all() and pareto["feasible"].all()
    assert {p.name for p in (results / "models").iterdir()} == set(pareto["arm"])
    constraints = load_record(results / "experiment.json").experiment.optimization_config.all_constraints
    assert any("working_memory <= 1024" in str(c) for c in constraints)  # told to Ax


def made_up_metrics(job: TrialJob) -> dict[str, float]:
    """The loop's logic needs metrics, not training: each trial a little worse in error and
    a little smaller (so every trial is on the front)."""
    return {"error": 0.1 + 0.01 * job.index, "model_size": 4000.0 - 100 * job.index,
            "working_memory": 1000.0 - 10 * job.index, "latency": 1e-3}


def test_stagnation_stops_the_gp_phase_and_says_why(tmp_path, capsys):
    config = write_config(tmp_path, train={"r1": "3", "r2": "4", "batch_size": "1",
                                           "tolerance": "100", "patience": "1"})
    fake = FakeExecutor(made_up_metrics)
    assert main(["--config", str(config)], executor=fake) == 0
    assert fake.closed and sorted(fake.attempts) == [0, 1, 2, 3]  # nothing trained: 3 Sobol + 1 GP
    results = tmp_path / "results" / "run"
    trials = pd.read_csv(results / "trials.csv")
    assert list(trials["phase"]).count("gp") == 1  # 1 GP trial, then growth < 10000 %
    assert "stopped early: hypervolume grew" in (results / "time.txt").read_text()
    assert "stopping the gp phase early" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["working_memory < 5", "energy <= 3", "model_size <= lots"])
def test_bad_constraints_are_named(config_file, text):
    with pytest.raises(ConfigError, match=r"\[TRAIN\] constraints: expected empty or comma-separated"):
        load_config(config_file(train={"constraints": text}))


def test_a_stagnation_stop_ends_the_gp_phase_only(tmp_path, capsys):
    config = write_config(tmp_path, train={"r1": "3", "r2": "4", "r3": "1", "batch_size": "1",
                                           "morphisms": "true", "tolerance": "100", "patience": "1"})
    assert main(["--config", str(config)]) == 0
    results = tmp_path / "results" / "run"
    phases = list(pd.read_csv(results / "trials.csv")["phase"])
    assert phases.count("gp") == 1 and phases.count("morph") == 1  # the morph round still runs
    times = (results / "time.txt").read_text()
    assert "gp stopped early: hypervolume grew" in times and "morph stopped early" not in times
    assert "state: finished" in times
    assert main(["--config", str(config), "--resume"]) == 0  # the stop is kept: nothing more to run
    assert len(pd.read_csv(results / "trials.csv")) == 5
    assert "gp stopped early: hypervolume grew" in (results / "time.txt").read_text()
