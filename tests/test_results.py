"""The results folder keeps the models of the front, and of parents whose children still run."""

import os
import stat
import subprocess
import sys

import torch
from conftest import REPO

from sparsemod.store.results import ResultsFolder
from sparsemod.trial.job import TrialJob, TrialResult


def finished(index: int, error: float, size: float) -> TrialResult:
    job = TrialJob(index, f"{index}_0", "morph", {"width": index}, 1, 0)
    metrics = {"error": error, "model_size": size, "working_memory": 100.0, "latency": 1e-4}
    return TrialResult(job, "completed", metrics=metrics, state_dict={"w": torch.zeros(1)})


def test_a_parent_off_the_front_keeps_its_model_while_kept_then_goes(tmp_path):
    results = ResultsFolder(tmp_path / "run", ("error", "model_size"), ["width"])
    results.create()
    assert results.record(finished(0, 0.2, 1000.0))
    assert results.record(finished(1, 0.1, 900.0), keep=frozenset({"0_0"}))  # dominates 0_0
    assert list(results.pareto()["arm"]) == ["1_0"]
    assert {p.name for p in results.models.iterdir()} == {"0_0", "1_0"}
    assert not results.record(finished(2, 0.3, 2000.0))  # nothing kept any more
    assert {p.name for p in results.models.iterdir()} == {"1_0"}


def test_plain_files_in_models_are_left_alone(tmp_path):
    results = ResultsFolder(tmp_path / "run", ("error", "model_size"), ["width"])
    results.create()
    (results.models / ".DS_Store").write_bytes(b"\0\1")
    assert results.record(finished(0, 0.2, 1000.0))
    assert results.record(finished(1, 0.1, 900.0))  # 0_0 falls off the front: its folder goes
    results.drop_models_off_front()
    assert sorted(p.name for p in results.models.iterdir()) == [".DS_Store", "1_0"]


def test_results_files_and_model_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        results = ResultsFolder(tmp_path / "run", ("error", "model_size"), ["width"])
        results.create()
        assert results.record(finished(0, 0.2, 1000.0))
        results.write_times({"sobol": 1.0}, 1.0, "finished")
    finally:
        os.umask(old)
    for name in ("trials.csv", "pareto.csv", "time.txt", "models/0_0/model.pt", "models/0_0/params.json"):
        assert stat.S_IMODE((results.folder / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((results.models / "0_0").stat().st_mode) == 0o755


def test_a_kill_in_the_middle_of_a_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "trials.csv"
    target.write_text("index,arm\n0,0_0\n")
    script = f"""
import time
from pathlib import Path
from sparsemod.store.results import atomic_write

def write(temporary):
    with open(temporary, "w") as handle:
        handle.write("index,ar")
        handle.flush()
        print("half written", flush=True)
        time.sleep(120)

atomic_write(Path({str(target)!r}), write)
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"half written\n"
    process.kill()
    process.wait()
    process.stdout.close()
    assert target.read_text() == "index,arm\n0,0_0\n"
    assert [p.read_text() for p in tmp_path.glob(".trials.csv.*.tmp")] == ["index,ar"]  # it was under way
