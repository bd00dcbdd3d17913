"""Trials on Ray Tune, with a real local Ray runtime (this machine's 2 CPUs)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO, write_config
from ray import tune
from ray.tune.schedulers import TrialScheduler
from test_executors import crashy_search

from sparsemod.cli import main
from sparsemod.executors.tune_hooks import RuleScheduler
from sparsemod.executors.tune_trainable import RESULT_FILE, ExampleSource
from sparsemod.optimizer.record import load_record
from sparsemod.search.stopping import MOASHA

RAY = "[RAY]\naddress = local\nmax_concurrent = 2\ncpus_per_trial = 1\nmax_failures = 1\n"


def tune_experiment(results: Path) -> Path:
    """The one Tune experiment of a search that ran once, in the default storage_path."""
    [experiment] = [p for p in (results / "tune").iterdir() if p.is_dir()]
    return experiment


@pytest.fixture(scope="module")
def tune_search(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    trials, deaths = crashy_search(folder, RAY)
    return trials, deaths, folder / "results" / "run"


def test_every_planned_trial_runs_in_its_phase(tune_search):
    trials, _, _ = tune_search
    assert sorted(trials["index"]) == list(range(10))
    assert (trials["status"] == "completed").sum() >= 4
    assert sorted(trials["phase"]) == ["gp"] * 2 + ["sobol"] * 8


def test_a_trial_that_raises_is_failed_with_its_reason(tune_search):
    trials, _, _ = tune_search
    raised = trials[trials["width"] == 2]
    assert len(raised) >= 1 and (raised["status"] == "failed").all()
    assert raised["reason"].str.startswith("train: ValueError: width 2 is not allowed").all()


def test_a_killed_worker_is_retried_then_failed_with_rays_reason(tune_search):
    trials, deaths, _ = tune_search
    crashed = trials[trials["width"] >= 7]
    assert len(crashed) >= 1 and (crashed["status"] == "failed").all()
    assert (crashed["reason"] == "worker: ActorDiedError: The actor died unexpectedly before "
                                 "finishing this task.").all()
    assert (crashed["total_seconds"] > 0).all()  # the time its attempts took
    for (depth, width), group in crashed.groupby(["depth", "width"]):
        assert deaths.count(f"{depth} {width}") == 2 * len(group)  # max_failures = 1: two attempts


def test_tunes_result_grid_holds_every_trial_and_its_model(tune_search):
    trials, _, results = tune_search
    experiment = tune_experiment(results)
    assert tune.Tuner.can_restore(experiment)
    grid = tune.Tuner.restore(str(experiment), trainable="tune_trial").get_results()
    assert len(grid) == 10
    by_index = {int(Path(result.path).name.removeprefix("trial_")): result for result in grid}
    crashed = set(trials[trials["width"] >= 7]["index"])
    assert {i for i, result in by_index.items() if result.error is not None} == crashed
    for row in trials[trials["status"] == "completed"].itertuples():
        result = by_index[row.index]
        assert result.metrics["error"] == pytest.approx(row.error)
        with result.checkpoint.as_directory() as folder:
            saved = torch.load(Path(folder) / RESULT_FILE, weights_only=False)
        assert saved.state_dict is not None and saved.metrics["model_size"] == pytest.approx(row.model_size)
    # TensorBoard logs by default, in each trial's folder
    assert all(list((experiment / f"trial_{i}").glob("events.out.tfevents.*")) for i in by_index)


def test_the_stopping_rule_as_a_tune_scheduler():
    """MO-ASHA with one objective, grace 1, η 2: the rung at epoch 1 keeps its best ⌈n/2⌉."""
    scheduler = RuleScheduler(MOASHA(1, 2, ("error",)).on_report, ("error",))

    def result(trial: int, epoch: int, error: float, final: bool = False) -> str:
        return scheduler.on_trial_result(None, None, {"index": trial, "epoch": epoch, "max_epochs": 4,
                                                      "bracket": "scratch", "error": error, "final": final})

    assert result(0, 1, 0.5) == TrialScheduler.CONTINUE  # alone at the rung
    assert result(1, 1, 0.7) == TrialScheduler.STOP  # keep 1 of 2: trial 0
    assert result(2, 1, 0.1) == TrialScheduler.CONTINUE  # keep 2 of 3: trials 2, 0
    assert result(3, 3, 0.9) == TrialScheduler.CONTINUE  # epoch 3 is no rung of 4 epochs
    assert result(1, 4, 0.9, final=True) == TrialScheduler.CONTINUE  # a final result is not judged


def test_trials_report_epochs_and_the_tune_scheduler_stops_them(tmp_path):
    config = write_config(tmp_path, train={"r1": "6", "r2": "0", "epochs1": "3", "seed": "2",
                                           "early_stopping": "moasha", "reduction_factor": "2"})
    config.write_text(config.read_text() + RAY)
    assert main(["--config", str(config)]) == 0
    results = tmp_path / "results" / "run"
    table = pd.read_csv(results / "trials.csv")
    stopped = table[table["status"] == "stopped"]
    assert sorted(table["index"]) == list(range(6)) and len(stopped) >= 1
    assert set(stopped["epochs_trained"]) <= {1, 2}
    assert (table[table["status"] == "completed"]["epochs_trained"] == 3).all()
    assert set(pd.read_csv(results / "pareto.csv")["arm"]).isdisjoint(stopped["arm"])
    experiment = load_record(results / "experiment.json").experiment
    assert {i for i, t in experiment.trials.items() if t.status.is_early_stopped} == set(stopped["index"])
    # Tune stopped them: each stopped trial's last Tune result is its rung report
    for row in stopped.itertuples():
        progress = pd.read_csv(tune_experiment(results) / f"trial_{row.index}" / "progress.csv")
        assert list(progress["epoch"])[-1] == row.epochs_trained and not progress["final"].iloc[-1]


def test_the_judge_runs_on_the_searchs_thread_only(tmp_path, monkeypatch):
    """Tune's scheduler asks from Tune's thread; the search's judge (its reports and MO-ASHA's
    rungs, which the search's thread also reads and writes) must answer on the search's."""
    from sparsemod.search.loop import Search

    threads, judge = [], Search._judge

    def spy(self, report):
        threads.append(threading.current_thread() is threading.main_thread())
        return judge(self, report)

    monkeypatch.setattr(Search, "_judge", spy)
    config = write_config(tmp_path, train={"r1": "4", "r2": "0", "epochs1": "2", "early_stopping": "moasha",
                                           "grace_epochs": "1", "reduction_factor": "2"})
    config.write_text(config.read_text() + RAY)
    assert main(["--config", str(config)]) == 0
    assert threads and all(threads), threads


def ray_daemons(temp_dir: str) -> list[str]:
    """Command lines of the processes of Ray sessions under ``temp_dir``: its path is in their
    arguments (gcs_server, raylet) or environment (agents and workers that renamed themselves)."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):  # gone, or not a process
            if proc.name.isdigit() and f"RAY_TMPDIR={temp_dir}".encode() in (proc / "environ").read_bytes().split(b"\0") \
                    or temp_dir.encode() in (proc / "cmdline").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_a_killed_driver_leaves_no_ray_daemons_and_resumes_with_nothing_lost(tmp_path):
    config = write_config(tmp_path, train={"r1": "3", "r2": "1", "r3": "1", "morphisms": "true", "seed": "1"})
    config.write_text(config.read_text() + RAY)
    results = tmp_path / "results" / "run"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a limit
    output = tmp_path / "printed.txt"  # a file, as a user's redirect (a pipe's reader changes Ray's exit)
    with output.open("w") as out:
        search = subprocess.Popen([sys.executable, "main.py", "--config", str(config)], cwd=REPO,
                                  env={**os.environ, "RAY_TMPDIR": temp_dir}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and search.poll() is None:
        if (results / "trials.csv").exists() and len(pd.read_csv(results / "trials.csv")) >= 2:
            break
        time.sleep(0.5)
    assert search.poll() is None, output.read_text()
    assert ray_daemons(temp_dir)  # the search's own Ray runtime runs
    before = pd.read_csv(results / "trials.csv")
    search.send_signal(signal.SIGKILL)
    search.wait()
    killed = time.monotonic()
    while time.monotonic() < killed + 20 and not all("Agent" in line for line in ray_daemons(temp_dir)):
        time.sleep(0.5)  # the runtime's GCS, raylet and trial workers go with the driver
    assert all("Agent" in line for line in ray_daemons(temp_dir)), ray_daemons(temp_dir)
    while time.monotonic() < killed + 90 and ray_daemons(temp_dir):
        time.sleep(1)  # Ray's two idle agents wait for the dead GCS a minute, then exit too
    assert ray_daemons(temp_dir) == []
    shutil.rmtree(temp_dir, ignore_errors=True)  # the killed session's logs
    printed = output.read_text()  # Ray's start-up and Tune's tables are hidden without debug
    assert not any(notice in printed for notice in ("Started a local Ray instance", "(raylet)",
                                                    "View detailed results", "Trial status")), printed
    assert "(Ray Tune (local, 2 at once, 1 CPU each; Tune's experiment in " in printed.splitlines()[0]

    assert main(["--config", str(config), "--resume"]) == 0
    after = pd.read_csv(results / "trials.csv")
    assert sorted(after["index"]) == list(range(7))
    assert list(after["phase"]).count("morph") == 2
    kept = after.set_index("index").loc[before["index"]]
    assert (kept["arm"].to_numpy() == before["arm"].to_numpy()).all()
    assert kept["error"].to_numpy() == pytest.approx(before["error"].to_numpy())
    experiment = load_record(results / "experiment.json").experiment
    assert all(not t.status.is_running for t in experiment.trials.values())
    # the morph children started from their parents' weights, sent from the driver's models/
    children = after[after["phase"] == "morph"]
    resumed_run = max(p for p in (results / "tune").iterdir())
    for row in children.itertuples():
        final = pd.read_csv(resumed_run / f"trial_{row.index}" / "progress.csv").iloc[-1]
        assert final["parent"] == row.parent and row.status == "completed"
    assert len(list((results / "tune").iterdir())) == 2  # a new Tune experiment for the resumed run


def test_the_example_reaches_a_worker_without_the_drivers_file(tmp_path):
    text = "SPACE = []\n"
    local = tmp_path / "mine.py"
    local.write_text(text)
    assert ExampleSource(local, text, False).materialize() == local
    elsewhere = ExampleSource(tmp_path / "gone" / "mine.py", text, False).materialize()
    other = ExampleSource(tmp_path / "gone" / "mine.py", text + "# another search's\n", False).materialize()
    assert elsewhere.read_text() == text and other.read_text() == text + "# another search's\n"
    assert elsewhere.parent != other.parent and elsewhere.name == "mine.py"


def test_a_trial_asking_for_more_than_the_local_runtime_has_is_refused(tmp_path, capsys):
    config = write_config(tmp_path)
    config.write_text(config.read_text() + RAY + "gpus_per_trial = 1\n")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (f"error: {config} [RAY] gpus_per_trial: expected at most the 0 GPUs "
                                            "of this machine's Ray runtime (address = local), got 1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("keys, message", [
    ("address = 127.0.0.1:{port}", "[RAY] address: nothing answers at 127.0.0.1:{port} (Connection refused); "
                                   "start the cluster (ray start --head) or set address = local"),
    ("address = auto", "[RAY] address: auto found no Ray cluster (Could not find any running Ray instance); "
                       "start one (ray start --head) or set address = local"),
    ("address = local\nstorage_path = /proc/sparsemod", "[RAY] storage_path: expected a folder sparsemod can "
                                                        "create, got '/proc/sparsemod' (FileNotFoundError: No "
                                                        "such file or directory)"),
    ("address = local\nstorage_path = foo://bar/x", "[RAY] storage_path: expected a folder or a URI Tune can "
                                                    "write to, got 'foo://bar/x' (ArrowInvalid: Unrecognized "
                                                    "filesystem type in URI: foo://bar/x)"),
])
def test_a_cluster_or_storage_ray_cannot_use_is_one_line_naming_the_key(tmp_path, keys, message):
    """Not a Ray traceback, nor ray.init retrying an unreachable address for ever."""
    port = free_port()
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "[RAY]\n" + keys.format(port=port) + "\n")
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # no runtime of another test is found there
    try:
        done = subprocess.run([sys.executable, "main.py", "--config", str(config)], cwd=REPO, timeout=120,
                              env={**os.environ, "RAY_TMPDIR": temp_dir}, capture_output=True, text=True)
        assert ray_daemons(temp_dir) == []  # none started, or the one started was shut down
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {config} {message.format(port=port)}"]


