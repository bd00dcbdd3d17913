"""Test doubles that keep sparsemod's contracts, for tests of what sits around them.

:class:`FakeExecutor` keeps the :class:`~sparsemod.executors.base.Executor` contract (the
contract tests in ``tests/test_executor_contract.py`` run against it and the real ones)
without training anything: a job's outcome is a function of the job, so a search loop, a
stopping rule or a results folder can be exercised in milliseconds.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from sparsemod.errors import one_line
from sparsemod.trial.job import Report, TrialJob, TrialResult


class ProcessDied(Exception):
    """Raised by an outcome to play a trial whose process dies (retried, as the real ones are)."""


class FakeExecutor:
    """Runs each job by calling ``outcome(job)``: its metrics (the four objectives), or an
    exception (the trial failed with it as its reason; :class:`ProcessDied`: its process
    died, retried up to ``max_failures`` times).  Before finishing, a job reports its metrics
    after each of its ``report_epochs``, and stops when the judge says so.

    One job at a time in submission order; with ``capacity`` > 1 and ``seconds(job)``, the
    first ``capacity`` submitted jobs train side by side on a simulated clock, and ``wait``
    returns the first to end (``finished`` keeps the clock and job of every end)."""

    def __init__(self, outcome: Callable[[TrialJob], dict[str, float]], max_failures: int = 1,
                 capacity: int = 1, seconds: Callable[[TrialJob], float] | None = None):
        self.outcome, self.max_failures = outcome, max_failures
        self.capacity, self.seconds = capacity, seconds
        self.queue: deque[TrialJob] = deque()
        self.attempts: dict[int, int] = {}  # runs per job index
        self.closed = False
        self.clock = 0.0
        self.started: dict[int, float] = {}  # simulated start of each job that got a slot
        self.finished: list[tuple[float, TrialJob]] = []

    def submit(self, job: TrialJob) -> None:
        self.queue.append(job)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult:
        job = self._next()
        self.finished.append((self.clock, job))
        start = time.perf_counter()
        for attempt in range(1, self.max_failures + 2):
            self.attempts[job.index] = attempt
            try:
                metrics = dict(self.outcome(job))
            except ProcessDied as died:
                last = one_line(died)
                continue
            except Exception as error:  # a trial's failure is data
                return TrialResult(job, "failed", reason=f"train: {one_line(error, typed=True)}"[:500],
                                   total_seconds=time.perf_counter() - start)
            for epoch in job.report_epochs:
                report = Report(job.index, epoch, job.epochs, metrics, job.bracket)
                if judge is not None and not judge(report):
                    return TrialResult(job, "stopped", metrics=metrics, epochs_trained=epoch,
                                       total_seconds=time.perf_counter() - start)
            return TrialResult(job, "completed", metrics=metrics, epochs_trained=job.epochs,
                               total_seconds=time.perf_counter() - start)
        return TrialResult(job, "failed", total_seconds=time.perf_counter() - start,
                           reason=f"worker: the trial's process died {attempt} times ({last}); not run "
                                  f"again ([RAY] max_failures = {self.max_failures})")

    def _next(self) -> TrialJob:
        running = list(self.queue)[:self.capacity]
        for waiting in running:  # a slot freed at the last end: it starts now
            self.started.setdefault(waiting.index, self.clock)
        if self.seconds is None:
            job = running[0]
        else:
            seconds = self.seconds
            job = min(running, key=lambda j: self.started[j.index] + seconds(j))
            self.clock = max(self.clock, self.started[job.index] + seconds(job))
        self.queue.remove(job)
        return job

    def close(self) -> None:
        self.queue.clear()
        self.closed = True
