"""``python -m sparsemod.report FOLDER``: rebuild pareto.png and report.html of a search."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from sparsemod.pareto import pareto_mask
from sparsemod.report import write_report
from sparsemod.snapshot import load_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsemod.report", description=__doc__)
    parser.add_argument("folder", type=Path, help="a search's results folder, {root}/{name}")
    args = parser.parse_args(argv)
    if not (args.folder / "trials.csv").exists() or not (args.folder / "experiment.json").exists():
        print(f"error: {args.folder} holds no search (trials.csv, experiment.json)", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    objective = load_client(args.folder / "experiment.json")._experiment.optimization_config.objective
    metrics = list(objective.metric_names)  # the active objectives, in order
    trials = pd.read_csv(args.folder / "trials.csv")
    feasible = trials["feasible"].fillna(False).astype(bool) if "feasible" in trials else \
        trials["status"] == "completed"
    usable = trials[(trials["status"] == "completed") & feasible]
    pareto = usable[pareto_mask(usable[metrics].to_numpy(dtype=float))]
    write_report(args.folder, trials, pareto, metrics)
    print(f"wrote {args.folder / 'pareto.png'} and {args.folder / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
