"""BoTorch's fused qLogEHVI kernel is built by a detached process when a search starts, into
torch's extensions folder (here an empty one, as in a new environment)."""

from __future__ import annotations

import os

import pytest
from conftest import write_config

from sparsemod.cli import main
from sparsemod.optimizer import kernel


@pytest.fixture
def empty_extensions(tmp_path, monkeypatch):
    folder = tmp_path / "torch_extensions"
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(folder))
    return folder


@pytest.fixture
def builds(monkeypatch) -> list:
    started: list = []
    real = kernel.build_in_background

    def spy():
        started.append(real())
        return started[-1]

    monkeypatch.setattr(kernel, "build_in_background", spy)
    return started


def test_a_search_with_gp_rounds_builds_the_kernel_into_an_empty_extensions_folder(tmp_path, empty_extensions, builds):
    config = write_config(tmp_path, train={"objectives": "3", "r1": "3", "r2": "1"})
    assert main(["--config", str(config)]) == 0
    [process] = builds
    assert process is not None and process.wait(timeout=600) == 0
    [library] = empty_extensions.glob("logei_fused_ext/logei_fused_ext*.so")
    assert library.stat().st_size > 0
    assert not (empty_extensions / "logei_fused_ext" / "lock").exists()  # torch's lock file released
    assert kernel.built() and kernel.build_in_background() is None  # once built, nothing to start


def test_the_build_runs_in_a_session_of_its_own(empty_extensions):
    """A signal to the search's process group does not reach it (torch's lock file would stay)."""
    process = kernel.build_in_background()
    assert process is not None
    try:
        assert os.getsid(process.pid) == process.pid != os.getsid(0)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("train", [{"objectives": "3", "r2": "0"}, {"objectives": "1"}, {"objectives": "4"}])
def test_no_build_without_a_hypervolume_round(tmp_path, empty_extensions, builds, train):
    """Sobol trials alone, or qLogNEI (one objective) / qLogNParEGO (four): no qLogEHVI."""
    config = write_config(tmp_path, train={"r1": "3", **train})
    assert main(["--config", str(config)]) == 0
    assert builds == [] and not empty_extensions.exists()
