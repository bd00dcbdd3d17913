"""pareto.png and report.html from a real search; the page renders in headless Chromium."""

import re
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
from sparsemod.report.html import PLOTLY_JS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# software WebGL (SwiftShader) for plotly's parallel coordinates on a machine without a GPU
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
    assert 'id="pareto"' in page and 'id="parallel"' in page and 'id="progress"' in page and "Pareto arms" in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts == [PLOTLY_JS] and (results / PLOTLY_JS).exists()  # no network needed


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
    done = subprocess.run([CHROMIUM, *FLAGS, "--virtual-time-budget=20000", f"--user-data-dir={tmp_path / 'profile'}",
                           (results / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    completed = (pd.read_csv(results / "trials.csv")["status"] == "completed").sum()
    pairs = 6  # 4 objectives
    assert f'data-rendered="{completed * pairs}"' in done.stdout  # every trial drawn in every panel
    pareto_plot = done.stdout.split('id="pareto"')[1].split('id="parallel"')[0]
    assert len(re.findall(r'class="point[ "]', pareto_plot)) == completed * pairs
    assert 'class="parcoords"' in done.stdout or "parcoords" in done.stdout
    # SwiftShader's driver notes come as console lines too; a script error would not be one of them
    errors = [line for line in done.stderr.splitlines() if ":CONSOLE" in line and "GL Driver Message" not in line]
    assert not errors, "\n".join(errors)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_screenshot_shows_the_front_in_red_among_grey_trials(results, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1400,1000", "--virtual-time-budget=20000",
                    f"--screenshot={shot}", (results / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    red = (np.abs(pixels - [0xD6, 0x27, 0x28]) <= 8).all(axis=2).sum()  # the front, #d62728
    grey = (np.abs(pixels - 0xAA) <= 4).all(axis=2).sum()  # the other trials, #aaaaaa
    assert red > 50 and grey > 50, (red, grey)
