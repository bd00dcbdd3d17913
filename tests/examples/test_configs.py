"""Each shipped ``examples/*.ini`` runs as written, with a smaller budget and small data.

Only the budget (r1, r2, r3, epochs), the results folder and what needs large files or a
cluster are overridden: MNIST reads the shared t10k IDX files, CIFAR-2 a small made-up data
set of its shape, the Ray cluster a local Ray runtime.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, SHARED_MNIST

from sparsemod.cli import main
from sparsemod.config import load_config

EXAMPLES = REPO / "examples"
SMALL_BUDGET = {"r1": "2", "r2": "0", "r3": "0", "epochs1": "1", "epochs2": "1", "epochs3": "1",
                "root": "results"}

# CIFAR-2's shape and classes, 300 made-up images: examples/cnn.py's space and builder.
SMALL_CIFAR2 = '''
import numpy as np
from sparsemod.data import tensor_bundle
from sparsemod.problem import load_problem

CNN = load_problem("cnn")
SPACE, build, DATASETS = CNN.space, CNN.build, ("cifar2",)

def load_data(dataset, data_dir, seed):
    rng = np.random.default_rng(seed)
    images = rng.random((300, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 2, 300)
    return tensor_bundle(images, labels, (np.arange(200), np.arange(200, 250), np.arange(250, 300)), 2)
'''


def shrunk(name: str, folder: Path, train: dict[str, str],
           extra: dict[str, dict[str, str]] | None = None) -> Path:
    """examples/{name}.ini with ``train`` (and ``extra`` sections' keys) overridden, in ``folder``."""
    parser = configparser.ConfigParser(default_section="\0none", interpolation=None)
    parser.read(EXAMPLES / f"{name}.ini", encoding="utf-8")
    for section, keys in {"TRAIN": {**SMALL_BUDGET, **train}, **(extra or {})}.items():
        for key, value in keys.items():
            parser.set(section, key, value)
    path = folder / f"{name}.ini"
    with open(path, "w", encoding="utf-8") as handle:
        parser.write(handle)
    return path


def run(path: Path) -> pd.DataFrame:
    assert main(["--config", str(path)]) == 0
    settings = load_config(path)
    trials = pd.read_csv(settings.search.folder / "trials.csv")
    assert len(trials) == settings.search.r1
    return trials


@pytest.mark.parametrize("name", ["mnist", "cifar2", "sequence", "ray_cluster", "sparse_mnist"])
def test_shipped_config_is_valid_and_its_paths_are_relative_to_its_folder(name, tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "data" / "mnist").mkdir(parents=True)  # the folders the configs name, empty
    (tmp_path / "data" / "cifar-10-batches-py").mkdir()
    copy = tmp_path / "examples" / f"{name}.ini"
    copy.write_text((EXAMPLES / f"{name}.ini").read_text())
    settings = load_config(copy)
    assert settings.search.folder == tmp_path / "results" / name
    if settings.search.data_dir is not None:
        assert settings.search.data_dir.parent == tmp_path / "data"


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST IDX files not present")
def test_mnist_ini_runs(tmp_path):
    trials = run(shrunk("mnist", tmp_path, {"data_dir": str(SHARED_MNIST)}))
    assert (trials["status"] == "completed").all()
    assert trials["latency"].notna().all()  # objectives = 4


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST IDX files not present")
def test_sparse_mnist_ini_runs_its_search_under_the_budget(tmp_path):
    trials = run(shrunk("sparse_mnist", tmp_path, {"data_dir": str(SHARED_MNIST), "r1": "3"}))
    assert (trials["status"] == "completed").all()
    within = (trials["model_size"] <= 2867) & (trials["working_memory"] <= 2048)
    assert trials["feasible"].astype(bool).tolist() == within.tolist()
    assert set(trials["stem"]) <= {"none", "pool", "strided"}


def test_cifar2_ini_runs_with_the_sparse_budget_as_constraints(tmp_path):
    (tmp_path / "small_cifar2.py").write_text(SMALL_CIFAR2)
    trials = run(shrunk("cifar2", tmp_path, {"example": "small_cifar2.py", "data_dir": str(tmp_path)}))
    assert (trials["status"] == "completed").all()
    # every trial trained fits: over-budget candidates are replaced before they train
    assert ((trials["model_size"] <= 2048) & (trials["working_memory"] <= 6144)).all()
    assert trials["feasible"].astype(bool).all()


def test_sparses_2kb_working_memory_on_cifar_is_one_line_before_training(tmp_path, capsys):
    """A 32x32x3 int8 input alone is 3,072 B: no network of the space fits 2 KB."""
    (tmp_path / "small_cifar2.py").write_text(SMALL_CIFAR2)
    path = shrunk("cifar2", tmp_path, {"example": "small_cifar2.py", "data_dir": str(tmp_path),
                                       "constraints": "model_size <= 2048, working_memory <= 2048"})
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0 of 4,096 sampled points fit model_size <= 2048, working_memory <= 2048" in err
    assert "working_memory >= 3" in err and not load_config(path).search.folder.exists()


def test_sequence_ini_runs(tmp_path):
    trials = run(shrunk("sequence", tmp_path, {}))
    assert (trials["status"] == "completed").all()
    assert trials["max_len"].between(8, 32).all()  # splitter = true: max_len is searched


def test_ray_cluster_ini_runs_on_a_local_ray_runtime(tmp_path):
    trials = run(shrunk("ray_cluster", tmp_path, {"r1": "4"},
                        {"RAY": {"address": "local", "max_concurrent": "2"}}))
    assert (trials["status"] == "completed").all()
