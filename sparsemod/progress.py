"""A progress line per trial (tqdm keeps a bar under the lines on a terminal)."""

from __future__ import annotations

from tqdm import tqdm

from sparsemod.report.units import human
from sparsemod.trial.job import TrialResult


def describe(result: TrialResult) -> str:
    if result.status == "failed":
        return f"FAILED ({result.reason.splitlines()[0] if result.reason else 'no reason'})"
    stopped = f"STOPPED after epoch {result.epochs_trained}/{result.job.epochs}: " if result.status == "stopped" else ""
    return stopped + " ".join(f"{name}={human(name, value)}" for name, value in result.metrics.items())


class Progress:
    def __init__(self, total: int, done: int = 0):
        self.total = total
        self.done = done
        # The bar only shows on a terminal; the per-trial lines always print.
        self.bar = tqdm(total=total, initial=done, unit="trial", leave=False, disable=None)

    def trial_finished(self, result: TrialResult, on_front: bool) -> None:
        self.done += 1
        front = " *pareto*" if on_front else ""
        tqdm.write(f"[{result.job.phase} {self.done}/{self.total}] trial {result.job.index} "
                   f"{describe(result)} {result.total_seconds:.1f}s{front}")
        self.bar.update(1)

    def message(self, text: str) -> None:
        tqdm.write(text)

    def close(self) -> None:
        self.bar.close()
