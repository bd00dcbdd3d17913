"""The Executor contract (sparsemod/executors/base.py), run against every executor: the
worker process, Ray Tune, and sparsemod.testing's FakeExecutor that other tests may use."""

from __future__ import annotations

import threading

import pytest
from conftest import write_config
from test_tune import RAY

from sparsemod.cli import prepare, trial_config
from sparsemod.config import METRICS, load_config
from sparsemod.testing import FakeExecutor, ProcessDied
from sparsemod.trial.job import Report, TrialJob

EXAMPLE = '''
import os
import signal
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Choice, Int

SPACE = [Int("width", 2, 8), Choice("mode", ["ok", "raise", "die"])]

class Net(nn.Sequential):
    dies = False

    def train(self, mode=True):
        if mode and self.dies:  # once it trains: as the kernel's OOM killer would
            os.kill(os.getpid(), signal.SIGKILL)
        return super().train(mode)

def build(params, input_shape, num_classes):
    if params["mode"] == "raise":
        raise ValueError("no such network")
    net = Net(nn.Flatten(), nn.Linear(64, params["width"]), nn.ReLU(), nn.Linear(params["width"], num_classes))
    net.dies = params["mode"] == "die"
    return net

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def fake_outcome(job: TrialJob) -> dict[str, float]:
    if job.params["mode"] == "raise":
        raise ValueError("no such network")
    if job.params["mode"] == "die":
        raise ProcessDied("killed by SIGKILL")
    width = job.params["width"]
    return {"error": 1.0 / width, "model_size": 74.0 * width, "working_memory": 64.0 + width, "latency": 1e-6 * width,
            "arena": 600.0 + width}


@pytest.fixture(params=["fake", "worker", "tune"])
def executor(request, tmp_path):
    (tmp_path / "net.py").write_text(EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "net.py")})
    if request.param == "tune":
        config.write_text(config.read_text() + RAY)
    settings = load_config(config)
    if request.param == "fake":
        made = FakeExecutor(fake_outcome, max_failures=1)
    elif request.param == "worker":
        from sparsemod.executors.local import ProblemSource, WorkerExecutor

        train = settings.search
        source = ProblemSource(tmp_path / "net.py", False, "digits", None, train.seed)
        made = WorkerExecutor(source, trial_config(settings, guard=True), settings.ray.max_failures)
    else:
        from sparsemod.executors.tune import TuneExecutor

        problem, data = prepare(settings)
        made = TuneExecutor(problem, data, trial_config(settings, guard=True), settings.ray,
                            str(tmp_path / "tune"), "contract")
    yield made
    made.close()


def job(index: int, mode: str = "ok", epochs: int = 1, report_epochs: tuple[int, ...] = ()) -> TrialJob:
    return TrialJob(index, f"{index}_0", "sobol", {"width": 4, "mode": mode}, epochs, 7, None, report_epochs)


def test_a_trial_comes_back_completed_with_every_metric(executor):
    executor.submit(job(0))
    assert executor.pending == 1
    result = executor.wait()
    assert (result.status, result.reason, result.job.index, result.epochs_trained) == ("completed", "", 0, 1)
    assert set(result.metrics) == set(METRICS)
    assert executor.pending == 0


def test_a_trial_that_raises_fails_with_its_reason_once(executor):
    executor.submit(job(1, "raise"))
    result = executor.wait()
    assert result.status == "failed" and "ValueError: no such network" in result.reason
    if isinstance(executor, FakeExecutor):
        assert executor.attempts[1] == 1  # an error of the network is not retried


def test_a_trial_whose_process_dies_is_retried_then_failed(executor):
    executor.submit(job(2, "die"))
    result = executor.wait()
    assert result.status == "failed" and result.reason.startswith("worker: "), result.reason
    if isinstance(executor, FakeExecutor):
        assert executor.attempts[2] == 2  # max_failures = 1: one retry


def test_a_stop_request_gives_a_stopped_result_of_that_epoch(executor):
    """The judge is asked after each report epoch, on the thread that waits, and a False
    answer stops the trial: its result is the report's (error and the costs, that epoch)."""
    asked: list[tuple[Report, bool]] = []

    def judge(report: Report) -> bool:
        asked.append((report, threading.current_thread() is threading.main_thread()))
        return False

    executor.submit(job(3, epochs=3, report_epochs=(1, 2)))
    result = executor.wait(judge)
    assert [(r.trial, r.epoch, r.max_epochs) for r, _ in asked] == [(3, 1, 3)]
    assert all(on_main for _, on_main in asked)
    assert (result.status, result.epochs_trained) == ("stopped", 1)
    assert set(result.metrics) == set(METRICS) and result.metrics == asked[0][0].metrics


def test_close_can_be_called_again(executor):
    executor.submit(job(4))
    executor.close()
    executor.close()
