"""Shared helpers: a valid config file written into a test's temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

TRAIN = {
    "r1": "3", "r2": "1", "r3": "0", "batch_size": "2", "epochs1": "1", "epochs2": "1",
    "epochs3": "1", "objectives": "3", "flops": "1e9", "quant_scheme": "post",
    "morphisms": "false", "pruning": "false", "splitter": "false", "example": "cnn",
    "dataset": "digits", "seed": "0", "name": "run", "root": "results", "debug": "false",
    "early_stopping": "none",  # every trial trains to its end, unless a test is about stopping
}
TEST = {"name": "run", "root": "results", "arm": "", "epochs": "1", "pruning": "false",
        "splitter": "false", "quant_scheme": "post", "objectives": "3"}


def write_config(folder: Path, train: dict | None = None, test: dict | None = None,
                 default: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    sections = {"DEFAULT": {"train": "true", **(default or {})},
                "TRAIN": {**TRAIN, **(train or {})}, "TEST": {**TEST, **(test or {})}}
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in keys.items() if key not in drop]
    path = folder / "config.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config_file(tmp_path: Path):
    return lambda **kwargs: write_config(tmp_path, **kwargs)


@pytest.fixture
def training_spies(monkeypatch) -> tuple[list[float], list[int]]:
    """(the learning rate of every Adam step, the pixels of every random shift) from now on."""
    import torch

    import sparsemod.trial.train

    rates, shifts = [], []
    step, shift = torch.optim.Adam.step, sparsemod.trial.train.random_shift

    def spy_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    def spy_shift(images, pixels):
        shifts.append(pixels)
        return shift(images, pixels)

    monkeypatch.setattr(torch.optim.Adam, "step", spy_step)
    monkeypatch.setattr(sparsemod.trial.train, "random_shift", spy_shift)
    return rates, shifts
