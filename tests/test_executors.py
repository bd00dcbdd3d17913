"""Trials in sparsemod's worker process (Ray Tune's are in tests/test_tune.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import write_config

from sparsemod.cli import main

# width 2: training raises (a Python error in the trial);
# width >= 7: the worker process dies (as if OOM-killed), is retried, then recorded failed;
# each death is logged first, to count the attempts.
EXAMPLE = '''
import os
from pathlib import Path
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("depth", 1, 2), Int("width", 2, 8)]

# The failures come once a trial trains: the search builds every candidate first, in its own
# process and in eval mode, to cost it.
class Net(nn.Sequential):
    def train(self, mode=True):
        if mode and self.width == 2:
            raise ValueError("width 2 is not allowed")
        if mode and self.width >= 7:
            with open(Path(__file__).with_name("deaths.log"), "a") as log:
                log.write(f"{self.depth} {self.width}\\n")
            os._exit(1)
        return super().train(mode)

def build(params, input_shape, num_classes):
    layers, channels = [], input_shape[0]
    for _ in range(params["depth"]):
        layers += [nn.Conv2d(channels, params["width"], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = params["width"]
    side = input_shape[1] >> params["depth"]
    net = Net(*layers, nn.Flatten(), nn.Linear(channels * side * side, num_classes))
    net.depth, net.width = params["depth"], params["width"]
    return net

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def crashy_search(folder, ray: str = ""):
    """The example's search (on Ray Tune when ``ray`` holds a [RAY] section): trials.csv and the
    deaths logged, one line per attempt that died."""
    (folder / "crashy.py").write_text(EXAMPLE)
    config = write_config(folder, train={"example": str(folder / "crashy.py"), "r1": "8",
                                         "r2": "1", "seed": "1"})
    config.write_text(config.read_text() + ray)
    assert main(["--config", str(config)]) == 0
    deaths = (folder / "deaths.log").read_text().split("\n") if (folder / "deaths.log").exists() else []
    return pd.read_csv(folder / "results" / "run" / "trials.csv"), deaths


@pytest.fixture(scope="module")
def worker_search(tmp_path_factory):
    """The same example without Ray: trials run in sparsemod's own worker process."""
    return crashy_search(tmp_path_factory.mktemp("worker"))


def test_a_trial_that_kills_its_worker_is_retried_then_failed_and_the_search_goes_on(worker_search):
    worker_search, deaths = worker_search
    assert sorted(worker_search["index"]) == list(range(10))
    crashed = worker_search[worker_search["width"] >= 7]
    assert len(crashed) >= 1
    assert (crashed["status"] == "failed").all()
    assert (crashed["reason"] == "worker: the trial's process died 2 times (exit code 1); "
                                 "not run again ([RAY] max_failures = 1)").all()
    for (depth, width), group in crashed.groupby(["depth", "width"]):
        assert deaths.count(f"{depth} {width}") == 2 * len(group)  # max_failures = 1: two attempts
    # trials after a crash ran in a new worker
    after = worker_search[worker_search["index"] > crashed["index"].min()]
    assert (after["status"] == "completed").any()


def test_the_worker_starts_a_job_at_submit_and_the_next_one_as_a_result_arrives(tmp_path):
    """The worker must not idle while the search's process records a result, saves
    experiment.json and draws the report: a submitted job is handed over at once, and a
    queued one as soon as the previous result is received.  Seen on the pipe: the worker's
    result is there before anyone waits for it."""
    from sparsemod.costs import Device
    from sparsemod.executors.local import ProblemSource, WorkerExecutor
    from sparsemod.trial.job import TrialConfig, TrialJob

    (tmp_path / "crashy.py").write_text(EXAMPLE)
    source = ProblemSource(tmp_path / "crashy.py", False, "digits", None, 0)
    executor = WorkerExecutor(source, TrialConfig("post", 2, Device(1e9), 1, False))
    try:
        jobs = [TrialJob(k, f"{k}_0", "sobol", {"depth": 1, "width": 3 + k}, 1, k) for k in range(2)]
        executor.submit(jobs[0])
        assert executor.connection.poll(120), "the first job never started before wait()"
        executor.submit(jobs[1])
        first = executor.wait()
        assert (first.job.index, first.status) == (0, "completed")
        assert executor.pending == 1
        assert executor.connection.poll(120), "the queued job did not start when the first result came"
        second = executor.wait()
        assert (second.job.index, second.status, executor.pending) == (1, "completed", 0)
    finally:
        executor.close()
