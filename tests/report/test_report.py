"""pareto.png and report.html from a real search; the page renders in headless Chromium."""

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import write_config
from PIL import Image

from sparsemod.cli import main
from sparsemod.report.__main__ import main as report_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FLAGS = [*HEADLESS, "--enable-logging=stderr", "--v=0", "--dump-dom"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    config = write_config(folder, train={"r1": "4", "r2": "1", "objectives": "4"})
    assert main(["--config", str(config)]) == 0
    return folder / "results" / "run"


def test_files_written_after_the_search(results):
    assert (results / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    page = (results / "report.html").read_text()
    assert "<svg id=\"plot\"" in page and "Pareto arms" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_report_command_rebuilds_both(results, capsys):
    (results / "report.html").unlink()
    (results / "pareto.png").unlink()
    assert report_main([str(results)]) == 0
    assert (results / "report.html").exists() and (results / "pareto.png").exists()
    assert report_main([str(results.parent)]) == 2
    assert "holds no search" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["experiment.json", "trials.csv garbled", "trials.csv columns"])
def test_report_command_names_a_damaged_file_in_one_line(results, tmp_path, damage):
    folder = tmp_path / "run"
    shutil.copytree(results, folder)
    if damage == "experiment.json":
        text = (folder / "experiment.json").read_text()
        (folder / "experiment.json").write_text(text[:len(text) // 2])  # cut by a kill
    elif damage == "trials.csv garbled":
        (folder / "trials.csv").write_text('arm,status\n"7_0,completed\n')  # an unclosed quote
    else:
        trials = pd.read_csv(folder / "trials.csv")
        trials.drop(columns=["model_size"]).to_csv(folder / "trials.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "sparsemod.report", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and not done.stdout
    err = done.stderr
    assert err.startswith("error: ") and err.count("\n") == 1, err  # no traceback, no Ax notice
    assert damage.split()[0] in err
    assert (folder / "report.html").read_text() == (results / "report.html").read_text()  # not rewritten


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium_without_console_errors(results, tmp_path):
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           (results / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    completed = (pd.read_csv(results / "trials.csv")["status"] == "completed").sum()
    assert f'data-rendered="{completed}"' in done.stdout  # the script drew every trial
    assert done.stdout.count("<circle") == completed
    assert ":CONSOLE" not in done.stderr, done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_screenshot_every_point_lies_inside_the_plot_frame(results, tmp_path):
    """The axes are padded: no point is drawn on or beyond the frame, where the tick labels are."""
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1000,1100", f"--screenshot={shot}",
                    (results / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    frame = (np.abs(pixels - 0x44) <= 12).all(axis=2)  # the frame is drawn in #444, 512 x 292 px
    rows, columns = np.flatnonzero(frame.sum(axis=1) >= 300), np.flatnonzero(frame.sum(axis=0) >= 200)
    assert len(rows) >= 2 and len(columns) >= 2, "plot frame not found in the screenshot"
    top, bottom, left, right = rows.min(), rows.max(), columns.min(), columns.max()
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 100) & (pixels[..., 2] < 100)  # the front, #d62728
    ys, xs = np.nonzero(red)
    assert len(xs) > 0, "no Pareto point drawn"
    assert left < xs.min() and xs.max() < right and top < ys.min() and ys.max() < bottom
