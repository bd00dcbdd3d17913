"""Stopping a search from outside: Ctrl-C (SIGINT), a scheduler or ``kill`` (SIGTERM: Slurm,
Kubernetes, systemd and Ray's job submission stop a job so, then SIGKILL after a grace
period), a closed terminal (SIGHUP).

The first of them raises :class:`Interrupted` in the main thread, a ``KeyboardInterrupt``:
every ``finally`` on its way closes what it holds as for Ctrl-C (the running trial is
stopped, what finished is saved), and ``time.txt`` already says ``state: interrupted
(SIGTERM)``.  A second one during that shutdown ends the process at once, its trial
workers with it, in one line: what was recorded stays, and ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Iterator

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
RESUME = "python main.py --resume continues the search"


class Interrupted(KeyboardInterrupt):
    """A stopping signal arrived; ``status`` is the shell's 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def status(self) -> int:
        return 128 + self.signum


class _Guard:
    """The handler's state: the first signal, and the results folder of the running search."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.folder: Path | None = None

    def __call__(self, signum: int, frame) -> None:
        if self.first is not None:
            self._exit_now(signum)
        self.first = signum
        if self.folder is not None:
            from sparsemod.store.results import set_state  # loaded already: the search made the folder

            with contextlib.suppress(OSError):  # a full disk: the shutdown's own writes say it
                set_state(self.folder, f"interrupted ({signal.Signals(signum).name})")
        raise Interrupted(signum)

    def _exit_now(self, signum: int) -> None:
        """The second signal: no more waiting for a trial or an optimizer to wind down."""
        for child in multiprocessing.active_children():  # the trial worker (Ray's go with the driver)
            child.kill()
        if self.folder is not None:
            (self.folder / ".lock").unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a closed terminal
            print(f"interrupted again ({signal.Signals(signum).name}): stopped at once; {RESUME}",
                  file=sys.stderr, flush=True)
        os._exit(128 + signum)


_guard: _Guard | None = None


def check() -> None:
    """Raise :class:`Interrupted` if a stopping signal arrived: its exception, raised inside
    a library call, may not have come through (Ray's C++ calls turn it into a status, and
    ``ray.get`` raises a plain ``KeyboardInterrupt``; one that catches and carries on loses
    it).  Loops that wait call this, so a signal stops the search at the latest there."""
    if _guard is not None and _guard.first is not None:
        raise Interrupted(_guard.first)


def stopped(error: KeyboardInterrupt) -> Interrupted:
    """The stopping signal behind ``error``: itself, or the one the handler saw when a
    library re-raised it as a plain ``KeyboardInterrupt`` (else Ctrl-C's)."""
    if isinstance(error, Interrupted):
        return error
    return Interrupted(_guard.first if _guard is not None and _guard.first is not None else signal.SIGINT)


@contextlib.contextmanager
def stopping_signals() -> Iterator[None]:
    """Handle the stopping signals inside the block (main thread only), restoring the
    handlers found (a test's, pytest's) after it unless one arrived."""
    global _guard
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    # multiprocessing's resource tracker ignores SIGINT and SIGTERM but not SIGHUP: killed by a
    # group's, it would be restarted and complain of the semaphores it never saw.  Started
    # now with SIGHUP ignored, it keeps that disposition.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    resource_tracker.ensure_running()
    _guard = _Guard()
    claim()
    try:
        yield
    finally:
        if _guard.first is None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        # else the handler stays: a signal while the interrupted process exits ends it at once
        _guard = None


def claim() -> None:
    """(Re)install the handler: ``ray.init`` sets its own for SIGTERM."""
    if _guard is not None and threading.current_thread() is threading.main_thread():
        for signum in STOPPING:
            signal.signal(signum, _guard)


@contextlib.contextmanager
def recording(folder: Path) -> Iterator[None]:
    """A signal inside the block marks ``folder``'s time.txt interrupted."""
    if _guard is not None:
        _guard.folder = folder
    try:
        yield
    finally:
        if _guard is not None:
            _guard.folder = None


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Processes started inside the block (a local Ray runtime's daemons, and the workers
    they start) have SIGTERM and SIGHUP blocked, as Ray blocks SIGINT in them: a signal to
    the whole process group reaches the search alone, which stops them in order (a killed
    GCS would leave its driver waiting a minute for it).  The handler is (re)installed
    before the block ends, so a signal that arrived meanwhile is the search's."""
    shield = {signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, shield)
    try:
        yield
        claim()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
