"""sparsemod as a package: ``pip install .`` into a fresh venv, then the ``sparsemod`` command
from another folder; the extras pin what the requirements files pin."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

# what a checkout has beside its files: never copied into the one the test installs from
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "results", "data", "build", "*.egg-info",
                                    "__pycache__", ".*_cache")


def _pins(requirements: str) -> set[str]:
    lines = (REPO / requirements).read_text().splitlines()
    pins = (line.split("#")[0].strip() for line in lines if not line.startswith("-r"))  # pip's inline comments
    return {pin for pin in pins if pin}


def test_the_extras_pin_what_the_requirements_files_pin():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["test"]) == _pins("requirements-test.txt")
    assert set(extras["bench"]) == _pins("requirements-bench.txt")
    assert set(extras["deploy"]) == _pins("requirements-deploy.txt")


def test_installed_sparsemod_runs_the_default_search_from_another_folder(tmp_path: Path):
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO, checkout, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    # torch, Ax, Ray, ... come from this environment (--system-site-packages); with --no-index
    # pip downloads nothing, so a dependency this environment lacks fails the install
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
    python, command = venv / "bin" / "python", venv / "bin" / "sparsemod"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", checkout],
                   cwd=tmp_path, check=True)
    shutil.rmtree(checkout / "sparsemod")  # whatever runs now is the installed copy, examples too
    shutil.rmtree(checkout / "examples")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    imported = subprocess.run([python, "-c", "import sparsemod.morphnet; print(sparsemod.morphnet.__file__)"],
                              cwd=elsewhere, env=env, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(venv)

    search = subprocess.run([command, "--config", checkout / "config.ini"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert search.returncode == 0, search.stderr
    train = configparser.ConfigParser()
    train.read(checkout / "config.ini")
    budget = train.getint("TRAIN", "r1") + train.getint("TRAIN", "batch_size") * (
        train.getint("TRAIN", "r2") + train.getint("TRAIN", "r3"))
    results = checkout / "results" / "default"  # root = results: beside the config, not the cwd
    assert len(pd.read_csv(results / "trials.csv")) == budget
    assert list(elsewhere.iterdir()) == []

    report = subprocess.run([command, "report", results], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert f"wrote {results / 'pareto.png'}" in report.stdout


@pytest.mark.parametrize("tool", ["report", "zoo", "calibrate"])
def test_main_py_runs_a_tool_named_first(tool: str):
    shown = subprocess.run([sys.executable, str(REPO / "main.py"), tool, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: python -m sparsemod.{tool} ")
