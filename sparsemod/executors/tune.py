"""Trials on Ray Tune (``[RAY] address`` set): a ``tune.Tuner`` runs the trials that the
search loop (:class:`sparsemod.search.loop.Search`) asks Ax for.

The search loop stays the one place where phases, Ax and the results folder live; Tune is
its executor.  :class:`TuneExecutor` keeps the :class:`~sparsemod.executors.base.Executor`
protocol (``submit`` / ``wait``) and runs ``Tuner.fit`` on a thread beside the search:

- :class:`AxLoopSearcher`, a ``ray.tune.search.Searcher``, is the channel through which Tune
  asks for work: ``suggest`` hands over the next trial the search submitted (``None`` while
  none waits, ``Searcher.FINISHED`` once the search closed the executor), wrapped in
  ``ConcurrencyLimiter(max_concurrent)``;
- each trial runs :func:`sparsemod.trial.run.run_trial` in a Tune function trainable with
  ``cpus_per_trial`` / ``gpus_per_trial`` (``tune.with_resources``; with a GPU it trains on
  ``cuda``, the GPU Ray assigned it, and quantizes and measures on the CPU); its job (parameters,
  seed and, for a morph child, the parent's weights from the driver's models/ folder) comes
  through the object store, never through the worker's disk;
- a trial reports each rung epoch with ``tune.report``; :class:`RuleScheduler`, a Tune
  ``TrialScheduler``, hands the report to the search's stopping rule (the same
  :class:`~sparsemod.search.stopping.MOASHA` object the worker process's reports go to) and stops
  the trial when the rule says so;
- the trial's result comes back as a Tune checkpoint (``result.pt``: metrics and the trained
  weights), so ``ResultGrid`` holds every trial's model; :class:`TrialEvents`, a Tune
  ``Callback``, passes finished, stopped and failed trials (with Ray's reason, after
  ``FailureConfig(max_failures)`` retries) to ``wait``.

Tune keeps its experiment in ``storage_path`` (TensorBoard, CSV and JSON logs by default,
MLflow / W&B with ``[RAY] callbacks``), one experiment per run of ``main.py``.  A resumed
search does not ``Tuner.restore``: sparsemod's own reconciliation of trials.csv with
experiment.json is the one source of truth, and the trials it re-runs are new Tune trials.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import ray
import torch
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from sparsemod import interrupt
from sparsemod.config import ConfigError, RaySettings
from sparsemod.data import DataBundle
from sparsemod.errors import one_line
from sparsemod.executors.ray_runtime import check_storage_folder, start_ray
from sparsemod.executors.tune_hooks import (
    AxLoopSearcher,
    Closed,
    RuleScheduler,
    TrialEvents,
    logger_callbacks,
    trial_name,
)
from sparsemod.executors.tune_trainable import RESULT_FILE, ExampleSource, JobBoard, report_of, tune_trial
from sparsemod.logs import quiet_ray
from sparsemod.problem import Problem
from sparsemod.trial.job import Report, TrialConfig, TrialJob, TrialResult


@dataclass(frozen=True)
class Question:
    """A rung report the scheduler asks about, and where the judge's answer goes."""

    report: Report
    answer: Future[bool]


