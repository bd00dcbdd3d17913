"""Kill a running search with SIGKILL, resume it, and lose nothing; a damaged trials.csv is
repaired from experiment.json or refused, never a reason to delete a model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import REPO, write_config

from sparsemod.cli import main
from sparsemod.optimizer.record import load_record


def rows(path) -> int:
    try:
        return len(pd.read_csv(path))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def kill_after(config, results, recorded: int, planned: int) -> pd.DataFrame:
    """Run main.py on ``config``, SIGKILL it once ``recorded`` trials are in trials.csv."""
    process = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--config", str(config)],
                               cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while rows(results / "trials.csv") < recorded and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = pd.read_csv(results / "trials.csv")
    assert recorded <= len(before) < planned, "the kill came too late to test resume"
    return before


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    config = write_config(folder, train={"r1": "4", "r2": "2", "batch_size": "2", "epochs1": "2",
                                         "epochs2": "2"})
    results = folder / "results" / "run"
    before = kill_after(config, results, 2, 8)
    refused = main(["--config", str(config)])  # without --resume: never overwritten
    assert main(["--config", str(config), "--resume"]) == 0
    return before, results, refused


def test_a_plain_rerun_is_refused(killed_and_resumed):
    assert killed_and_resumed[2] == 2


def test_earlier_trials_intact_and_planned_total_reached(killed_and_resumed):
    before, results, _ = killed_and_resumed
    after = pd.read_csv(results / "trials.csv")
    assert sorted(after["index"]) == list(range(8))
    assert list(after["phase"]) .count("sobol") == 4 and list(after["phase"]).count("gp") == 4
    kept = after.set_index("index").loc[before["index"]].reset_index()
    columns = ["arm", "phase", "blocks", "filters", "error", "model_size", "working_memory"]
    pd.testing.assert_frame_equal(kept[columns], before[columns])


def test_experiment_models_and_lock_are_consistent(killed_and_resumed):
    _, results, _ = killed_and_resumed
    statuses = [t.status for t in load_record(results / "experiment.json").trials.values()]
    assert len(statuses) == 8 and all(s.is_completed or s.is_failed for s in statuses)
    front = set(pd.read_csv(results / "pareto.csv")["arm"])
    assert {p.name for p in (results / "models").iterdir()} == front
    assert not (results / ".lock").exists()
    assert "state: finished" in (results / "time.txt").read_text()


def test_a_second_search_on_a_locked_folder_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, train={"r1": "1", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    holder = subprocess.Popen(  # another search's process: the lock held, its pid in the file
        [sys.executable, "-c", "import os, sys, time; from pathlib import Path; from sparsemod.store.lock import "
         "FolderLock; lock = FolderLock(Path(sys.argv[1])).__enter__(); print('held', flush=True); time.sleep(60)",
         str(tmp_path / "results" / "run")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["--config", str(config), "--resume"]) == 2
        assert f"in use by another sparsemod search (pid {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()  # as SIGKILL would end a search: no clean-up of its own
        holder.wait()
    assert (tmp_path / "results" / "run" / ".lock").exists()  # the killed owner's file stays...
    assert main(["--config", str(config), "--resume"]) == 0  # ...and locks nothing


def test_resume_without_a_search_is_a_clear_error(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_a_search_killed_in_its_morph_rounds_resumes_them(tmp_path):
    config = write_config(tmp_path, train={"r1": "4", "r2": "1", "r3": "2", "morphisms": "true",
                                           "epochs1": "2", "epochs2": "2", "epochs3": "2"})
    results = tmp_path / "results" / "run"
    before = kill_after(config, results, 7, 10)  # a morph child recorded, its sibling running
    assert "morph" in set(before["phase"])
    assert main(["--config", str(config), "--resume"]) == 0
    after = pd.read_csv(results / "trials.csv")
    assert sorted(after["index"]) == list(range(10))
    morph = after[after["phase"] == "morph"]
    assert len(morph) == 4 and morph["parent"].notna().all()
    index = after.set_index("arm")["index"]
    assert all(index[parent] < child for parent, child in zip(morph["parent"], morph["index"]))  # earlier trials
    kept = after.set_index("index").loc[before["index"]].reset_index()
    pd.testing.assert_frame_equal(kept[["arm", "phase", "error"]], before[["arm", "phase", "error"]])
    experiment = load_record(results / "experiment.json").experiment
    assert all(experiment.trials[i].run_metadata["parent"] == parent for i, parent in zip(morph["index"], morph["parent"]))
    assert "state: finished" in (results / "time.txt").read_text()


def test_ctrl_c_ends_the_search_in_one_line_and_it_resumes(tmp_path):
    """SIGINT to the terminal's process group, as Ctrl-C sends it: no traceback, exit 130,
    no process of the search left, and --resume finishes the plan."""
    config = write_config(tmp_path, train={"r1": "4", "r2": "2", "batch_size": "2", "epochs1": "2",
                                           "epochs2": "2"})
    results = tmp_path / "results" / "run"
    process = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--config", str(config)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 240
    while rows(results / "trials.csv") < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    [line] = err.strip().splitlines()  # no traceback, no warning of a leaked semaphore
    with pytest.raises(ProcessLookupError):  # the trial worker went with the search
        for _ in range(100):
            os.killpg(process.pid, 0)
            time.sleep(0.1)
    before = pd.read_csv(results / "trials.csv")
    assert 2 <= len(before) < 8 and not (results / ".lock").exists()
    assert (results / "time.txt").read_text().startswith("state: interrupted (SIGINT)\n")
    assert line == (f"interrupted (SIGINT): {len(before)} trials recorded in {results}; "
                    "python main.py --resume continues the search")
    assert main(["--config", str(config), "--resume"]) == 0
    after = pd.read_csv(results / "trials.csv")
    assert sorted(after["index"]) == list(range(8))
    kept = after.set_index("index").loc[before["index"]].reset_index()
    pd.testing.assert_frame_equal(kept[["arm", "phase", "error"]], before[["arm", "phase", "error"]])


def test_a_search_killed_in_its_first_trial_resumes(tmp_path):
    config = write_config(tmp_path, train={"r1": "2", "r2": "0", "epochs1": "3"})
    results = tmp_path / "results" / "run"
    process = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--config", str(config)],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (results / "experiment.json").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (results / "trials.csv").exists(), "the kill came too late: the first trial was recorded"
    assert main(["--config", str(config), "--resume"]) == 0
    after = pd.read_csv(results / "trials.csv")
    assert sorted(after["index"]) == [0, 1] and set(after["status"]) == {"completed"}
    assert "state: finished" in (results / "time.txt").read_text()


def test_a_damaged_experiment_json_is_one_line_on_resume(tmp_path, capsys):
    config = write_config(tmp_path, train={"r1": "1", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    snapshot = tmp_path / "results" / "run" / "experiment.json"
    snapshot.write_text(snapshot.read_text()[: len(snapshot.read_text()) // 2])
    capsys.readouterr()
    assert main(["--config", str(config), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{snapshot}: damaged, not an Ax experiment snapshot" in err


def non_dominated(table: pd.DataFrame, objectives: list[str]) -> set[str]:
    """Arms no other completed arm is at least as good as in every objective and better in one."""
    done = table[table["status"] == "completed"]
    values = {arm: done.loc[done["arm"] == arm, objectives].to_numpy(dtype=float)[0] for arm in done["arm"]}
    return {a for a, va in values.items()
            if not any((vb <= va).all() and (vb < va).any() for b, vb in values.items() if b != a)}


def test_resume_rewrites_the_files_a_kill_left_stale(tmp_path):
    config = write_config(tmp_path, train={"r1": "3", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    results = tmp_path / "results" / "run"
    # as if killed after trials.csv and before pareto.csv, pareto.png, report.html of the last trial
    (results / "pareto.csv").write_text("index,arm\n")
    (results / "report.html").write_text("stale")
    (results / "pareto.png").write_bytes(b"stale")
    assert main(["--config", str(config), "--resume"]) == 0
    trials = pd.read_csv(results / "trials.csv")
    front = non_dominated(trials, ["error", "model_size", "working_memory"])
    assert front and set(pd.read_csv(results / "pareto.csv")["arm"]) == front
    assert (results / "report.html").read_text() != "stale"
    assert (results / "pareto.png").read_bytes()[:4] == b"\x89PNG"


KILLER_EXAMPLE = '''
import os
import signal
from pathlib import Path
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Int

SPACE = [Int("width", 2, 8)]

class Killer(nn.Sequential):
    def train(self, mode=True):
        if mode:  # once it trains (costs are measured before, in eval mode)
            with open(Path(__file__).with_name("starts.log"), "a") as log:
                log.write("start\\n")
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        return super().train(mode)

def build(params, input_shape, num_classes):
    return Killer(nn.Flatten(), nn.Linear(64, params["width"]), nn.ReLU(), nn.Linear(params["width"], num_classes))

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def test_a_trial_that_kills_its_process_is_failed_after_max_failures(tmp_path):
    """The trial runs in a worker process: its death is the worker's, not the search's."""
    (tmp_path / "killer.py").write_text(KILLER_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "killer.py"), "r1": "1", "r2": "0"})
    command = [sys.executable, str(REPO / "main.py"), "--config", str(config)]
    run = subprocess.run(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert run.returncode == 0
    assert (tmp_path / "starts.log").read_text().split() == ["start", "start"]  # max_failures = 1
    trials = pd.read_csv(tmp_path / "results" / "run" / "trials.csv")
    assert list(trials["status"]) == ["failed"]
    assert trials["reason"][0] == ("worker: the trial's process died 2 times (killed by SIGKILL); "
                                   "not run again ([RAY] max_failures = 1)")
    assert load_record(tmp_path / "results" / "run" / "experiment.json").experiment.trials[0].status.is_failed
    # a resume runs it never again
    run = subprocess.run(command + ["--resume"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert run.returncode == 0
    assert (tmp_path / "starts.log").read_text().split() == ["start", "start"]


COLUMNS = ["index", "arm", "phase", "blocks", "filters", "status", "error", "model_size", "working_memory"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished")
    config = write_config(folder, train={"r1": "6", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    return folder / "results" / "run"


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished search, its config, and what it held before any damage."""
    shutil.copytree(finished, tmp_path / "results" / "run")
    results = tmp_path / "results" / "run"
    before = pd.read_csv(results / "trials.csv")
    models = sorted(p.name for p in (results / "models").iterdir())
    return write_config(tmp_path, train={"r1": "6", "r2": "0"}), results, before, models


