"""The trial worker process, started before the search's own set-up.

A spawned process starts bare: importing torch, the example and its data takes it seconds.
:class:`Worker` starts it first thing (``python main.py`` does so as soon as the config is
valid), so those imports run on the second core while the search's process imports Ax and
builds its client; the first trial then starts without waiting for them.  This module
imports nothing heavy itself, so that starting a worker costs the search's process nothing.

Pipe protocol: search → ``(ProblemSource, TrialConfig)`` once (worker → :class:`SetupFailed`
if it cannot load them); then per job: search →
``TrialJob``; after each of its ``report_epochs`` worker → ``Report`` and search → ``bool``
(train on?); last, worker → ``TrialResult``.  ``None`` in place of a job ends the worker.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

from sparsemod.errors import one_line


@dataclass(frozen=True)
class SetupFailed:
    """The worker's answer when it cannot load the example or its data."""

    reason: str


def serve(connection: Connection) -> None:
    """The worker process: import, learn its problem, then run each job received."""
    # Ctrl-C and a closed terminal reach the whole process group: the search's to handle
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A search cut short ends a running trial with SIGTERM: exit through Python's clean-up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_jobs(connection)
    finally:
        # Past its jobs the worker only exits: a SIGTERM now (the search closing after a failed
        # set-up) must end it quietly, not raise inside interpreter shutdown's callbacks
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_jobs(connection: Connection) -> None:
    from tqdm import tqdm

    # tqdm's lock (taken by torch.fx) as a thread lock, not a multiprocessing semaphore: a worker
    # killed (the OOM killer, a second signal) leaves none for the resource tracker to warn of
    tqdm.set_lock(threading.RLock())
    from sparsemod.trial.run import run_trial  # torch: the import this process starts early for

    setup = connection.recv()
    if setup is None:
        return
    source, trial_config = setup
    try:
        problem, data = source.load()
    except Exception as error:  # a new worker (the last one died) finds the example or data gone
        connection.send(SetupFailed(one_line(error, typed=True)))
        return

    def ask(report) -> bool:
        connection.send(report)
        return bool(connection.recv())

    while (job := connection.recv()) is not None:
        connection.send(run_trial(job, problem, data, trial_config, ask))


class Worker:
    """A started worker process and the search's end of its pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=serve, name="sparsemod-trial", daemon=True, args=(theirs,))
        self.process.start()
        theirs.close()
        self.adopted = False  # an executor took it over, and ends it

    def kill_if_unused(self) -> None:
        """End a worker no executor took over (the run stopped before its search began)."""
        if not self.adopted and self.process.is_alive():
            self.process.kill()
            self.process.join()
