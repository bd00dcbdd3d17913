"""SIGTERM (a scheduler, ``kill``) and SIGHUP (a closed terminal), to the search's process
alone or to its whole process group, stop a search as Ctrl-C does: the running trial
stopped, what finished saved, one line, exit status 128 + the signal's number, time.txt
naming the signal; a second signal during that shutdown ends it at once."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, write_config
from test_resume import rows

from sparsemod import interrupt
from sparsemod.cli import main
from sparsemod.optimizer.record import load_record

RESUME = "python main.py --resume continues the search"


@pytest.fixture
def start():
    """main.py in a session of its own, as a scheduler or a terminal starts a job; whatever
    of its group outlives the test (a trial stuck in C code, when the handling fails) is killed."""
    started = []

    def launch(config: Path, **env: str) -> subprocess.Popen:
        search = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--config", str(config)],
                                  cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True, env={**os.environ, **env})
        started.append(search.pid)
        return search

    yield launch
    for pgid in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def wait_for(condition, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, f"the search ended early, exit status {process.returncode}"
    assert condition(), "the search did not get there in time"


def group_gone(pgid: int) -> bool:
    """Whether every process of the search's group ended (the trial worker with the search)."""
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum, to_group", [(signal.SIGTERM, False), (signal.SIGTERM, True),
                                              (signal.SIGHUP, True)],
                         ids=["TERM-process", "TERM-group", "HUP-group"])
def test_a_signal_stops_the_search_like_ctrl_c(tmp_path, start, signum, to_group):
    config = write_config(tmp_path, train={"r1": "4", "r2": "1", "batch_size": "2", "epochs1": "3",
                                           "epochs2": "2"})
    results = tmp_path / "results" / "run"
    search = start(config)
    wait_for(lambda: rows(results / "trials.csv") >= 1, search)
    (os.killpg if to_group else os.kill)(search.pid, signum)
    _, err = search.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert search.returncode == 128 + signum, err
    [line] = err.strip().splitlines()  # no traceback (the worker's BrokenPipeError was one)
    assert group_gone(search.pid)
    before = pd.read_csv(results / "trials.csv")
    assert line == f"interrupted ({name}): {len(before)} trials recorded in {results}; {RESUME}"
    assert (results / "time.txt").read_text().startswith(f"state: interrupted ({name})\n")
    assert not (results / ".lock").exists()
    assert not [p for p in results.rglob(".*") if p.name != ".lock"]  # no half-written file left
    # Ax's snapshot agrees: a recorded trial is finished there, or (a signal between the two
    # records) still running, and a resume tells Ax its row
    experiment = load_record(results / "experiment.json").experiment
    finished = {i for i, t in experiment.trials.items() if t.status.is_completed or t.status.is_failed}
    running = {i for i, t in experiment.trials.items() if t.status.is_running}
    assert finished <= set(before["index"]) <= finished | running and 1 <= len(before) < 6
    if signum == signal.SIGTERM and not to_group:
        assert main(["--config", str(config), "--resume"]) == 0
        after = pd.read_csv(results / "trials.csv")
        assert sorted(after["index"]) == list(range(6))
        kept = after.set_index("index").loc[before["index"]].reset_index()
        pd.testing.assert_frame_equal(kept[["arm", "error"]], before[["arm", "error"]])
        assert (results / "time.txt").read_text().startswith("state: finished\n")


