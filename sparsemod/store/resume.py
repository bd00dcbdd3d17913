"""``--resume``: the config checked against the search's own, and trials.csv cross-checked
against experiment.json, before the search goes on.

A new search records in experiment.json the settings that give its trials their meaning
(:data:`DEFINING`: objectives, constraints, the space, the seed and so the data split, the
Sobol budget ``r1`` that Ax's generation strategy holds, training epochs, quantization, the
cost model, pruning).  ``--resume`` refuses a config.ini where one of them changed, naming the
key: the old trials would be compared with new ones measured otherwise.  The planned rounds
``r2``, ``r3``, ``batch_size`` and the run-time keys may change (e.g. raise ``r2`` to extend a
finished search).

Ax's experiment.json is the reference: it is saved after every trial, holds each finished
trial's status and its four metrics, and only trails trials.csv by the last trial when a kill
falls between the two writes (:meth:`sparsemod.search.loop.Search._reconcile` tells Ax that one).
A row of trials.csv is *sound* when its index is an Ax trial, its arm and parameters are that
trial's, its status is completed, failed or stopped (early-stopped in Ax), and (for a trial
Ax finished) its status and metrics are Ax's.  Then, per Ax trial:

- finished in Ax, no sound row (a line cut in half, a file cut short): the row is re-told
  from Ax (parameters, phase, parent, metrics, status, reason), the measured extras read
  back from ``models/{arm}/metrics.json`` when the model was kept, else left empty;
- still running in Ax, row not sound: the row is dropped and the trial runs again;
- a row Ax cannot vouch for (an index Ax never asked, another arm or other parameters):
  the file belongs to another search or was edited, and resume is refused with one line.

Only sound or re-told rows decide the Pareto set, so no model is deleted because a table
was damaged.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sparsemod.config import METRICS, OBJECTIVES, ConfigError, Settings
from sparsemod.optimizer.record import AxRecord, arm_name, parameters_of
from sparsemod.problem import Problem
from sparsemod.store.results import EXTRA_COLUMNS, ResultsDamagedError, ResultsFolder

FINISHED = ("completed", "failed", "stopped")
AX_DIGITS = 5e-11  # Ax keeps a metric to 10 decimals: half a unit of the last one
DEFINING = {"TRAIN": ("objectives", "constraints", "seed", "r1", "epochs1", "epochs2", "epochs3",
                      "dataset", "quant_scheme", "calibration_batches", "device", "flops",
                      "bandwidth", "pruning", "splitter", "schedule", "augment_shift"),
            "MORPHNET": ("algorithm", "target", "threshold", "strength", "finetune_epochs")}


def defining_settings(settings: Settings, problem: Problem) -> dict[str, str]:
    """``"[SECTION] key"`` -> its value as text, and the search space as ``[TRAIN] example``."""
    sections = {"TRAIN": settings.search, "MORPHNET": settings.morphnet}
    values = {f"[{section}] {key}": _text(getattr(sections[section], key))
              for section, keys in DEFINING.items() for key in keys}
    values["[TRAIN] example"] = "; ".join(map(repr, problem.space))
    return values


def check_settings(record: AxRecord, settings: Settings, problem: Problem) -> None:
    """Refuse a resumed config whose defining settings differ from the search's."""
    recorded = record.settings
    for key, value in defining_settings(settings, problem).items():
        if key in recorded and recorded[key] != value:
            what = "the search space changed" if key.endswith("example") else \
                f"was {recorded[key]!r} when the search started, now {value!r}"
            raise ConfigError(f"{settings.path} {key}: {what}; a resumed search keeps it (its trials "
                              "were measured that way): restore it, or start a new search under another name")


