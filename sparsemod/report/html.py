"""``report.html``: one page that needs no network (plotly's script is a file beside it).

A summary of the search (the lowest value of each objective among the Pareto arms), the
interactive plots of :mod:`sparsemod.report.figures` (Pareto plot per pair of objectives,
parallel coordinates, hypervolume over trials and CPU-seconds) and a table of the Pareto
arms: origin (a morph child's parent and operators), metrics in readable units, rounded
parameters and the layers by name with their widths.

plotly.js (~4.8 MB) is written once per results folder as ``plotly-{version}.min.js`` rather
than into the page, which is rewritten after every trial.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

import pandas as pd
import plotly
import torch
from plotly.offline import get_plotlyjs

from sparsemod.report.figures import parallel_figure, pareto_figure, progress_figure
from sparsemod.report.units import LABELS, LOG_SCALED, human, log_axis, named_layers, rounded, unit
from sparsemod.store.results import atomic_write_text

PLOTLY_JS = f"plotly-{plotly.__version__}.min.js"

STATUS_COLUMNS = {"index", "arm", "phase", "parent", "operators", "status", "reason", "epochs_trained", "train_seconds",
                  "total_seconds", "feasible"}

# After the Pareto plot is drawn: count the points drawn (the page-rendering test reads it) and
# make a click on a point scroll to its arm's row.
PARETO_READY = """
const plot = document.getElementById('{plot_id}');
document.body.dataset.rendered = plot.querySelectorAll('.scatterlayer .point').length;
plot.on('plotly_click', event => {
  const row = document.getElementById('arm-' + event.points[0].customdata);
  if (row) { row.scrollIntoView(); row.classList.add('picked'); }
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 6px; }
td { white-space: nowrap; vertical-align: top; }
th { background: #f3f3f3; } tr.picked { background: #fde; } .small { font-size: 11px; }
.note { font-weight: normal; font-size: 11px; color: #666; }
"""


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def best_arms(pareto: pd.DataFrame, objectives: Sequence[str]) -> dict[str, pd.Series]:
    """Per objective, the Pareto arm lowest in it, ties broken by the other objectives in
    order: a dominated arm never stands for "lowest" (an arm with equal error and a larger
    size is dominated by the smaller one)."""
    best = {}
    for name in objectives:
        order = [name, *(o for o in objectives if o != name)]
        if len(pareto):
            best[name] = pareto.sort_values(order, kind="stable").iloc[0]
    return best


def axes(completed: pd.DataFrame, objectives: Sequence[str]) -> dict[str, dict]:
    """Per objective: label, unit and multiplier for the largest value, and whether a log
    axis is possible (all values positive) and the default (they span over a decade)."""
    result = {}
    for name in objectives:
        values = [float(v) for v in completed[name]] if len(completed) else []
        scale, unit_name = unit(name, max(values, default=0.0))
        result[name] = {"label": LABELS[name], "scale": scale, "unit": unit_name,
                        "positive": name in LOG_SCALED and bool(values) and min(values) > 0,
                        "log": name in LOG_SCALED and log_axis(values)}
    return result


def origin(row: pd.Series) -> str:
    """How the arm came about: its phase, and for a morph child its parent and operators."""
    phase = html.escape(str(row["phase"]))
    parent = row.get("parent")
    if phase != "morph" or not isinstance(parent, str) or not parent:
        return phase
    operators = row.get("operators")
    moves = f": {html.escape(operators)}" if isinstance(operators, str) and operators else ""
    return f"morph of <a href='#arm-{html.escape(parent)}'>{html.escape(parent)}</a>{moves}"


def structure(model_dir: Path) -> str:
    """The arm's layers by name with their kernels and widths, read from its weights."""
    weights = model_dir / "model.pt"
    if not weights.exists():
        return "(no model file)"
    layers = named_layers(torch.load(weights, map_location="cpu", weights_only=True))
    pruned = "pruned by MorphNet<br>" if (model_dir / "structure.json").exists() else ""
    return pruned + "<br>".join(f"<span title='module {html.escape(path)}'>{html.escape(name)}</span>: "
                                f"{html.escape(shape)}" for name, path, shape in layers)


def plots(folder: Path, trials: pd.DataFrame, pareto: pd.DataFrame, objectives: list[str],
          parameters: list[str]) -> str:
    """The plots' HTML, with plotly.js written beside the page once."""
    completed = trials[trials["status"] == "completed"]
    if completed.empty:
        return "<p>No completed trial yet.</p>"
    bundle = folder / PLOTLY_JS
    if not bundle.exists():
        atomic_write_text(bundle, get_plotlyjs())
    front, scales = {str(a) for a in pareto["arm"]}, axes(completed, objectives)
    options = {"full_html": False, "include_plotlyjs": False, "config": {"displaylogo": False}}
    return (f"<h2>Pareto plot</h2><p>Grey: all completed trials, red: the front. Hover a point for its "
            f"metrics, click it to find its row; drag to zoom, double-click to zoom out.</p>"
            f"{pareto_figure(completed, front, objectives, scales).to_html(div_id='pareto', post_script=PARETO_READY, **options)}"
            f"<h2>Parameters and objectives</h2><p>One line per completed trial, the front in red; drag "
            f"along an axis to select a range.</p>"
            f"{parallel_figure(completed, front, parameters, objectives, scales).to_html(div_id='parallel', **options)}"
            f"<h2>Hypervolume</h2><p>Of the feasible completed trials, every objective divided by 1.1 "
            f"times its largest value among them.</p>"
            f"{progress_figure(trials, objectives).to_html(div_id='progress', **options)}")


def write_html(folder: Path, trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str]) -> None:
    objectives = list(objectives)
    completed = trials[trials["status"] == "completed"]
    failed = int((trials["status"] == "failed").sum())
    stopped = f", {(trials['status'] == 'stopped').sum()} stopped early" if (trials["status"] == "stopped").any() else ""
    best = [f"<li>lowest {LABELS[name]}: {human(name, float(row[name]))} (arm "
            f"<a href='#arm-{html.escape(str(row['arm']))}'>{html.escape(str(row['arm']))}</a>)</li>"
            for name, row in best_arms(pareto, objectives).items()]
    parameter_columns = [c for c in trials.columns if c not in STATUS_COLUMNS
                         and c not in LABELS and c not in ("float_error", "test_accuracy", "flops",
                                                           "parameters", "measured_latency",
                                                           "working_memory_best_order",
                                                           "flops_before", "parameters_before")]
    rows = []
    for _, row in pareto.iterrows():
        arm = str(row["arm"])
        params = "<br>".join(f"{html.escape(c)} = {html.escape(str(rounded(_clean(row[c]))))}"
                             for c in parameter_columns)
        metrics = "".join(f"<td>{human(n, float(row[n]))}</td>" for n in objectives)
        rows.append(f"<tr id='arm-{html.escape(arm)}'><td>{html.escape(arm)}</td><td>{origin(row)}</td>"
                    f"{metrics}<td>{100 * float(row.get('test_accuracy', float('nan'))):.2f} %</td>"
                    f"<td class='small'>{params}</td>"
                    f"<td class='small'>{structure(folder / 'models' / arm)}</td></tr>")
    headers = "".join(f"<th>{LABELS[n]}</th>" for n in objectives)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sparsemod: {html.escape(folder.name)}</title>
<script src="{PLOTLY_JS}"></script>
<style>{STYLE}</style></head>
<body>
<h1>sparsemod search <code>{html.escape(folder.name)}</code></h1>
<p>{len(trials)} trials: {len(completed)} completed, {failed} failed{stopped}; {len(pareto)} on the Pareto
front over {', '.join(LABELS[n] for n in objectives)} (all measured on the deployed, quantized model).</p>
<ul>{''.join(best)}</ul>
{plots(folder, trials, pareto, objectives, parameter_columns)}
<h2>Pareto arms</h2>
<table><tr><th>arm</th><th>origin</th>{headers}<th>test accuracy<br><span class="note">(test split:
reported, not used by the search)</span></th><th>parameters</th><th>structure</th></tr>
{''.join(rows)}</table>
</body></html>
"""
    atomic_write_text(folder / "report.html", page)