STUCK_EXAMPLE = '''
from pathlib import Path
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("width", 2, 8)]

# Stuck once the trial trains (the search builds each candidate in its own process first, to cost it)
class Net(nn.Sequential):
    def train(self, mode=True):
        if mode:
            Path(__file__).with_name("training").touch()
            sum(range(10 ** 13))  # one C call of hours: the worker's SIGTERM handler waits for it
        return super().train(mode)

def build(params, input_shape, num_classes):
    return Net(nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], num_classes))

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def test_a_second_signal_during_the_shutdown_ends_it_at_once(tmp_path, start):
    """The first SIGTERM's shutdown waits for a trial stuck in C code (then kills it); a
    second one ends the search and its worker at once."""
    (tmp_path / "stuck.py").write_text(STUCK_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "stuck.py"), "r1": "2", "r2": "0"})
    results = tmp_path / "results" / "run"
    search = start(config)
    wait_for((tmp_path / "training").exists, search)
    os.killpg(search.pid, signal.SIGTERM)
    wait_for(lambda: (results / "time.txt").exists(), search, 30)  # the first signal's mark
    os.killpg(search.pid, signal.SIGHUP)
    _, err = search.communicate(timeout=60)
    assert search.returncode == 128 + signal.SIGHUP, err
    assert err.strip().splitlines() == [f"interrupted again (SIGHUP): stopped at once; {RESUME}"]
    assert group_gone(search.pid)  # the stuck worker was killed with it
    assert (results / "time.txt").read_text() == "state: interrupted (SIGTERM)\n"
    assert not (results / ".lock").exists()
    assert (results / "experiment.json").exists()  # the search's own record, resumable


def test_sigterm_to_a_ray_search_and_its_workers(tmp_path, start):
    """The Ray Tune path: SIGTERM to the group (the driver, Ray's daemons and the trial
    workers it started) stops the search in one line; no Ray process outlives it."""
    from test_tune import RAY, ray_daemons

    config = write_config(tmp_path, train={"r1": "4", "r2": "1", "batch_size": "2", "epochs1": "3",
                                           "epochs2": "2"})
    config.write_text(config.read_text() + RAY)
    results = tmp_path / "results" / "run"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a limit
    try:
        search = start(config, RAY_TMPDIR=temp_dir)
        wait_for(lambda: rows(results / "trials.csv") >= 1, search, 300)
        assert any("raylet" in line for line in ray_daemons(temp_dir))
        os.killpg(search.pid, signal.SIGTERM)
        out, err = search.communicate(timeout=180)
        state = (results / "time.txt").read_text() if (results / "time.txt").exists() else None
        assert search.returncode == 128 + signal.SIGTERM, (err, state, out[-2000:])
        [line] = err.strip().splitlines()
        before = pd.read_csv(results / "trials.csv")
        assert line == f"interrupted (SIGTERM): {len(before)} trials recorded in {results}; {RESUME}"
        assert (results / "time.txt").read_text().startswith("state: interrupted (SIGTERM)\n")
        assert not (results / ".lock").exists()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ray_daemons(temp_dir):
            time.sleep(0.5)
        assert ray_daemons(temp_dir) == []  # shut down in order, not left waiting for a dead GCS
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def handlers():
    """The stopping signals' handlers restored after the test (a handled signal leaves the
    search's in place, for the shutdown)."""
    saved = {signum: signal.getsignal(signum) for signum in interrupt.STOPPING}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def swallowing(signum: int) -> None:
    """``signum`` to this process inside a call that catches the handler's exception and
    carries on, as a Ray C++ call does when it turns it into a status."""
    try:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises here, in the main thread
        raise AssertionError("the handler did not run")
    except KeyboardInterrupt:
        pass


def test_a_signal_whose_exception_a_library_swallowed_still_stops_at_the_next_check(handlers):
    with interrupt.stopping_signals():
        interrupt.check()  # nothing arrived: carries on
        swallowing(signal.SIGTERM)
        with pytest.raises(interrupt.Interrupted) as stop:
            interrupt.check()
    assert stop.value.status == 128 + 15


def test_a_plain_keyboard_interrupt_after_a_signal_is_that_signal(handlers):
    """``ray.get`` re-raises the handler's exception as a plain KeyboardInterrupt: the search
    still reports the signal that arrived (SIGTERM's 143, not Ctrl-C's 130)."""
    with interrupt.stopping_signals():
        assert interrupt.stopped(KeyboardInterrupt()).status == 128 + 2  # none arrived: Ctrl-C
        swallowing(signal.SIGTERM)
        stop = interrupt.stopped(KeyboardInterrupt())
    assert (stop.name, stop.status) == ("SIGTERM", 143)