def _text(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def repair_rows(results: ResultsFolder, record: AxRecord) -> list[str]:
    """Replace ``results.rows`` by the rows Ax vouches for; return one line per repair."""
    experiment = record.experiment
    trials = record.trials
    data = experiment.lookup_data().df
    metrics = {(int(i), str(m)): float(v) for i, m, v in
               zip(data["trial_index"], data["metric_name"], data["mean"])}
    path = results.folder / "trials.csv"
    sound: dict[int, dict] = {}
    dropped: list[int] = []
    for row in results.rows:
        index = _index(row)
        if index is None or index in sound:
            continue
        if index not in trials:
            raise ResultsDamagedError(f"{path}: row of trial {index}, which experiment.json never "
                                      f"ran ({len(trials)} trials): the files are from different searches")
        trial = trials[index]
        if row["status"] in FINISHED and not _same_arm(row, arm_name(trial), parameters_of(trial)):
            raise ResultsDamagedError(f"{path}: trial {index} has other parameters than in "
                                      "experiment.json: the files are from different searches")
        if _agrees(row, trial, metrics):
            sound[index] = row
        elif not _finished_in_ax(trial):
            dropped.append(index)  # unfinished in Ax: it runs again
    restored = [index for index, trial in trials.items() if _finished_in_ax(trial) and index not in sound]
    for index in restored:
        sound[index] = _row_from_ax(results, trials[index], metrics)
    for index, row in sound.items():
        row.update(index=index, **parameters_of(trials[index]))  # Ax's values (a NaN makes ints floats)
    if not restored and not dropped and len(sound) == len(results.rows):
        return []
    # sound rows keep their order (the order trials finished); re-told ones go where their index falls
    rows = [row for row in sound.values() if row["index"] not in restored]
    for index in sorted(restored):
        position = next((p for p, row in enumerate(rows) if row["index"] > index), len(rows))
        rows.insert(position, sound[index])
    results.rows = rows
    lines = []
    if restored:
        lines.append(f"{path}: {len(restored)} rows missing or damaged (trials {_ranges(restored)}); "
                     "re-told from experiment.json (the measured extras too where the model was kept)")
    if dropped:
        lines.append(f"{path}: damaged rows of unfinished trials {_ranges(dropped)} dropped; they run again")
    return lines


def _index(row: dict) -> int | None:
    try:
        value = float(row["index"])
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() and value >= 0 else None


def _same_arm(row: dict, name: str, parameters: dict) -> bool:
    return row["arm"] == name and all(_same_value(row.get(k), v) for k, v in parameters.items())


def _same_value(a, b, abs_tol: float = 0.0) -> bool:
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=abs_tol)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)


def _finished_in_ax(trial) -> bool:
    return trial.status.is_completed or trial.status.is_failed or trial.status.is_early_stopped


def _agrees(row: dict, trial, metrics: dict[tuple[int, str], float]) -> bool:
    """A sound row: finished, and (when Ax finished the trial) Ax's status and metrics."""
    status = row["status"]
    if status not in FINISHED:
        return False
    if status != "failed" and not all(_finite(row.get(m)) for m in OBJECTIVES):
        return False
    for ax_status, done in (("completed", trial.status.is_completed), ("stopped", trial.status.is_early_stopped)):
        if done:
            return status == ax_status and all(
                _same_value(row[m], metrics.get((trial.index, m)), AX_DIGITS) for m in OBJECTIVES)
    if trial.status.is_failed:
        return status == "failed"
    return True  # recorded before Ax's file was saved: Search._reconcile tells Ax


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _row_from_ax(results: ResultsFolder, trial, metrics: dict[tuple[int, str], float]) -> dict:
    meta = trial.run_metadata
    completed = trial.status.is_completed
    measured = completed or trial.status.is_early_stopped  # Ax holds the metrics of both
    saved = results.models / trial.arm.name / "metrics.json"
    extras = json.loads(saved.read_text()) if completed and saved.is_file() else {}
    # the saved model's metrics are the unrounded ones; else Ax's
    values = {m: extras.get(m, metrics.get((trial.index, m), math.nan)) for m in METRICS}
    row: dict[str, Any] = {column: math.nan for column in results.columns}
    row.update({
        "index": trial.index, "arm": trial.arm.name, "phase": meta.get("phase", ""),
        "parent": meta.get("parent"), "operators": " + ".join(meta.get("operators", ())) or None,
        **trial.arm.parameters, **(values if measured else {}),
        **{k: extras[k] for k in EXTRA_COLUMNS if k in extras},
        "feasible": all(c.satisfied(values[c.metric]) for c in results.constraints) if measured else None,
        "status": "completed" if completed else "stopped" if measured else "failed",
        "reason": "" if measured else (trial.status_reason or "failed (reason not kept by Ax)"),
        # a stopped trial stopped at its last report (kept in Ax's run metadata)
        "epochs_trained": max((r["epoch"] for r in meta.get("reports", [])), default=math.nan)
        if trial.status.is_early_stopped else math.nan,
    })
    return row


def _ranges(indices: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    parts, ordered = [], sorted(indices)
    start = previous = ordered[0]
    for index in ordered[1:] + [ordered[-1] + 2]:  # past the end: closes the last range
        if index != previous + 1:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = index
        previous = index
    return ", ".join(parts)
