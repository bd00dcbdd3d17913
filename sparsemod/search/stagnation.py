"""The stagnation stop: a phase ends early once the front stops growing.

With ``tolerance`` > 0, a GP or morph phase stops when the hypervolume of the feasible
completed trials grew by less than ``tolerance`` (relative) over the last ``patience``
trials.  Every objective is scaled by a reference the Sobol trials fix (1.1 × their worst),
so the measure does not move as later trials extend the ranges.
"""

from __future__ import annotations

from sparsemod.config import TrainSettings
from sparsemod.front.hypervolume import hypervolume
from sparsemod.store.results import ResultsFolder


def hypervolume_after(results: ResultsFolder, objectives: list[str], trials: int) -> float:
    """Hypervolume of the feasible completed trials among the first ``trials``."""
    table = results.table()
    sobol = table[(table["phase"] == "sobol") & (table["status"] == "completed")]
    if sobol.empty:
        return 0.0
    reference = 1.1 * sobol[objectives].to_numpy(dtype=float).max(axis=0) + 1e-12
    usable = ((table["status"] == "completed") & results.feasible_mask(table)).to_numpy()
    values = table[objectives].to_numpy(dtype=float)[:trials]
    return hypervolume(values[usable[:trials]], reference)


def stagnation(results: ResultsFolder, settings: TrainSettings, phase: str) -> str | None:
    """The reason to stop ``phase``, or None while the front still grows."""
    in_phase = sum(1 for row in results.rows if row["phase"] == phase)
    if settings.tolerance <= 0 or in_phase < settings.patience:
        return None
    objectives, done = list(settings.objective_names), len(results.rows)
    before = hypervolume_after(results, objectives, done - settings.patience)
    now = hypervolume_after(results, objectives, done)
    growth = (now - before) / before if before > 0 else (float("inf") if now > 0 else 0.0)
    if growth < settings.tolerance:
        return (f"hypervolume grew {100 * growth:.3g}% over the last {settings.patience} "
                f"trials (< tolerance {100 * settings.tolerance:g}%)")
    return None
