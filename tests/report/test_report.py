"""pareto.png and report.html from a real search; the page renders in headless Chromium."""

import shutil
import subprocess

import pytest

from conftest import write_config
from sparsemod.cli import main
from sparsemod.report.__main__ import main as report_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--dump-dom"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    config = write_config(folder, train={"r1": "4", "r2": "1"})
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


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium_without_console_errors(results, tmp_path):
    import pandas as pd

    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           (results / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    completed = (pd.read_csv(results / "trials.csv")["status"] == "completed").sum()
    assert f'data-rendered="{completed}"' in done.stdout  # the script drew every trial
    assert done.stdout.count("<circle") == completed
    assert ":CONSOLE" not in done.stderr, done.stderr
