"""Trials on Ray Tune (``[RAY] address`` set): a ``tune.Tuner`` runs the trials that the
search loop (:class:`sparsemod.search.loop.Search`) asks Ax for.

The search loop stays the one place where phases, Ax and the results folder live; Tune is
its executor.  :class:`TuneExecutor` keeps the :class:`~sparsemod.executors.local.Executor`
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

import contextlib
import hashlib
import logging
import os
import queue
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import ray
import torch
from ray import cloudpickle, tune
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.stopper import Stopper

from sparsemod import interrupt
from sparsemod.config import OBJECTIVES, ConfigError, RaySettings
from sparsemod.data import DataBundle
from sparsemod.errors import one_line
from sparsemod.interrupt import shielded
from sparsemod.problem import Problem, load_problem
from sparsemod.trial.job import Report, TrialConfig, TrialJob, TrialResult
from sparsemod.trial.run import run_trial

RESULT_FILE = "result.pt"  # in a trial's final checkpoint: its TrialResult
CONNECT_TIMEOUT_S = 10.0  # for a cluster's address to answer at all
# HTTP/2's connection preface, then an empty SETTINGS frame (RFC 9113, section 3.4)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 0x4, 0, 0, 0, 0, 0])


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


def report_of(result: dict[str, Any], objectives: tuple[str, ...] = OBJECTIVES) -> Report | None:
    """The :class:`Report` a Tune result carries (``None`` for a trial's final result)."""
    if result.get("final", True):
        return None
    return Report(int(result["index"]), int(result["epoch"]), int(result["max_epochs"]),
                  {name: float(result[name]) for name in objectives if name in result}, str(result["bracket"]))


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

    def __init__(self, rule: Callable[[Report], bool], objectives: tuple[str, ...] = OBJECTIVES):
        super().__init__()
        self.rule, self.objectives = rule, objectives

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        report = report_of(result, self.objectives)
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


def quiet_ray(debug: bool) -> None:
    """Ray's and Tune's own lines (start-up, trial tables, error traces Tune also writes to
    its folder) are shown with ``debug`` only; trials.csv has every trial's reason."""
    logging.getLogger("ray").setLevel(logging.INFO if debug else logging.CRITICAL)
    if not debug:
        # Tune's newer console output prints its experiment table at every verbosity; the
        # classic reporter prints nothing at verbose = 0.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"


def check_storage_folder(folder: Path) -> None:
    """A local ``storage_path`` that cannot be created is the config's error, before Ray starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"[RAY] storage_path: expected a folder sparsemod can create, got {str(folder)!r} "
                          f"({type(error).__name__}: {error.strerror or error})") from None


def speaks_http2(connection: socket.socket) -> bool:
    """Whether the server on ``connection`` answers as a gRPC server (Ray's GCS, a Ray Client
    server) does: to HTTP/2's client preface it replies with a SETTINGS frame, whose 9-byte
    header has type 0x4 (RFC 9113, sections 3.4 and 6.5)."""
    connection.sendall(HTTP2_PREFACE)
    header = b""
    try:
        while len(header) < 9 and (chunk := connection.recv(9 - len(header))):
            header += chunk
    except TimeoutError:  # accepted, but silent
        return False
    return len(header) == 9 and header[3] == 0x4


def start_ray(settings: RaySettings, debug: bool) -> None:
    """``ray.init`` for ``address``: this machine's own runtime (``local``) or a cluster's.

    An address where no cluster answers, or where something else does, is a one-line error
    naming the key: ``ray.init`` itself would retry it for ever.
    """
    address = None if settings.address == "local" else settings.address
    if address not in (None, "auto"):
        host, port = address.removeprefix("ray://").rsplit(":", 1)
        tls = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # TLS first: no preface to answer
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as connection:
                grpc = tls or speaks_http2(connection)
        except OSError as error:
            raise ConfigError(f"[RAY] address: nothing answers at {address} ({error.strerror or error}); "
                              "start the cluster (ray start --head) or set address = local") from None
        if not grpc:
            raise ConfigError(f"[RAY] address: {address} answers, but not as a Ray cluster (no gRPC reply "
                              f"within {CONNECT_TIMEOUT_S:g} s); give its head node's GCS port (6379 unless "
                              "ray start --port changed it; ray://: its client port, 10001)")
    # a cluster's nodes import sparsemod from the driver's copy
    runtime_env = None if address is None else {"py_modules": [str(Path(__file__).parent.parent)]}
    try:
        with shielded():  # ray.init replaces the search's SIGTERM handler; shielded() restores it
            ray.init(address=address, runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=debug, configure_logging=debug,
                     logging_level=logging.INFO if debug else logging.ERROR)
    except ConnectionError as error:  # auto: no cluster on this machine; an address: one that refused us
        reason = str(error).split(". ")[0]
        if address == "auto":
            raise ConfigError(f"[RAY] address: auto found no Ray cluster ({reason}); start one "
                              "(ray start --head) or set address = local") from None
        # Ray turns its token authentication on by itself for auto only, never for an address
        hint = ("" if os.environ.get("RAY_AUTH_MODE") else "; if its head node runs Ray's token "
                "authentication, run with RAY_AUTH_MODE=token (and its token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN), or use address = auto on the head node")
        raise ConfigError(f"[RAY] address: the Ray cluster at {address} refused the connection ({reason}){hint}") from None
    if address is None:
        check_resources(settings)


def check_resources(settings: RaySettings) -> None:
    """On this machine's runtime, a trial asking for more than there is would wait for ever
    (Tune only warns): refuse it now, naming the key."""
    have = ray.cluster_resources()
    for key, resource in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")):
        wanted, total = getattr(settings, key), have.get(resource, 0.0)
        if wanted > total:
            ray.shutdown()
            raise ConfigError(f"[RAY] {key}: expected at most the {total:g} {resource}s of this machine's "
                              f"Ray runtime (address = local), got {wanted:g}")


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
