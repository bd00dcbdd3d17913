"""Asking the optimizer for the next trials while the current ones train.

Asynchronous Bayesian optimization: the trials still running are Ax's pending points (Ax
gives a ``RUNNING`` trial's arm to the acquisition function as ``X_pending``), so the next
suggestion is chosen knowing where the running ones are, and it is ready when a slot frees.
The ask runs on one background thread; the search touches the Ax client only after
:meth:`Prefetch.join`, so Ax is never used by two threads at once.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from sparsemod.trial.job import TrialJob


@dataclass(frozen=True)
class Suggestions:
    """The trials one ask created, for ``phase``, and what it cost."""

    phase: str
    jobs: list[TrialJob]
    seconds: float  # the optimizer's own CPU seconds (its thread's: training beside it does not inflate them)
    waited: float  # wall seconds the search waited for it after the running trial ended


class Prefetch:
    """One ask at a time on a background thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparsemod-optimizer")
        self._future: Future | None = None
        self._phase = ""

    @property
    def phase(self) -> str:
        """The phase of the ask started last."""
        return self._phase

    @property
    def running(self) -> bool:
        """An ask was started and not joined yet."""
        return self._future is not None

    @property
    def busy(self) -> bool:
        """An ask is still generating (joining it would wait)."""
        return self._future is not None and not self._future.done()

    def start(self, phase: str, ask: Callable[[], list[TrialJob]]) -> None:
        def timed() -> tuple[list[TrialJob], float]:
            # CPU, not wall: the trial training meanwhile shares the core, and its wall seconds
            # would count the same time twice in the search's budget
            start = time.thread_time()
            return ask(), time.thread_time() - start

        self._phase, self._future = phase, self._pool.submit(timed)

    def join(self) -> Suggestions | None:
        """The finished ask (waiting for it if needed); ``None`` when none was started.
        An ask that raised raises here, in the search's thread."""
        if self._future is None:
            return None
        future, self._future = self._future, None
        start = time.perf_counter()
        jobs, seconds = future.result()
        return Suggestions(self._phase, jobs, seconds, time.perf_counter() - start)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