def cut(path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("where", ["half of the last line", "55 %", "inside the header"])
def test_a_cut_trials_csv_is_repaired_and_no_model_is_deleted(copy, where, capsys):
    config, results, before, models = copy
    path = results / "trials.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    if where == "half of the last line":
        path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    elif where == "55 %":
        cut(path, 0.55)
    else:
        path.write_bytes(lines[0][:20])
    survivors = pd.read_csv(path)["status"].isin(["completed", "failed"]).sum() if where != "inside the header" else 0
    assert main(["--config", str(config), "--resume"]) == 0
    assert "re-told from experiment.json" in capsys.readouterr().err
    after = pd.read_csv(path)
    assert len(after) == len(before) == 6 and survivors < 6
    pd.testing.assert_frame_equal(after[COLUMNS], before[COLUMNS], rtol=1e-8)  # Ax keeps 10 decimals
    assert sorted(p.name for p in (results / "models").iterdir()) == models
    assert set(pd.read_csv(results / "pareto.csv")["arm"]) == set(models)
    kept = after.set_index("arm").loc[models]  # extras of Pareto arms come back from their models
    pd.testing.assert_series_equal(kept["test_accuracy"], before.set_index("arm").loc[models, "test_accuracy"])


def test_a_row_with_a_wrong_metric_is_re_told_from_ax(copy, capsys):
    config, results, before, models = copy
    table = before.copy()
    table.loc[0, "error"] = 0.999
    table.to_csv(results / "trials.csv", index=False)
    assert main(["--config", str(config), "--resume"]) == 0
    assert "(trials 0)" in capsys.readouterr().err
    assert pd.read_csv(results / "trials.csv")["error"][0] == pytest.approx(before["error"][0], rel=1e-9)


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.assign(index=t["index"] + 100), "row of trial 100, which experiment.json never ran (6 trials)"),
    (lambda t: t.assign(filters=t["filters"] + 1), "trial 0 has other parameters than in experiment.json"),
    (lambda t: t.drop(columns=["error"]), "columns differ from this search's (missing: error; unexpected: none)"),
])
def test_a_table_ax_cannot_vouch_for_is_refused_and_nothing_deleted(copy, damage, message, capsys):
    config, results, before, models = copy
    damaged = damage(before)
    damaged.to_csv(results / "trials.csv", index=False)
    assert main(["--config", str(config), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{results / 'trials.csv'}: {message}" in err
    pd.testing.assert_frame_equal(pd.read_csv(results / "trials.csv"), damaged)
    assert sorted(p.name for p in (results / "models").iterdir()) == models


def test_a_resumed_search_proposes_what_the_search_would_have_proposed(tmp_path):
    """The proposer's draws depend on the seed and the trials only: a new one (as a resumed
    search builds) picks the same GP trials from the same observations."""
    from sparsemod.cli import make_proposer
    from sparsemod.config import load_config
    from sparsemod.optimizer.proposer import Observed
    from sparsemod.problem import load_problem

    settings = load_config(write_config(tmp_path, train={"r1": "3", "seed": "5"}))
    problem = load_problem("cnn")
    data = problem.load_data("digits", None, 5)
    picks = []
    for _ in range(2):
        proposer = make_proposer(settings, problem, data)
        start = proposer.start(3)
        observed = Observed(start, [0.5, 0.2, 0.9])
        picks.append(proposer.gp(2, observed, start))
    assert picks[0] == picks[1] and len(picks[0]) == 2


@pytest.mark.parametrize("section, key, value, fragment", [
    ("TRAIN", "objectives", "2", "[TRAIN] objectives: was '3' when the search started, now '2'"),
    ("TRAIN", "seed", "1", "[TRAIN] seed: was '0' when the search started, now '1'"),
    ("TRAIN", "r1", "4", "[TRAIN] r1: was '2' when the search started, now '4'"),
    ("TRAIN", "constraints", "model_size <= 2000", "[TRAIN] constraints: was '' when"),
    ("TRAIN", "example", "SPACE", "[TRAIN] example: the search space changed"),
    ("MORPHNET", "threshold", "0.5", "[MORPHNET] threshold: was '0.01' when the search started"),
    ("TRAIN", "schedule", "cosine", "[TRAIN] schedule: was 'constant' when the search started, now 'cosine'"),
    ("TRAIN", "augment_shift", "1", "[TRAIN] augment_shift: was '0' when the search started, now '1'"),
])
def test_resume_refuses_a_config_that_would_change_the_trials_meaning(tmp_path, capsys, section, key, value, fragment):
    base = {"r1": "2", "r2": "0"}
    assert main(["--config", str(write_config(tmp_path, train=base))]) == 0
    if key == "example":  # the same example with one bound moved
        mine = tmp_path / "mine.py"
        mine.write_text((REPO / "examples" / "cnn.py").read_text().replace('Int("blocks", 1, 3)', 'Int("blocks", 1, 2)'))
        value = str(mine)
    config = write_config(tmp_path, train={**base, key: value} if section == "TRAIN" else base)
    if section != "TRAIN":
        config.write_text(config.read_text() + f"[{section}]\n{key} = {value}\n")
    capsys.readouterr()
    assert main(["--config", str(config), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_resume_accepts_more_rounds(tmp_path):
    config = write_config(tmp_path, train={"r1": "2", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    config = write_config(tmp_path, train={"r1": "2", "r2": "1", "batch_size": "1"})
    assert main(["--config", str(config), "--resume"]) == 0
    assert list(pd.read_csv(tmp_path / "results" / "run" / "trials.csv")["phase"]) == ["sobol", "sobol", "gp"]


SLOW_FAILURE = '''
import time
from pathlib import Path
from torch import nn
from sparsemod.data import load_digits
from sparsemod.space import Float

SPACE = [Float("x", 0.0, 1.0)]

class Slow(nn.Sequential):
    def train(self, mode=True):
        if mode:  # fails once it trains (its costs are measured before, in eval mode)
            with open(Path(__file__).with_name("builds.log"), "a") as log:
                log.write(repr(self.x) + "\\n")
            time.sleep(1.0)
            raise ValueError("never trainable")
        return super().train(mode)

def build(params, input_shape, num_classes):
    net = Slow(nn.Flatten(), nn.Linear(64, num_classes))
    net.x = params["x"]
    return net

def load_data(dataset, data_dir, seed):
    return load_digits(seed)
'''


def test_resume_does_not_rerun_trials_recorded_as_failed(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_FAILURE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "slow.py"), "r1": "4", "r2": "0"})
    results = tmp_path / "results" / "run"
    before = kill_after(config, results, 2, 4)
    assert (before["status"] == "failed").all()
    assert main(["--config", str(config), "--resume"]) == 0
    builds = [float(x) for x in (tmp_path / "builds.log").read_text().split()]
    for x in before["x"]:
        assert sum(abs(b - x) < 1e-12 for b in builds) == 1  # built once, before the kill
    assert sorted(pd.read_csv(results / "trials.csv")["index"]) == [0, 1, 2, 3]


def test_a_lost_failed_row_is_re_told_with_its_reason(tmp_path, capsys):
    from test_search import UNTRAINABLE_EXAMPLE

    (tmp_path / "failing.py").write_text(UNTRAINABLE_EXAMPLE)
    config = write_config(tmp_path, train={"example": str(tmp_path / "failing.py"), "r1": "2", "r2": "0"})
    assert main(["--config", str(config)]) == 0
    path = tmp_path / "results" / "run" / "trials.csv"
    before = pd.read_csv(path)
    path.write_text(path.read_text().splitlines()[0] + "\n")  # every row lost
    assert main(["--config", str(config), "--resume"]) == 0
    after = pd.read_csv(path)
    assert list(after["status"]) == ["failed", "failed"]
    assert list(after["reason"]) == list(before["reason"])  # Ax kept each reason's first line
