"""What a person looks at: ``pareto.png`` and ``report.html``, rewritten after every trial.

    python -m sparsemod.report {root}/{name}      # rebuild both from a results folder
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from sparsemod.report.html import write_html
from sparsemod.report.plot import plot_pareto


def write_report(folder: Path, trials: pd.DataFrame, pareto: pd.DataFrame,
                 objectives: Sequence[str]) -> None:
    plot_pareto(trials, pareto, objectives, folder / "pareto.png")
    write_html(folder, trials, pareto, objectives)


__all__ = ["plot_pareto", "write_html", "write_report"]
