"""benchmarks/peers.py: every peer drives the trial function through its own API, inside the
space, told what the trials measured (a peer whose library is not installed is skipped:
requirements-bench.txt installs them)."""

import importlib.util
import sys

import pytest
from conftest import REPO

from sparsemod.space import Choice, Float, Int
from sparsemod.trial.job import Report, TrialJob, TrialResult

sys.path.insert(0, str(REPO / "benchmarks"))
import peers  # noqa: E402

SPACE = [Int("width", 1, 64, log=True), Float("lr", 1e-3, 1e-1, log=True), Choice("kind", ("a", "b"))]


def fake_trial(epochs: int, calls: list):
    """Error falls with width, size grows with it; reports after each report epoch, as
    run_trial does, and stops when told."""
    def trial(index, params, decide=None, report_epochs=()):
        calls.append(params)
        metrics = {"error": 1.0 / (1 + params["width"]) + (0.1 if params["kind"] == "b" else 0.0),
                   "model_size": 100.0 * params["width"], "working_memory": 10.0 * params["width"]}
        job = TrialJob(index, str(index), "peer", params, epochs, 0)
        for epoch in report_epochs:
            if decide is not None and not decide(Report(index, epoch, epochs, {**metrics, "error": metrics["error"] + 0.5})):
                return TrialResult(job, "stopped", metrics=metrics, epochs_trained=epoch, total_seconds=0.01)
        return TrialResult(job, "completed", metrics=metrics, epochs_trained=epochs, total_seconds=0.01)
    return trial


@pytest.mark.parametrize("method", peers.PEERS)
def test_peer_runs_the_trials_inside_the_space_and_times_itself(method):
    if importlib.util.find_spec(peers.LIBRARY[method]) is None:
        pytest.skip(f"{peers.LIBRARY[method]} is not installed (pip install -r requirements-bench.txt)")
    calls: list = []
    goal = peers.Goal(("error", "model_size", "working_memory"))
    trials = 8
    if method == "ax-default":  # a centre point, 4 Sobol, then one from its GP (qLogNEI: no
        trials, goal = 6, peers.Goal(("error",), {"model_size": 3000.0})  # EHVI kernel to build)
    table = peers.run_peer(method, SPACE, goal, trials, 0, 3, fake_trial(3, calls))
    assert len(table) == len(calls) == trials and table["index"].tolist() == list(range(trials))
    assert all(1 <= p["width"] <= 64 and 1e-3 <= p["lr"] <= 1e-1 and p["kind"] in ("a", "b") for p in calls)
    assert (table["optimizer_seconds"] > 0).all() and set(table["status"]) <= {"completed", "stopped"}
    assert table["error"].tolist() == pytest.approx([1 / (1 + p["width"]) + 0.1 * (p["kind"] == "b") for p in calls])
    if method == "syne-tune-moasha":  # rungs at epochs 1 and 2 (grace 1, eta 3): some stop there
        assert (table["status"] == "stopped").any()


def test_optuna_is_told_the_measured_constraints(monkeypatch):
    optuna = pytest.importorskip("optuna")
    seen = []
    original = optuna.study.Study.tell

    def tell(self, trial, *args, **kwargs):
        seen.append(dict(trial.constraints))
        return original(self, trial, *args, **kwargs)

    monkeypatch.setattr(optuna.study.Study, "tell", tell)
    goal = peers.Goal(("error",), {"model_size": 1000.0})
    table = peers.run_peer("optuna-tpe", SPACE, goal, 4, 0, 1, fake_trial(1, []))
    # model_size - 1000 <= 0 is feasible: 100 x width - 1000
    assert [c["model_size"] for c in seen] == pytest.approx((table["model_size"] - 1000.0).tolist())


def test_a_missing_peer_library_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None if name == "optuna" else object())
    assert peers.not_installed(["sparsemod", "ax-default"]) is None
    message = peers.not_installed(["optuna-gp", "optuna-tpe", "sparsemod"])
    assert message.startswith("optuna-gp, optuna-tpe need optuna: pip install -r requirements-bench.txt")


@pytest.mark.parametrize("sampler", ["GPSampler", "TPESampler"])
def test_an_optuna_start_sets_the_samplers_startup_trials(monkeypatch, sampler):
    optuna = pytest.importorskip("optuna")
    made = []
    original = getattr(optuna.samplers, sampler)

    def spy(**kwargs):
        made.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(optuna.samplers, sampler, spy)
    method = {"GPSampler": "optuna-gp", "TPESampler": "optuna-tpe"}[sampler]
    peers.run_peer(method, SPACE, peers.Goal(("error",)), 2, 0, 1, fake_trial(1, []), start=4)
    peers.run_peer(method, SPACE, peers.Goal(("error",)), 2, 0, 1, fake_trial(1, []))
    assert made == [{"seed": 0, "n_startup_trials": 4}, {"seed": 0}]  # None: Optuna's default
