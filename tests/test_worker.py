"""The trial worker starts before the search's own set-up, and is never left behind."""

from __future__ import annotations

import pandas as pd
from conftest import write_config

from sparsemod import cli
from sparsemod.executors.worker import Worker


def recording(monkeypatch) -> tuple[list[str], list[Worker]]:
    """Events in order ("worker": a worker process started; "prepare": the search began
    loading the example and its data), and the workers started."""
    events, workers = [], []

    class Recorded(Worker):
        def __init__(self) -> None:
            events.append("worker")
            super().__init__()
            workers.append(self)

    real_prepare = cli.prepare
    monkeypatch.setattr(cli, "Worker", Recorded)
    monkeypatch.setattr("sparsemod.executors.local.Worker", Recorded)
    monkeypatch.setattr(cli, "prepare", lambda settings: events.append("prepare") or real_prepare(settings))
    return events, workers


def test_the_worker_starts_before_the_search_sets_up_and_runs_its_trials(tmp_path, monkeypatch):
    events, workers = recording(monkeypatch)
    assert cli.main(["--config", str(write_config(tmp_path, train={"r2": "0"}))]) == 0
    assert events == ["worker", "prepare"]  # one worker, started first, ran every trial
    assert (pd.read_csv(tmp_path / "results" / "run" / "trials.csv")["status"] == "completed").all()
    assert not workers[0].process.is_alive()


def test_a_run_that_stops_before_its_search_ends_its_unused_worker(tmp_path, monkeypatch):
    config = write_config(tmp_path)
    (tmp_path / "results" / "run").mkdir(parents=True)
    (tmp_path / "results" / "run" / "trials.csv").write_text("index\n")  # another search's folder
    events, workers = recording(monkeypatch)
    assert cli.main(["--config", str(config)]) == 2
    assert events == ["worker", "prepare"] and not workers[0].adopted
    assert not workers[0].process.is_alive()
