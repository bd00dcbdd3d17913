"""What runs on Ray's workers: the Tune trainable that runs one trial, the example's source
shipped to it, and the job board (an actor) it takes its job from."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from sparsemod.config import METRICS
from sparsemod.data import DataBundle
from sparsemod.problem import load_problem
from sparsemod.trial.job import Report, TrialConfig, TrialJob
from sparsemod.trial.run import run_trial

RESULT_FILE = "result.pt"  # in a trial's final checkpoint: its TrialResult


@dataclass(frozen=True)
class ExampleSource:
    """The example file, sent with the trainable (not read from a shared disk)."""

    path: Path
    text: str
    splitter: bool

    def materialize(self) -> Path:
        """The file on this node: the original where it is readable and the same, else a
        copy in a folder named by its content's hash (two searches or two users with
        different files never write the same path; the same file, the same bytes)."""
        with contextlib.suppress(OSError):  # not on this node, or unreadable: use the copy
            if self.path.read_text() == self.text:
                return self.path
        digest = hashlib.sha256(self.text.encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"sparsemod-{os.getuid()}-{digest}"
        target = folder / self.path.name
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{self.path.name}.{os.getpid()}"
            partial.write_text(self.text)
            partial.replace(target)  # atomic: a concurrent trial sees the whole file or none
        return target


class JobBoard:
    """A Ray actor holding the jobs of submitted trials (a morph child's with its parent's
    weights), so that they reach any node through the object store, and a retried trial
    gets its job again."""

    def __init__(self) -> None:
        self.jobs: dict[int, TrialJob] = {}

    def put(self, job: TrialJob) -> None:
        self.jobs[job.index] = job

    def get(self, index: int) -> TrialJob:
        return self.jobs[index]

    def drop(self, index: int) -> None:
        self.jobs.pop(index, None)


def report_metrics(report: Report) -> dict[str, Any]:
    """A rung report as a Tune result."""
    return {"index": report.trial, "epoch": report.epoch, "max_epochs": report.max_epochs,
            "bracket": report.bracket, **report.metrics}


def report_of(result: dict[str, Any], metrics: tuple[str, ...] = METRICS) -> Report | None:
    """The :class:`Report` a Tune result carries (``None`` for a trial's final result)."""
    if result.get("final", True):
        return None
    return Report(int(result["index"]), int(result["epoch"]), int(result["max_epochs"]),
                  {name: float(result[name]) for name in metrics if name in result}, str(result["bracket"]))


def tune_trial(config: dict, example: ExampleSource, data: DataBundle, trial_config: TrialConfig,
               board: Any) -> None:
    """The Tune trainable: run the job ``config["index"]``, report its rung epochs, and
    report its result last, with a checkpoint holding it."""
    job = ray.get(board.get.remote(config["index"]))
    problem = load_problem(example.materialize(), example.splitter)

    def decide(report: Report) -> bool:
        tune.report({**report_metrics(report), "final": False})
        return True  # reached only when the scheduler let the trial go on

    result = run_trial(job, problem, data, trial_config, decide)
    result.job = replace(job, inherit=None)  # the driver has the parent's weights
    with tempfile.TemporaryDirectory() as folder:
        torch.save(result, Path(folder) / RESULT_FILE)
        tune.report({"index": job.index, "final": True, "status": result.status, "epoch": result.epochs_trained,
                     "parent": job.inherit.arm if job.inherit is not None else "",  # weights it started from
                     "train_seconds": result.train_seconds, **result.metrics, **result.extras},
                    checkpoint=tune.Checkpoint.from_directory(folder))
