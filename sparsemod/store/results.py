"""The results folder ``{root}/{name}/``, rewritten atomically after every trial.

- ``trials.csv``: a row per trial (index, arm, phase, parameters, metrics, status
  (completed, failed, or stopped early), reason, epochs trained, seconds);
- ``pareto.csv``: the non-dominated completed trials over the active objectives;
- ``experiment.json``: Ax's own JSON of the experiment (no weights), loadable by Ax;
- ``time.txt``: wall time of the search and of each phase;
- ``models/{arm}/``: exactly the Pareto trials' models (``model.pt`` float weights,
  ``params.json`` to rebuild with the builder, ``metrics.json``, and with pruning the
  learned ``structure.json`` to shrink the rebuilt network before loading the weights).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch

from sparsemod.config import METRICS, Constraint
from sparsemod.errors import ResultsDamagedError, ResultsExistError, ResultsMissingError, one_line
from sparsemod.front.pareto import pareto_mask
from sparsemod.trial.job import TrialResult

FIXED_COLUMNS = ("index", "arm", "phase", "parent", "operators")
STATUS_COLUMNS = ("status", "reason", "epochs_trained", "train_seconds", "total_seconds")
EXTRA_COLUMNS = ("float_error", "test_accuracy", "flops", "parameters", "measured_latency",
                 "working_memory_best_order", "flops_before", "parameters_before")
MARKERS = ("trials.csv", "experiment.json")
STOPPED_EARLY = " stopped early: "  # time.txt: "{phase} stopped early: {reason}"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is created like any file (mode 0666 less the umask), not 0600 as
    ``tempfile.mkstemp`` would, so the renamed file has the user's usual permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):  # its folder may be gone
            Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):  # a write's error names no file: name the one meant
            raise named(error, path) from None
        raise


def named(error: OSError, path: Path) -> OSError:
    """``error`` (its subclass kept) naming ``path``."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def set_state(folder: Path, state: str) -> None:
    """Rewrite time.txt's first line (``state: ...``), keeping the times recorded below it."""
    path = folder / "time.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    atomic_write_text(path, "\n".join([f"state: {state}", *lines[1:]]) + "\n")


FAULTS = {  # errno -> what the user can do about it, before ``then``
    errno.ENOSPC: "the disk is full: free space on it (or set [TRAIN] root on another disk)",
    errno.EDQUOT: "the disk quota is used up: free space or raise the quota",
    errno.EFBIG: "a file outgrew the file size limit (ulimit -f): raise the limit",
    errno.EACCES: "give this user write access there",
    errno.EPERM: "give this user write access there",
    errno.EROFS: "a read-only file system: mount it writable",
    errno.ENOTDIR: "a file stands where a folder should be: move it away",
    errno.ENOENT: "it disappeared while the search ran: restore it",
}


def describe_fault(error: OSError, then: str) -> str:
    """One line for an operating-system error on a search's files: the path, what happened,
    what to do, and ``then`` (e.g. how to resume)."""
    path = error.filename if error.filename is not None else "a file of the search"
    what = FAULTS.get(error.errno, "fix that") if error.errno is not None else "fix that"
    return f"{path}: {error.strerror or type(error).__name__}; {what}, {then}"


