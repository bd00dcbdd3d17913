"""Where trials run.  An executor takes jobs with ``submit`` and hands back finished
results, one per ``wait``, in the order they finish."""

from __future__ import annotations

from collections import deque
from typing import Protocol

from sparsemod.data import DataBundle
from sparsemod.problem import Problem
from sparsemod.trial import Measurement, TrialJob, TrialResult, run_trial


class Executor(Protocol):
    capacity: int  # trials that can run at once

    def submit(self, job: TrialJob) -> None: ...

    def wait(self) -> TrialResult: ...

    @property
    def pending(self) -> int: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Runs each trial in this process, one at a time, when its result is awaited."""

    capacity = 1

    def __init__(self, problem: Problem, data: DataBundle, measurement: Measurement):
        self.problem, self.data, self.measurement = problem, data, measurement
        self.queue: deque[TrialJob] = deque()

    def submit(self, job: TrialJob) -> None:
        self.queue.append(job)

    def wait(self) -> TrialResult:
        return run_trial(self.queue.popleft(), self.problem, self.data, self.measurement)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue.clear()
