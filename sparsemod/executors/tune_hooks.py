"""The search's hooks into Tune: a searcher that hands over the trials the search submitted,
a scheduler that asks the search's stopping rule, a callback that passes finished trials
back, a stopper, and the logger callbacks ``[RAY] callbacks`` names."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ray import cloudpickle, tune
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.stopper import Stopper

from sparsemod.executors.tune_trainable import report_of

if TYPE_CHECKING:
    from sparsemod.executors.tune import TuneExecutor
from sparsemod.config import METRICS
from sparsemod.trial.job import Report


class DriverBound:
    """Tune pickles its searcher, scheduler, stopper and callbacks into its experiment folder
    (for ``Tuner.restore``); these hold the live search, which stays out of the pickle: a
    restored one reads results and hands out no trial (``--resume`` continues a search)."""

    bound = ("executor", "rule", "closed")

    def __getstate__(self) -> dict:
        return {k: (None if k in self.bound else v) for k, v in self.__dict__.items()}


class RuleScheduler(DriverBound, FIFOScheduler):
    """A stopping rule as a Tune ``TrialScheduler``: each rung report of a trial goes to
    ``rule`` (e.g. ``MOASHA(...).on_report``), and the trial stops when it answers False.
    Trials start in the order the searcher hands them over (FIFO)."""

    def __init__(self, rule: Callable[[Report], bool], metrics: tuple[str, ...] = METRICS):
        super().__init__()
        self.rule, self.metrics = rule, metrics

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        report = report_of(result, self.metrics)
        if report is None or self.rule is None or self.rule(report):
            return TrialScheduler.CONTINUE
        return TrialScheduler.STOP


class AxLoopSearcher(DriverBound, Searcher):
    """Tune's channel into the search loop: ``suggest`` returns the next submitted trial's
    config (its Ax index, phase and parameters), ``None`` while none waits (Tune asks
    again), ``Searcher.FINISHED`` once the search is done.  Results go to Ax from the search
    loop, which :class:`TrialEvents` feeds."""

    def __init__(self, executor: TuneExecutor):
        super().__init__()
        self.executor = executor

    def suggest(self, trial_id: str) -> dict | str | None:  # type: ignore[override]  # Ray's own FINISHED is a str
        return self.executor.hand_over(trial_id) if self.executor is not None else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Nothing to do: :class:`TrialEvents` hands the search the trial itself (its checkpoint or its error)."""


class TrialEvents(DriverBound, tune.Callback):
    """Finished, stopped and failed trials, from Tune to the executor."""

    def __init__(self, executor: TuneExecutor):
        self.executor = executor

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        if self.executor is None:
            return
        self.executor.trial_ended(trial.trial_id, trial.last_result, trial.checkpoint)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        if self.executor is not None:
            self.executor.trial_failed(trial.trial_id, failure(trial))


def failure(trial) -> str:
    """The last error of a trial Tune gave up on, in one line: from the files Tune has just
    written to the driver's copy of the trial folder (its storage copy is synced later)."""
    pickled, text = trial.pickled_error_file, trial.error_file
    if pickled and os.path.isfile(pickled):
        with open(pickled, "rb") as handle:
            error = cloudpickle.load(handle)
        lines = str(error).strip().splitlines()
        return f"{type(error).__name__}: {lines[0] if lines else ''}"
    if text and os.path.isfile(text):  # "Failure # n (occurred at ...)" then the error, per failure
        last = Path(text).read_text().strip().split("Failure # ")[-1].splitlines()
        return last[1] if len(last) > 1 else "unknown error"
    return "unknown error"


class Closed(DriverBound, Stopper):
    """Ends the Tune run once the search closed the executor (trials still running stop)."""

    def __init__(self, closed: threading.Event):
        self.closed = closed

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.closed is None or self.closed.is_set()


def trial_name(trial) -> str:
    """Tune's name and folder of a trial: sparsemod's (Ax's) trial index."""
    return f"trial_{trial.config['index']}"


def logger_callbacks(names: tuple[str, ...], experiment: str, storage: str) -> list:
    """The optional MLflow / W&B loggers (TensorBoard, CSV and JSON are Tune's defaults)."""
    callbacks: list[tune.Callback] = []
    for name in names:
        if name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            uri = storage if "://" in storage else Path(storage).as_uri()
            callbacks.append(MLflowLoggerCallback(tracking_uri=f"{uri}/mlruns", experiment_name=experiment))
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback

            callbacks.append(WandbLoggerCallback(project=experiment))
    return callbacks
