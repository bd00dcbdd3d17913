"""Where trials run.  An executor takes jobs with ``submit`` and hands back finished
results, one per ``wait``, in the order they finish.  While it waits, a trial's epoch
reports (``job.report_epochs``) go to ``judge``, which the search passes in: the stopping rule runs
in the search's process, which knows every trial's reports."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import tempfile
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Callable, Protocol

from sparsemod.config import RaySettings
from sparsemod.data import DataBundle
from sparsemod.problem import Problem, load_problem
from sparsemod.stopping import Report
from sparsemod.trial import TrialConfig, TrialJob, TrialResult, run_trial


class Executor(Protocol):
    capacity: int  # trials that can run at once

    def submit(self, job: TrialJob) -> None: ...

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult: ...

    @property
    def pending(self) -> int: ...

    def close(self) -> None: ...


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


def _serve_trials(connection: Connection, source: ProblemSource, trial_config: TrialConfig) -> None:
    """The worker process: run each job received, send back its result; ``None`` ends it.

    Pipe protocol, per job: search → ``TrialJob``; then, after each of its ``report_epochs``,
    worker → ``Report`` and search → ``bool`` (train on?); last, worker → ``TrialResult``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle
    problem, data = source.load()

    def ask(report: Report) -> bool:
        connection.send(report)
        return bool(connection.recv())

    while (job := connection.recv()) is not None:
        connection.send(run_trial(job, problem, data, trial_config, ask))


class WorkerExecutor:
    """Runs trials one at a time in a worker process beside the search.

    The search's process meanwhile generates the next suggestions: two cores busy, and no
    interpreter lock or ``torch.fx`` tracing (quantization patches ``nn.Module.__call__``
    process-wide while it traces) shared between training and the optimizer.  A trial that
    kills its process (a segfault in a builder, the OOM killer) becomes a failed trial and
    the next one gets a new worker.
    """

    capacity = 1

    def __init__(self, source: ProblemSource, trial_config: TrialConfig, max_failures: int = 1):
        self.source, self.trial_config, self.max_failures = source, trial_config, max_failures
        self.context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.queue: deque[TrialJob] = deque()
        self.running: TrialJob | None = None  # the job handed to the worker, until its result
        self.sent = False  # ``running`` reached the worker (a dead one is sent it again)
        self.started = 0.0
        self.process: BaseProcess | None = None
        self.connection: Connection | None = None
        self._start()  # now: its imports overlap with the search's first ask

    def _start(self) -> None:
        ours, theirs = self.context.Pipe()
        self.process = self.context.Process(target=_serve_trials, name="sparsemod-trial", daemon=True,
                                            args=(theirs, self.source, self.trial_config))
        self.process.start()
        theirs.close()
        self.connection = ours

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
        for attempt in range(1, self.max_failures + 2):
            try:
                if not self.sent:
                    self._send(job)
                while isinstance(message := self.connection.recv(), Report):
                    self.connection.send(judge(message) if judge is not None else True)
                self.running = None
                self._dispatch()
                return message
            except (EOFError, OSError):  # the worker died during the trial
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
                self.process.kill()
        self.process = None


POLL_SECONDS = 0.05  # how often a Ray trial and the driver look for each other's messages


class Mailbox:
    """A Ray actor between running trials and the driver: epoch reports in, the driver's
    decisions (train on?) out; the stopping rule itself stays in the driver."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.decisions: dict[tuple[int, int], bool] = {}

    def post(self, report: Report) -> None:
        self.reports.append(report)

    def collect(self) -> list[Report]:
        reports, self.reports = self.reports, []
        return reports

    def answer(self, trial: int, epoch: int, go_on: bool) -> None:
        self.decisions[(trial, epoch)] = go_on

    def decision(self, trial: int, epoch: int) -> bool | None:
        return self.decisions.pop((trial, epoch), None)


def _ask_driver(mailbox) -> Callable[[Report], bool]:
    """In a Ray trial: post each report, wait for the driver's decision."""
    import ray

    def decide(report: Report) -> bool:
        ray.get(mailbox.post.remote(report))
        while (go_on := ray.get(mailbox.decision.remote(report.trial, report.epoch))) is None:
            time.sleep(POLL_SECONDS)
        return go_on

    return decide


def _trial_on_worker(job: TrialJob, example: Path, source: str, data: DataBundle,
                     trial_config: TrialConfig, mailbox=None) -> TrialResult:
    """A Ray task: load the example (from its path, or from its text on a remote node)."""
    if not example.is_file() or example.read_text() != source:
        example = Path(tempfile.gettempdir()) / "sparsemod_examples" / example.name
        example.parent.mkdir(exist_ok=True)
        example.write_text(source)
    decide = _ask_driver(mailbox) if mailbox is not None else None
    return run_trial(job, load_problem(example), data, trial_config, decide)


class RayExecutor:
    """Runs trials as Ray tasks, at most ``max_concurrent`` at once.

    Ray core tasks rather than a Tune ``Tuner``: the ask/tell loop, its phases and the
    per-trial records stay in the driver (Tune's ``AxSearch`` is single-objective and breaks
    with Ax >= 1.0), while Ray gives resources per trial, the object store for the data
    (sent once, not pickled into every trial) and retries of trials whose worker died.
    Epoch reports travel through a :class:`Mailbox` actor; ``wait`` judges them in the
    driver as they come, from every running trial.
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
        self.mailbox = None  # started with the first job that reports its epochs

    def submit(self, job: TrialJob) -> None:
        self.waiting.append(job)
        self._launch()

    def _launch(self) -> None:
        while self.waiting and len(self.running) < self.capacity:
            job = self.waiting.popleft()
            if job.report_epochs and self.mailbox is None:
                self.mailbox = self.ray.remote(num_cpus=0)(Mailbox).remote()
            ref = self.task.remote(job, self.example, self.source, self.data, self.trial_config,
                                   self.mailbox if job.report_epochs else None)
            self.running[ref] = (job, time.perf_counter())

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult:
        while True:
            ready, _ = self.ray.wait(list(self.running), num_returns=1,
                                     timeout=POLL_SECONDS if self.mailbox is not None else None)
            if self.mailbox is not None:
                for report in self.ray.get(self.mailbox.collect.remote()):
                    go_on = judge(report) if judge is not None else True
                    self.ray.get(self.mailbox.answer.remote(report.trial, report.epoch, go_on))
            if ready:
                break
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
