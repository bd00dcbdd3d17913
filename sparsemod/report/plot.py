"""``pareto.png``: pairwise projections of the trials over the active objectives.

All completed trials in grey, the Pareto set highlighted.  Each axis shows its metric in the
unit that fits its largest value (B or KB, µs or ms), and on a log scale when the values
span more than a decade (a linear axis would squash the front into a corner).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from sparsemod.report.units import LABELS, LOG_SCALED, log_axis, number, unit  # noqa: E402
from sparsemod.store.results import atomic_write  # noqa: E402


def plot_pareto(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str], path: Path) -> None:
    figure = pareto_figure(trials, pareto, objectives)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=90))
    plt.close(figure)


def pareto_figure(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str]) -> Figure:
    """One panel per pair of objectives, three panels a row."""
    completed = trials[trials["status"] == "completed"]
    pairs = list(itertools.combinations(objectives, 2)) or [("index", objectives[0])]
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4 * rows), squeeze=False)
    for spare in axes.flat[len(pairs):]:
        spare.remove()
    units = {column: unit(column, completed[column].astype(float).max() if len(completed) else 0.0)
             for column in {c for pair in pairs for c in pair}}

    def scaled(frame: pd.DataFrame, column: str) -> pd.Series:
        return frame[column].astype(float) * units[column][0]

    for axis, (x, y) in zip(axes.flat, pairs):
        for column, set_label, set_scale, ticks in ((x, axis.set_xlabel, axis.set_xscale, axis.xaxis),
                                                    (y, axis.set_ylabel, axis.set_yscale, axis.yaxis)):
            set_label(f"{LABELS[column]} ({units[column][1]})" if column in LABELS else "trial")
            if column in LOG_SCALED and log_axis(completed[column].astype(float).tolist()):
                set_scale("log")
                ticks.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 1-2-5 per decade, plain numbers
                ticks.set_major_formatter(FuncFormatter(lambda value, _: number(value)))
                ticks.set_minor_formatter(NullFormatter())
        axis.scatter(scaled(completed, x), scaled(completed, y), c="0.7", s=18, label="trials")
        front = pareto.sort_values(x)
        axis.scatter(scaled(front, x), scaled(front, y), c="tab:red", s=30, label="Pareto set")
        axis.grid(alpha=0.3, which="both")
    axes.flat[0].legend(loc="best", fontsize="small")
    figure.suptitle(f"{len(completed)} completed trials, {len(pareto)} on the Pareto front")
    figure.tight_layout()
    return figure
