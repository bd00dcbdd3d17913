"""Faults of the operating system a user can cause or meet: a file where the results folder
should be, a folder this user cannot write, a disk that fills (or a file size limit) during
the search, a data folder that disappears.  Each is one line naming the path and what to do,
exit status 2, nothing written where it should not be, and what was recorded stays resumable."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, write_config
from test_resume import rows

from sparsemod.optimizer.record import load_record

RESUME = "python main.py --resume continues the search"
SMALL = {"r1": "4", "r2": "1", "batch_size": "2", "epochs1": "2", "epochs2": "2"}
# a root without the capabilities that let it ignore permissions: a user like any other
AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def run(config: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, str(REPO / "main.py"), "--config", str(config), *args],
                          cwd=config.parent, capture_output=True, text=True, timeout=300)


def start(config: Path, prefix: tuple[str, ...] = (), **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*prefix, sys.executable, str(REPO / "main.py"), "--config", str(config)],
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_rows(search: subprocess.Popen, trials_csv: Path, count: int = 1) -> None:
    deadline = time.monotonic() + 240
    while rows(trials_csv) < count and time.monotonic() < deadline and search.poll() is None:
        time.sleep(0.05)
    assert search.poll() is None and rows(trials_csv) >= count, f"exit status {search.returncode}"


def one_line(done: subprocess.CompletedProcess | tuple[int, str]) -> str:
    code, err = (done.returncode, done.stderr) if isinstance(done, subprocess.CompletedProcess) else done
    assert code == 2, err
    [line] = err.strip().splitlines()  # no traceback
    return line


def hidden(folder: Path) -> list[Path]:
    """Half-written files or model folders a failed write would have left."""
    return [p for p in folder.rglob(".*") if p.name != ".lock"]


def as_a_user_works(tmp_path: Path) -> bool:
    locked = tmp_path / "probe"
    locked.mkdir(mode=0o555)
    try:
        probe = subprocess.run([*AS_A_USER, sys.executable, "-c", f"open({str(locked / 'x')!r}, 'w')"],
                               capture_output=True)
    except FileNotFoundError:  # no setpriv
        return False
    finally:
        shutil.rmtree(locked)
    return probe.returncode != 0 and b"PermissionError" in probe.stderr


@pytest.mark.parametrize("blocker", ["root", "name"])
def test_a_file_where_the_results_folder_should_be(tmp_path, blocker):
    config = write_config(tmp_path, train={"r1": "1", "r2": "0", "root": "results"})
    path = tmp_path / "results" if blocker == "root" else tmp_path / "results" / "run"
    path.parent.mkdir(exist_ok=True)
    path.write_text("a user's file")
    before = sorted(tmp_path.rglob("*"))
    line = one_line(run(config))
    assert line == (f"error: {config} [TRAIN] {blocker}: {path} is a file, not a folder; move it away or "
                    f"choose another {blocker}")
    assert sorted(tmp_path.rglob("*")) == before and path.read_text() == "a user's file"


def test_a_folder_this_user_cannot_write(tmp_path):
    if not as_a_user_works(tmp_path):
        pytest.skip("cannot drop root's permission override here (setpriv)")
    root = tmp_path / "shared"
    root.mkdir(mode=0o555)
    config = write_config(tmp_path, train={"r1": "1", "r2": "0", "root": "shared"})
    line = one_line(run(config, prefix=tuple(AS_A_USER)))
    assert line == (f"error: {config} [TRAIN] root: this user cannot write in {root}; give it write "
                    "permission there (chmod, chown) or set root to a folder it can write")
    assert list(root.iterdir()) == []


def test_write_permission_taken_away_mid_search(tmp_path):
    """A folder made read-only while the search runs: one line at the next write; the
    recorded trials stay, and --resume finishes once the permission is back."""
    if not as_a_user_works(tmp_path):
        pytest.skip("cannot drop root's permission override here (setpriv)")
    config = write_config(tmp_path, train=SMALL)
    results = tmp_path / "results" / "run"
    search = start(config, prefix=tuple(AS_A_USER))
    wait_for_rows(search, results / "trials.csv")
    results.chmod(0o555)
    try:
        early = pd.read_csv(results / "trials.csv")
        err = search.communicate(timeout=240)[1]
        line = one_line((search.returncode, err))
    finally:
        results.chmod(0o755)
    assert line.startswith(f"error: {results}/") and line.endswith(
        f": Permission denied; give this user write access there, then {RESUME}"), line
    recorded = pd.read_csv(results / "trials.csv")
    pd.testing.assert_frame_equal(recorded.iloc[:len(early)], early)
    assert not hidden(results)
    assert run(config, "--resume").returncode == 0
    resumed = pd.read_csv(results / "trials.csv")
    assert sorted(resumed["index"]) == list(range(6))
    kept = resumed.set_index("index").loc[recorded["index"]].reset_index()
    pd.testing.assert_frame_equal(kept[["arm", "error"]], recorded[["arm", "error"]])


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (tests run as root); skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write until the file system is full; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def test_a_disk_that_fills_during_the_search(tmp_path, small_disk):
    config = write_config(tmp_path, train={**SMALL, "root": str(small_disk)})
    results = small_disk / "run"
    search = start(config)
    wait_for_rows(search, results / "trials.csv")
    filler = fill(small_disk)
    early = pd.read_csv(results / "trials.csv")
    err = search.communicate(timeout=240)[1]
    line = one_line((search.returncode, err))
    assert line.startswith(f"error: {results}/") and line.endswith(
        "No space left on device; the disk is full: free space on it (or set [TRAIN] root on another "
        f"disk), then {RESUME}"), line
    assert not hidden(results)  # nothing half-written left
    recorded = pd.read_csv(results / "trials.csv")
    pd.testing.assert_frame_equal(recorded.iloc[:len(early)], early)  # nothing recorded was lost
    experiment = load_record(results / "experiment.json").experiment
    assert {i for i, t in experiment.trials.items() if t.status.is_completed} <= set(recorded["index"])
    filler.unlink()  # space is back
    assert run(config, "--resume").returncode == 0
    resumed = pd.read_csv(results / "trials.csv")
    assert sorted(resumed["index"]) == list(range(6))
    kept = resumed.set_index("index").loc[recorded["index"]].reset_index()
    pd.testing.assert_frame_equal(kept[["arm", "error"]], recorded[["arm", "error"]])
    assert {p.name for p in (results / "models").iterdir()} == set(pd.read_csv(results / "pareto.csv")["arm"])


def test_a_file_size_limit(tmp_path):
    """``ulimit -f``: a write past it fails with EFBIG (Python ignores SIGXFSZ).  The first file
    to outgrow 100 KB is a Pareto model (~170 KB for the larger networks) or the report's
    plotly.js (4.8 MB, written once): which, depends on the first trials' sizes (the start
    trains its cheapest first).  The tables never outgrow it."""
    config = write_config(tmp_path, train=SMALL)
    results = tmp_path / "results" / "run"
    limit = 100_000
    search = start(config, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    err = search.communicate(timeout=300)[1]
    line = one_line((search.returncode, err))
    assert line.endswith(
        f"File too large; a file outgrew the file size limit (ulimit -f): raise the limit, then {RESUME}"), line
    named = Path(line.removeprefix("error: ").split(": File too large")[0])
    assert named.is_relative_to(results / "models") or named.name.startswith("plotly-"), line
    assert not hidden(results) and not named.exists()  # written atomically: nothing half-written
    assert run(config, "--resume").returncode == 0  # without the limit
    resumed = pd.read_csv(results / "trials.csv")
    assert sorted(resumed["index"]) == list(range(6)) and set(resumed["status"]) == {"completed"}
    assert {p.name for p in (results / "models").iterdir()} == set(pd.read_csv(results / "pareto.csv")["arm"])


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (the MNIST format): zeros, type 0x08, dimensions, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def worker_of(search: subprocess.Popen) -> int:
    """The pid of the search's trial worker process (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{search.pid}/task/{search.pid}/children").read_text().split()
    [worker] = [int(pid) for pid in children
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    return worker


def test_a_data_folder_that_disappears_mid_search(tmp_path):
    """The worker dies (as under the OOM killer) after the data folder was moved away: its
    replacement cannot load the data, and the search stops in one line; --resume finishes
    once the folder is back."""
    from sklearn.datasets import load_digits

    data = tmp_path / "mnist"
    data.mkdir()
    digits = load_digits()
    write_idx(data / "t10k-images-idx3-ubyte", digits.images * 15)
    write_idx(data / "t10k-labels-idx1-ubyte", digits.target)
    config = write_config(tmp_path, train={**SMALL, "dataset": "mnist", "data_dir": "mnist"})
    results = tmp_path / "results" / "run"
    search = start(config)
    wait_for_rows(search, results / "trials.csv")
    data.rename(tmp_path / "moved")
    os.kill(worker_of(search), signal.SIGKILL)
    err = search.communicate(timeout=240)[1]
    line = one_line((search.returncode, err))
    assert line == (f"error: a new trial worker could not load example cnn.py, dataset mnist from {data} "
                    f"(DataError: {data}: data_dir not found; expected a folder holding "
                    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]); restore what changed since "
                    f"the search started, then {RESUME}")
    recorded = pd.read_csv(results / "trials.csv")
    assert set(recorded["status"]) == {"completed"}  # no trial was failed for it
    assert (results / "time.txt").read_text().startswith("state: stopped: a new trial worker could not load")
    (tmp_path / "moved").rename(data)
    assert run(config, "--resume").returncode == 0
    resumed = pd.read_csv(results / "trials.csv")
    assert sorted(resumed["index"]) == list(range(6)) and set(resumed["status"]) == {"completed"}
