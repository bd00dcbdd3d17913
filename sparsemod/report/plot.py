"""``pareto.png``: pairwise projections of the trials over the active objectives.

All completed trials in grey, the Pareto set highlighted; axes in %, KB and ms.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sparsemod.progress import UNITS  # noqa: E402
from sparsemod.results import atomic_write  # noqa: E402

LABELS = {"error": "error (%)", "model_size": "model size (KB)",
          "working_memory": "working memory (KB)", "latency": "latency (ms)"}


def plot_pareto(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str], path: Path) -> None:
    completed = trials[trials["status"] == "completed"]
    pairs = list(itertools.combinations(objectives, 2)) or [("index", objectives[0])]
    figure, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 4), squeeze=False)
    for axis, (x, y) in zip(axes[0], pairs):
        def scaled(frame: pd.DataFrame, column: str) -> pd.Series:
            return frame[column].astype(float) * UNITS.get(column, (1, ""))[0]

        axis.scatter(scaled(completed, x), scaled(completed, y), c="0.7", s=18, label="trials")
        front = pareto.sort_values(x)
        axis.scatter(scaled(front, x), scaled(front, y), c="tab:red", s=30, label="Pareto set")
        axis.set_xlabel(LABELS.get(x, "trial"))
        axis.set_ylabel(LABELS.get(y, y))
        axis.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize="small")
    figure.suptitle(f"{len(completed)} completed trials, {len(pareto)} on the Pareto front")
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=90))
    plt.close(figure)