class TuneExecutor:
    """Runs the search's trials as a Tune experiment, ``max_concurrent`` at a time."""

    def __init__(self, problem: Problem, data: DataBundle, trial_config: TrialConfig, settings: RaySettings,
                 storage: str, experiment: str, splitter: bool = False, debug: bool = False):
        quiet_ray(debug)
        if "://" not in storage:
            check_storage_folder(Path(storage))
        self.started_here = not ray.is_initialized()
        if self.started_here:
            start_ray(settings, debug)
        self.capacity = settings.max_concurrent
        self.storage, self.experiment = storage, experiment
        self.board: Any = ray.remote(num_cpus=0)(JobBoard).remote()  # an actor handle: methods go through .remote
        self.lock = threading.Lock()
        self.queued: list[TrialJob] = []  # submitted, not yet handed to Tune
        self.launched: dict[str, tuple[TrialJob, float]] = {}  # Tune trial id -> (job, when)
        # finished trials, and the scheduler's questions that the search's judge answers
        self.events: queue.Queue[TrialResult | Question] = queue.Queue()
        self.closed = threading.Event()
        self.error: BaseException | None = None
        example = ExampleSource(problem.source, problem.source.read_text(), splitter)
        # each trial uses its CPU share of torch threads, and trains on its GPU when it has one
        trial_config = replace(trial_config, threads=max(1, int(settings.cpus_per_trial)),
                               train_device="cuda" if settings.gpus_per_trial > 0 else "cpu")
        trainable = tune.with_resources(
            tune.with_parameters(tune_trial, example=example, data=data, trial_config=trial_config, board=self.board),
            {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
        tune_config = tune.TuneConfig(
            search_alg=ConcurrencyLimiter(AxLoopSearcher(self), settings.max_concurrent),
            scheduler=RuleScheduler(self.decide), num_samples=-1,
            reuse_actors=True,  # a trial's process, with torch imported, runs the next one
            trial_name_creator=trial_name, trial_dirname_creator=trial_name)
        run_config = tune.RunConfig(
            name=experiment, storage_path=storage, stop=Closed(self.closed), verbose=2 if debug else 0,
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            callbacks=[TrialEvents(self), *logger_callbacks(settings.callbacks, experiment, storage)])
        try:
            self.tuner = tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)
        except (OSError, ValueError) as error:  # pyarrow cannot open storage_path
            if self.started_here:
                ray.shutdown()
            raise ConfigError(f"[RAY] storage_path: expected a folder or a URI Tune can write to, got "
                              f"{storage!r} ({type(error).__name__}: {one_line(error)[:200]})") from None
        self.thread = threading.Thread(target=self._fit, name="sparsemod-tune", daemon=True)
        self.thread.start()  # now: Tune starts while the search asks for its first trials

    @property
    def path(self) -> str:
        """Where Tune keeps this run's experiment (``tune.Tuner.restore`` / ``ResultGrid``)."""
        return f"{self.storage.rstrip('/')}/{self.experiment}"

    def _fit(self) -> None:
        try:
            self.tuner.fit()
        except BaseException as error:  # reported by wait, in the search's thread
            self.error = error

    def submit(self, job: TrialJob) -> None:
        ray.get(self.board.put.remote(job))  # before Tune can hand it to a trial
        with self.lock:
            self.queued.append(job)

    def hand_over(self, trial_id: str) -> dict | str | None:
        """The searcher's ``suggest``: the next submitted job's config."""
        with self.lock:
            if self.closed.is_set():
                return Searcher.FINISHED
            if not self.queued:
                return None
            job = self.queued.pop(0)
            self.launched[trial_id] = (job, time.perf_counter())
        return {"index": job.index, "phase": job.phase, **job.params}

    def decide(self, report: Report) -> bool:
        """The scheduler's question (on Tune's thread): go on?  Answered by the search's
        judge in ``wait``, on the search's thread (as the worker executor does): the judge
        and the stopping rule's state are never used by two threads at once.  Tune's thread
        waits meanwhile, at most while the search asks for its next trials."""
        question = Question(report, Future())
        self.events.put(question)
        while not self.closed.is_set():
            try:
                return question.answer.result(timeout=1.0)
            except FutureTimeout:
                continue
        return True  # the search is closing: Tune stops every trial

    def trial_ended(self, trial_id: str, last: dict, checkpoint: tune.Checkpoint | None) -> None:
        """A trial finished (its result is in its checkpoint) or the scheduler stopped it at
        a rung (its last report is its result: error and costs at that epoch)."""
        with self.lock:
            if trial_id not in self.launched:
                return
            job, launched = self.launched[trial_id]
        report = report_of(last or {})
        if report is None and checkpoint is not None:
            with checkpoint.as_directory() as folder:
                result = torch.load(Path(folder) / RESULT_FILE, weights_only=False)
            result.job = job
        elif report is not None:
            result = TrialResult(job, "stopped", metrics=dict(report.metrics), epochs_trained=report.epoch,
                                 total_seconds=time.perf_counter() - launched)
        else:
            result = TrialResult(job, "failed", reason="worker: the trial ended without a result",
                                 total_seconds=time.perf_counter() - launched)
        self.events.put(result)

    def trial_failed(self, trial_id: str, error: str) -> None:
        """Tune gave up on a trial after ``max_failures`` retries (its worker died, ...)."""
        with self.lock:
            if trial_id not in self.launched:
                return
            job, launched = self.launched[trial_id]
        self.events.put(TrialResult(job, "failed", reason=f"worker: {error}"[:500],
                                      total_seconds=time.perf_counter() - launched))

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult:
        while True:
            try:
                event = self.events.get(timeout=1.0)
            except queue.Empty:
                interrupt.check()  # a signal whose exception a Ray call turned into a status
                if not self.thread.is_alive():
                    raise RuntimeError(f"Ray Tune stopped: {type(self.error).__name__}: {self.error}"
                                       if self.error else "Ray Tune stopped") from self.error
                continue
            if isinstance(event, TrialResult):
                result = event
                break
            try:
                event.answer.set_result(judge(event.report) if judge is not None else True)
            except BaseException:
                event.answer.set_result(True)  # Tune's thread goes on; the search stops
                raise
        with self.lock:
            self.launched = {k: v for k, v in self.launched.items() if v[0].index != result.job.index}
        self.board.drop.remote(result.job.index)
        return result

    @property
    def pending(self) -> int:
        with self.lock:
            return len(self.queued) + len(self.launched)

    def close(self) -> None:
        """End the Tune run (stopping trials still running) and, if this process started
        the Ray runtime, shut it down."""
        self.closed.set()
        self.thread.join(timeout=60)
        if self.started_here:
            ray.shutdown()


def experiment_name(search: str) -> str:
    """One Tune experiment per run of main.py: a resumed search's trials are new ones."""
    return f"{search}-{datetime.now():%Y%m%d-%H%M%S}"
