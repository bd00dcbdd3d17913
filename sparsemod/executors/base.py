"""The contract every executor keeps.

An executor takes jobs with ``submit`` and hands back finished results, one per ``wait``, in
the order they finish.  While it waits, a trial's epoch reports (``job.report_epochs``) go
to ``judge``, which the search passes in: the stopping rule runs in the search's process,
which knows every trial's reports.  A trial that fails is retried up to ``[RAY]
max_failures`` times, then comes back *failed* with its reason; ``close`` stops what still
runs and may be called again.

:class:`~sparsemod.executors.local.WorkerExecutor` runs trials in one worker process;
:class:`~sparsemod.executors.tune.TuneExecutor` on Ray Tune (``[RAY] address`` set).
"""

from __future__ import annotations

from typing import Callable, Protocol

from sparsemod.trial.job import Report, TrialJob, TrialResult


class Executor(Protocol):
    capacity: int  # trials that can run at once

    def submit(self, job: TrialJob) -> None: ...

    def wait(self, judge: Callable[[Report], bool] | None = None) -> TrialResult: ...

    @property
    def pending(self) -> int: ...

    def close(self) -> None: ...
