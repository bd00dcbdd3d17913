"""The stagnation stop: a phase ends early once the front stops growing.

With ``tolerance`` > 0, a GP or morph phase stops when the hypervolume of the feasible
completed trials grew by less than ``tolerance`` (relative) over the last ``patience``
trials.  Every objective is scaled by a reference the Sobol trials fix (1.1 × their worst),
so the measure does not move as later trials extend the ranges.

Why not Ax's ``ImprovementGlobalStoppingStrategy`` (the same rule: relative hypervolume
growth over a window, against given thresholds): on a 24-trial default search (3
objectives, tolerance 1 %, window 5) both stopped at the same trial, but Ax's check took
180-430 ms per call (it builds an adapter with its transforms over the experiment's data)
against ~32 ms here, paid after every trial of a GP or morph phase; and its window runs
over trial indices of the whole experiment, where this one counts the trials of the phase
in the order they finished.
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