def test_an_address_where_something_else_listens_is_one_line(tmp_path):
    """A port that accepts but does not speak Ray's gRPC (a web server, a typo'd port):
    ray.init would retry it for ever."""
    config = write_config(tmp_path)
    with socket.socket() as listener:  # accepts connections (the kernel's backlog), says nothing
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config.write_text(config.read_text() + f"[RAY]\naddress = 127.0.0.1:{port}\n")
        done = subprocess.run([sys.executable, "main.py", "--config", str(config)], cwd=REPO, timeout=120,
                              capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {config} [RAY] address: 127.0.0.1:{port} answers, but not as a Ray cluster (no gRPC reply "
        "within 10 s); give its head node's GCS port (6379 unless ray start --port changed it; ray://: its "
        "client port, 10001)"]


def test_a_search_on_a_running_cluster_at_its_address(tmp_path):
    """The README's cluster steps on one machine: ``ray start --head``, then ``address =
    HEAD_IP:PORT``, with Ray's token authentication on (``RAY_AUTH_MODE=token``, the cluster's
    token in ``RAY_AUTH_TOKEN``)."""
    import ray.util

    host, port = ray.util.get_node_ip_address(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": temp_dir, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                             f"--temp-dir={temp_dir}", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            with contextlib.suppress(OSError):
                socket.create_connection((host, port), timeout=1).close()
                break
            time.sleep(0.5)
        config = write_config(tmp_path, train={"r1": "2", "r2": "1"})
        config.write_text(config.read_text() + f"[RAY]\naddress = {host}:{port}\nmax_concurrent = 2\n")
        done = subprocess.run([sys.executable, "main.py", "--config", str(config)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        head.terminate()  # ray start --block stops the cluster's processes as it exits
        head.wait(timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"(Ray Tune ({host}:{port}, 2 at once, 1 CPU each;" in done.stdout.splitlines()[0]
    table = pd.read_csv(tmp_path / "results" / "run" / "trials.csv")
    assert sorted(table["index"]) == [0, 1, 2, 3] and (table["status"] == "completed").all(), table["reason"]
    # the trials ran in the cluster's workers, which logged into its session folder
    assert any(Path(temp_dir).glob("session_*/logs/worker-*")), "no trial ran on the cluster"
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_gpu_trial_is_given_the_gpu_ray_assigned_it(tmp_path):
    """gpus_per_trial = 1 on a runtime with one GPU (a real one, or one Ray is told of on a
    CPU-only machine): the trial trains on ``cuda``, the GPU Ray made visible to it."""
    import ray

    config = write_config(tmp_path, train={"r1": "2", "r2": "0", "epochs1": "1"})
    config.write_text(config.read_text() + RAY + "gpus_per_trial = 1\n")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, configure_logging=False)
    try:
        assert main(["--config", str(config)]) == 0
    finally:
        ray.shutdown()
    table = pd.read_csv(tmp_path / "results" / "run" / "trials.csv")
    assert len(table) == 2
    if torch.cuda.is_available():
        assert (table["status"] == "completed").all(), table["reason"].tolist()
    else:  # the trial tried cuda (where Ray's CUDA_VISIBLE_DEVICES points), which a CPU torch lacks
        assert (table["status"] == "failed").all()
        assert all(reason.startswith("device: RuntimeError: the trial was given a GPU, but torch ")
                   and reason.endswith("sees no CUDA device (CUDA_VISIBLE_DEVICES=0)") for reason in table["reason"])
