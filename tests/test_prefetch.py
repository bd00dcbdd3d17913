"""While a trial trains, the next GP trial is generated in the background with the running
trial as a pending point; a search with that overlap still reproduces with its seed."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from conftest import write_config
from test_search import EXAMPLE

from sparsemod.cli import main

PARAMETERS = ["depth", "width", "lr"]


def run_search(folder, name: str):
    (folder / "layers.py").write_text(EXAMPLE)
    config = write_config(folder, train={"example": str(folder / "layers.py"), "r1": "3", "r2": "2",
                                         "name": name, "seed": "5"})
    assert main(["--config", str(config)]) == 0
    return pd.read_csv(folder / "results" / name / "trials.csv")


@pytest.fixture(scope="module")
def observed_asks(tmp_path_factory):
    """A search, with every GP ask's thread and pending points recorded."""
    from sparsemod.optimizer.proposer import Proposer

    asks = []
    real = Proposer.gp

    def recording(self, count, observed, tried):
        asks.append((threading.current_thread().name, [dict(p) for p in observed.pending], len(observed.params)))
        return real(self, count, observed, tried)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Proposer, "gp", recording)
        trials = run_search(tmp_path_factory.mktemp("prefetch"), "observed")
    return asks, trials


def test_gp_trials_are_generated_while_a_trial_trains(observed_asks):
    asks, trials = observed_asks
    background = [ask for ask in asks if ask[0].startswith("sparsemod-optimizer")]
    # 4 GP trials: the first while the last Sobol trial trains, the others while a GP one does
    assert len(background) >= 3
    rows = [{name: row[name] for name in PARAMETERS} for _, row in trials.iterrows()]
    for _, pending, seen in background:
        assert pending, "a background ask runs while a trial trains"
        # the running trials are the pending points the acquisition function sees: trials
        # that the table records later than the ones the GP already learned from
        for params in pending:
            assert {name: params[name] for name in PARAMETERS} in rows[seen:]
    assert list(trials["phase"]) == ["sobol"] * 3 + ["gp"] * 4


def test_a_search_with_background_asks_reproduces_with_its_seed(observed_asks, tmp_path):
    _, first = observed_asks
    again = run_search(tmp_path, "again")
    columns = ["index", "phase", *PARAMETERS, "status", "error", "model_size", "working_memory"]
    pd.testing.assert_frame_equal(first[columns], again[columns])


def record_drawings(monkeypatch) -> tuple[list, list]:
    """(indices submitted, (submitted so far, rows in the table) at each drawing of the report)."""
    from sparsemod.executors import local as executors
    from sparsemod.search import loop as search

    submitted, drawn = [], []
    real_submit, real_report = executors.WorkerExecutor.submit, search.write_report

    def submit(self, job):
        submitted.append(job.index)
        return real_submit(self, job)

    def report(folder, trials, pareto, objectives):
        drawn.append((len(submitted), len(trials)))
        return real_report(folder, trials, pareto, objectives)

    monkeypatch.setattr(executors.WorkerExecutor, "submit", submit)
    monkeypatch.setattr(search, "write_report", report)
    return submitted, drawn


def test_the_report_is_drawn_while_the_next_trial_trains(tmp_path, monkeypatch):
    """pareto.png and report.html cost ~0.5 s a trial: drawn after the next trial is submitted,
    so the worker trains meanwhile.  At each drawing but the search's last, more trials have
    been submitted than the report's table holds."""
    from sparsemod.search import loop as search

    monkeypatch.setattr(search, "REPORT_SECONDS", 0.0)  # every trial's report
    _, drawn = record_drawings(monkeypatch)
    trials = run_search(tmp_path, "report")
    assert len(drawn) >= len(trials) - 1  # about one drawing per trial
    assert all(sent > rows for sent, rows in drawn[:-1]), drawn
    assert drawn[-1] == (len(trials), len(trials))  # the last one has every trial


def test_the_report_is_redrawn_at_most_every_report_seconds_and_at_the_end(tmp_path, monkeypatch):
    from sparsemod.search import loop as search

    monkeypatch.setattr(search, "REPORT_SECONDS", 3600.0)
    _, drawn = record_drawings(monkeypatch)
    trials = run_search(tmp_path, "report")
    # the first finished trial's, then none for an hour, then the search's end
    assert [rows for _, rows in drawn] == [1, len(trials)]
    assert (tmp_path / "results" / "report" / "report.html").exists()


def test_a_background_ask_costs_its_own_cpu_seconds_not_the_wall_time_it_shared():
    # while a trial trains the ask shares the core: its wall seconds would count that time twice
    import time

    from sparsemod.search.prefetch import Prefetch

    def ask():
        time.sleep(0.6)  # the core is the trial's meanwhile
        end = time.thread_time() + 0.2
        while time.thread_time() < end:  # 0.2 s of the optimizer's own work
            pass
        return []

    prefetch = Prefetch()
    prefetch.start("gp", ask)
    done = prefetch.join()
    prefetch.close()
    assert done is not None and 0.2 <= done.seconds < 0.4
    assert done.waited >= 0.6
