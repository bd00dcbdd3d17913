"""``python -m sparsemod.report FOLDER``: rebuild pareto.png and report.html of a search."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from sparsemod.errors import one_line
from sparsemod.front.pareto import pareto_mask
from sparsemod.logs import importing_quietly, quiet_ax
from sparsemod.report import write_report


def read_trials(path: Path, metrics: list[str]) -> pd.DataFrame:
    """trials.csv, with a one-line ValueError naming it where it is no trials table."""
    try:
        trials = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a trials table ({error})") from None
    missing = sorted({"status", *metrics} - set(trials.columns))
    if missing:
        raise ValueError(f"{path}: not a trials table (no column {', '.join(missing)})")
    return trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsemod.report", description=__doc__)
    parser.add_argument("folder", type=Path, help="a search's results folder, {root}/{name}")
    args = parser.parse_args(argv)
    if not (args.folder / "trials.csv").exists() or not (args.folder / "experiment.json").exists():
        print(f"error: {args.folder} holds no search (trials.csv, experiment.json)", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    with importing_quietly():
        from sparsemod.optimizer.record import load_record
    quiet_ax(debug=False)

    try:
        optimization = load_record(args.folder / "experiment.json").experiment.optimization_config
        assert optimization is not None, "a sparsemod experiment has objectives"
        metrics = list(optimization.objective.metric_names)  # the active objectives, in order
        trials = read_trials(args.folder / "trials.csv", metrics)
    except ValueError as error:  # a SnapshotError too
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    feasible = trials["feasible"].fillna(False).astype(bool) if "feasible" in trials else \
        trials["status"] == "completed"
    usable = trials[(trials["status"] == "completed") & feasible]
    pareto = usable[pareto_mask(usable[metrics].to_numpy(dtype=float))]
    write_report(args.folder, trials, pareto, metrics)
    print(f"wrote {args.folder / 'pareto.png'} and {args.folder / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
