"""Trials in one worker process on this machine (the default, no Ray needed)."""

from __future__ import annotations

import contextlib
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Callable

from sparsemod.data import DataBundle
from sparsemod.errors import WorkerSetupError
from sparsemod.executors.worker import SetupFailed, Worker
from sparsemod.problem import Problem, load_problem
from sparsemod.trial.job import Report, TrialConfig, TrialJob, TrialResult


@dataclass(frozen=True)
class ProblemSource:
    """What a worker process needs to load the example and its data itself (an example's
    functions, loaded from a file path, do not pickle)."""

    example: Path
    splitter: bool
    dataset: str
    data_dir: Path | None
    seed: int

    def load(self) -> tuple[Problem, DataBundle]:
        problem = load_problem(self.example, self.splitter)
        return problem, problem.load_data(self.dataset, self.data_dir, self.seed)


class WorkerExecutor:
    """Runs trials one at a time in a worker process beside the search.

    The search's process meanwhile generates the next suggestions: two cores busy, and no
    interpreter lock or ``torch.fx`` tracing (quantization patches ``nn.Module.__call__``
    process-wide while it traces) shared between training and the optimizer.  A trial that
    kills its process (a segfault in a builder, the OOM killer) becomes a failed trial and
    the next one gets a new worker.
    """

    capacity = 1

    def __init__(self, source: ProblemSource, trial_config: TrialConfig, max_failures: int = 1,
                 worker: Worker | None = None):
        """``worker``: one started earlier (its imports done or under way), else one starts now."""
        self.source, self.trial_config, self.max_failures = source, trial_config, max_failures
        self.queue: deque[TrialJob] = deque()
        self.running: TrialJob | None = None  # the job handed to the worker, until its result
        self.sent = False  # ``running`` reached the worker (a dead one is sent it again)
        self.started = 0.0
        self.process: BaseProcess | None = None
        self.connection: Connection  # set by _start
        self._start(worker)

    def _start(self, worker: Worker | None = None) -> None:
        worker = worker or Worker()
        worker.adopted = True
        self.process, self.connection = worker.process, worker.connection
        self.connection.send((self.source, self.trial_config))

    def submit(self, job: TrialJob) -> None:
        self.queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand the worker the next queued job as soon as it is free: at ``submit``, and in
        ``wait`` as soon as a result arrives, so the worker trains while the search's process
        records that result, saves experiment.json and draws the report (~0.5 s a trial)."""
        if self.running is not None or not self.queue:
            return
        self.running, self.sent, self.started = self.queue.popleft(), False, time.perf_counter()
        with contextlib.suppress(EOFError, OSError):  # a dead worker: ``wait`` starts a new one
            self._send(self.running)

    def _send(self, job: TrialJob) -> None:
        if self.process is None or not self.process.is_alive():
            self._start()
        self.connection.send(job)
        self.sent = True

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult:
        """The running job's result (``judge`` answers its epoch reports: go on?); a job whose
        worker died is run again in a new worker, up to ``max_failures`` times (as Ray
        retries a task), then recorded failed."""
        self._dispatch()
        job = self.running
        assert job is not None, "wait() follows a submit()"
        for attempt in range(1, self.max_failures + 2):
            try:
                if not self.sent:
                    self._send(job)
                while isinstance(message := self.connection.recv(), Report):
                    self.connection.send(judge(message) if judge is not None else True)
                if isinstance(message, SetupFailed):  # every new worker would fail so: stop
                    source = self.source
                    raise WorkerSetupError(
                        f"a new trial worker could not load example {source.example.name}, dataset "
                        f"{source.dataset}{f' from {source.data_dir}' if source.data_dir else ''} "
                        f"({message.reason}); restore what changed since the search started, then "
                        "python main.py --resume continues the search")
                self.running = None
                self._dispatch()
                return message
            except (EOFError, OSError):  # the worker died during the trial
                assert self.process is not None, "the job was sent to a started worker"
                self.process.join(timeout=10)
                code = self.process.exitcode
                self.process, self.sent = None, False
        self.running = None
        self._dispatch()
        died = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return TrialResult(job, "failed", total_seconds=time.perf_counter() - self.started,
                           reason=f"worker: the trial's process died {attempt} times ({died}); not run "
                                  f"again ([RAY] max_failures = {self.max_failures})")

    @property
    def pending(self) -> int:
        return len(self.queue) + (self.running is not None)

    def close(self) -> None:
        """Stop the worker: at once if it is still running a job nobody will wait for (a search
        cut short), else after it has read the end of the protocol."""
        self.queue.clear()
        busy, self.running = self.running is not None, None
        if self.process is not None and self.process.is_alive():
            if not busy:
                with contextlib.suppress(OSError):  # the worker is already gone
                    self.connection.send(None)
                self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()  # the worker leaves its trial at the next bytecode
                self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
        self.process = None

