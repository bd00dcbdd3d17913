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
    """Runs each job, one at a time in submission order, by calling ``outcome(job)``: its
    metrics (the four objectives), or an exception (the trial failed with it as its reason;
    :class:`ProcessDied`: its process died, retried up to ``max_failures`` times).  Before
    finishing, a job reports its metrics after each of its ``report_epochs``, and stops when
    the judge says so."""

    capacity = 1

    def __init__(self, outcome: Callable[[TrialJob], dict[str, float]], max_failures: int = 1):
        self.outcome, self.max_failures = outcome, max_failures
        self.queue: deque[TrialJob] = deque()
        self.attempts: dict[int, int] = {}  # runs per job index
        self.closed = False

    def submit(self, job: TrialJob) -> None:
        self.queue.append(job)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult:
        job = self.queue.popleft()
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

    def close(self) -> None:
        self.queue.clear()
        self.closed = True
