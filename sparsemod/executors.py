"""Where trials run.  An executor takes jobs with ``submit`` and hands back finished
results, one per ``wait``, in the order they finish."""

from __future__ import annotations

import tempfile
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Callable, Protocol

from sparsemod.config import RaySettings
from sparsemod.data import DataBundle
from sparsemod.problem import Problem, load_problem
from sparsemod.trial import TrialConfig, TrialJob, TrialResult, run_trial


class Executor(Protocol):
    capacity: int  # trials that can run at once

    def submit(self, job: TrialJob) -> None: ...

    def wait(self) -> TrialResult: ...

    @property
    def pending(self) -> int: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Runs each trial in this process, one at a time, when its result is awaited.

    A trial that kills the process (the OOM killer, a segfault in a builder) kills the search:
    ``on_start`` lets the search count each trial's starts across ``--resume`` and give up on
    one after ``max_failures`` retries, as Ray does for a dead worker."""

    capacity = 1

    def __init__(self, problem: Problem, data: DataBundle, trial_config: TrialConfig,
                 max_failures: int = 1):
        self.problem, self.data, self.trial_config = problem, data, trial_config
        self.max_failures = max_failures
        self.on_start: Callable[[TrialJob], None] | None = None
        self.queue: deque[TrialJob] = deque()

    def submit(self, job: TrialJob) -> None:
        self.queue.append(job)

    def wait(self) -> TrialResult:
        job = self.queue.popleft()
        if self.on_start is not None:
            self.on_start(job)
        return run_trial(job, self.problem, self.data, self.trial_config)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue.clear()


def _trial_on_worker(job: TrialJob, example: Path, source: str, data: DataBundle,
                     trial_config: TrialConfig) -> TrialResult:
    """A Ray task: load the example (from its path, or from its text on a remote node)."""
    if not example.is_file() or example.read_text() != source:
        example = Path(tempfile.gettempdir()) / "sparsemod_examples" / example.name
        example.parent.mkdir(exist_ok=True)
        example.write_text(source)
    return run_trial(job, load_problem(example), data, trial_config)


class RayExecutor:
    """Runs trials as Ray tasks, at most ``max_concurrent`` at once.

    Ray core tasks rather than a Tune ``Tuner``: the ask/tell loop, its phases and the
    per-trial records stay in the driver (Tune's ``AxSearch`` is single-objective and breaks
    with Ax >= 1.0), while Ray gives resources per trial, the object store for the data
    (sent once, not pickled into every trial) and retries of trials whose worker died.
    """

    def __init__(self, problem: Problem, data: DataBundle, trial_config: TrialConfig,
                 settings: RaySettings):
        import ray

        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            address = None if settings.address == "local" else settings.address
            runtime_env = None if address is None else {"py_modules": [str(Path(__file__).parent)]}
            ray.init(address=address, runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self.capacity = settings.max_concurrent
        self.example, self.source = problem.source, problem.source.read_text()
        self.data = ray.put(data)
        # Each trial uses its CPU share of torch threads.
        self.trial_config = replace(trial_config, threads=max(1, int(settings.cpus_per_trial)))
        self.task = ray.remote(_trial_on_worker).options(
            num_cpus=settings.cpus_per_trial, num_gpus=settings.gpus_per_trial,
            max_retries=settings.max_failures, retry_exceptions=False)
        self.waiting: deque[TrialJob] = deque()
        self.running: dict = {}  # object ref -> (job, perf_counter at launch)

    def submit(self, job: TrialJob) -> None:
        self.waiting.append(job)
        self._launch()

    def _launch(self) -> None:
        while self.waiting and len(self.running) < self.capacity:
            job = self.waiting.popleft()
            ref = self.task.remote(job, self.example, self.source, self.data, self.trial_config)
            self.running[ref] = (job, time.perf_counter())

    def wait(self) -> TrialResult:
        ready, _ = self.ray.wait(list(self.running), num_returns=1)
        job, launched = self.running.pop(ready[0])
        try:
            result = self.ray.get(ready[0])
        except self.ray.exceptions.RayError as error:  # worker died, OOM-killed, ...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            # no result came back: the trial's time is the task's, retries included
            result = TrialResult(job, "failed", reason=f"worker: {type(error).__name__}: {first_line}"[:500],
                                 total_seconds=time.perf_counter() - launched)
        self._launch()
        return result

    @property
    def pending(self) -> int:
        return len(self.waiting) + len(self.running)

    def close(self) -> None:
        for ref in self.running:
            self.ray.cancel(ref, force=True)
        self.running.clear()
        self.waiting.clear()
        if self.started_here:
            self.ray.shutdown()