class ResultsFolder:
    def __init__(self, folder: Path, objectives: Sequence[str], parameter_names: Sequence[str],
                 constraints: Sequence[Constraint] = ()):
        reserved = set(FIXED_COLUMNS + STATUS_COLUMNS + EXTRA_COLUMNS + METRICS + ("feasible",))
        clash = sorted(reserved.intersection(parameter_names))
        if clash:
            raise ValueError(f"search space: parameter names {clash} clash with result columns")
        self.folder = folder
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self.columns = (*FIXED_COLUMNS, *parameter_names, *METRICS, "feasible", *EXTRA_COLUMNS,
                        *STATUS_COLUMNS)
        self.rows: list[dict] = []

    @property
    def models(self) -> Path:
        return self.folder / "models"

    def create(self) -> None:
        """Make the folder; refuse one that already holds a search."""
        existing = [m for m in MARKERS if (self.folder / m).exists()]
        if existing:
            raise ResultsExistError(
                f"{self.folder} already holds a search ({', '.join(existing)}); choose another "
                "[TRAIN] name or root, or move that folder away"
            )
        self.models.mkdir(parents=True, exist_ok=True)

    def open_existing(self) -> None:
        """Reload the rows of a search to resume; stray model folders are tidied later.

        experiment.json marks a search (it is written before the first trial runs);
        trials.csv is missing until the first trial is recorded: a search killed during
        its first trial has no rows yet."""
        if not (self.folder / "experiment.json").exists():
            raise ResultsMissingError(f"{self.folder}: nothing to resume (experiment.json missing)")
        self.models.mkdir(exist_ok=True)
        if not (self.folder / "trials.csv").exists():
            return
        path = self.folder / "trials.csv"
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if "\n" not in text and ",".join(self.columns).startswith(text):
            return  # cut inside its header line: no row survived (sparsemod.store.resume re-tells them)
        try:
            table = pd.read_csv(path, keep_default_na=True)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ResultsDamagedError(f"{path}: not a readable table ({one_line(error)})") from None
        if list(table.columns) != list(self.columns):
            missing = [c for c in self.columns if c not in table.columns]
            extra = [c for c in table.columns if c not in self.columns]
            raise ResultsDamagedError(f"{path}: columns differ from this search's (missing: "
                                      f"{', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})")
        # all-empty reasons read as float NaN: fillna("") on floats is deprecated in pandas 3
        table["reason"] = table["reason"].astype(object).fillna("")
        self.rows = [{k: v for k, v in row.items() if k in self.columns}
                     for row in table.to_dict("records")]

    def read_times(self) -> dict[str, float]:
        """Seconds per phase (and ``search``) recorded by an earlier run, to keep adding to."""
        path = self.folder / "time.txt"
        times = {}
        for line in path.read_text().splitlines() if path.exists() else []:
            key, _, value = line.partition(": ")
            if value.endswith(" s") and STOPPED_EARLY not in line:
                try:
                    times[key] = float(value[:-2])
                except ValueError:  # a note's text, not seconds
                    continue
        return times

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(self.columns))

    def feasible_mask(self, table: pd.DataFrame) -> pd.Series:
        """Rows meeting every outcome constraint (failed rows: False)."""
        mask = table["status"] == "completed"
        for constraint in self.constraints:
            mask &= table[constraint.metric].astype(float).map(constraint.satisfied)
        return mask

    def pareto(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """Non-dominated rows among the completed trials that meet the constraints (of
        ``table``, default the current one)."""
        table = self.table() if table is None else table
        completed = table[self.feasible_mask(table)]
        mask = pareto_mask(completed[list(self.objectives)].to_numpy(dtype=float))
        return completed[mask]

    def record(self, result: TrialResult, keep: frozenset[str] = frozenset()) -> bool:
        """Add a finished trial, rewrite the tables and the models (``keep``: arms whose models
        stay although off the front); True if the trial is on the front."""
        job = result.job
        feasible = result.status == "completed" and all(
            c.satisfied(result.metrics[c.metric]) for c in self.constraints)
        row = {"index": job.index, "arm": job.arm, "phase": job.phase,
               "parent": job.inherit.arm if job.inherit else None,
               "operators": " + ".join(job.inherit.operators) if job.inherit else None, **job.params,
               **result.metrics, "feasible": feasible if result.status == "completed" else None,
               **result.extras, "status": result.status,
               "reason": result.reason, "epochs_trained": result.epochs_trained, "train_seconds": round(result.train_seconds, 3),
               "total_seconds": round(result.total_seconds, 3)}
        self.rows.append(row)
        table = self.table()
        pareto = self.pareto(table)
        on_front = job.arm in set(pareto["arm"])
        # Model first, tables next, deletions last: a kill between any two steps leaves
        # every row of pareto.csv with its model (resume tidies any extra folder).
        if on_front and result.state_dict is not None:
            self._save_model(job.arm, result, row)
        self.write_tables(table, pareto)
        self.drop_models_off_front(keep, pareto)
        return on_front

    def write_tables(self, table: pd.DataFrame | None = None, pareto: pd.DataFrame | None = None) -> pd.DataFrame:
        """Rewrite trials.csv, then pareto.csv, from the rows; returns the Pareto rows."""
        table = self.table() if table is None else table
        pareto = self.pareto(table) if pareto is None else pareto
        atomic_write(self.folder / "trials.csv", lambda tmp: table.to_csv(tmp, index=False))
        atomic_write(self.folder / "pareto.csv", lambda tmp: pareto.to_csv(tmp, index=False))
        return pareto

    def _save_model(self, arm: str, result: TrialResult, row: dict) -> None:
        staging = self.models / f".{arm}.{secrets.token_hex(8)}"
        try:
            staging.mkdir()  # mode 0777 less the umask (tempfile.mkdtemp would make it 0700)
            # through bytes: torch's own file writer turns a full disk into a RuntimeError
            weights = io.BytesIO()
            torch.save(result.state_dict, weights)
            (staging / "model.pt").write_bytes(weights.getvalue())
            (staging / "params.json").write_text(json.dumps(result.job.params, indent=2))
            metrics = {k: row[k] for k in (*METRICS, *EXTRA_COLUMNS) if k in row}
            (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
            if result.structure is not None:  # MorphNet's learned structure: rebuild before loading
                (staging / "structure.json").write_text(json.dumps(result.structure, indent=2))
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                raise named(error, self.models / arm) from None
            raise
        target = self.models / arm
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)

    def drop_models_off_front(self, keep: frozenset[str] = frozenset(), pareto: pd.DataFrame | None = None) -> None:
        """Delete the model folders of arms neither on the front nor in ``keep`` (and staging
        folders a kill left); plain files (e.g. a desktop's ``.DS_Store``) are not sparsemod's."""
        front = set((self.pareto() if pareto is None else pareto)["arm"]) | keep
        for folder in self.models.iterdir():
            if folder.is_dir() and folder.name not in front:
                shutil.rmtree(folder)

    def read_stops(self) -> dict[str, str]:
        """Why phases stopped early in an earlier run (``{phase} stopped early: {reason}``)."""
        path = self.folder / "time.txt"
        stops = {}
        for line in path.read_text().splitlines() if path.exists() else []:
            head, _, reason = line.partition(STOPPED_EARLY)
            if reason and " " not in head:
                stops[head] = reason
        return stops

    def write_times(self, phases: dict[str, float], total: float, state: str,
                    stopped: dict[str, str] | None = None, notes: Sequence[str] = ()) -> None:
        """``state``, wall seconds of the search and of each phase, why phases stopped early,
        and ``notes`` (one line each)."""
        lines = [f"state: {state}", f"search: {total:.1f} s"]
        lines += [f"{phase}: {seconds:.1f} s" for phase, seconds in phases.items()]
        lines += [f"{phase}{STOPPED_EARLY}{reason}" for phase, reason in (stopped or {}).items()]
        lines += list(notes)
        atomic_write_text(self.folder / "time.txt", "\n".join(lines) + "\n")


def load_model(folder: Path, arm: str, build, input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
    """Rebuild a saved Pareto arm: build it, shrink it to its learned structure, load it."""
    from sparsemod.morphnet.prune import apply_structure

    model_dir = folder / "models" / arm
    params = json.loads((model_dir / "params.json").read_text())
    model = build(params, input_shape, num_classes).eval()
    if (model_dir / "structure.json").exists():
        model = apply_structure(model, torch.zeros(1, *input_shape), model_dir / "structure.json")
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    return model
