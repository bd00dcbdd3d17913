"""report.html's interactive plots, drawn by plotly (installed with Ax).

- the Pareto plot: every pair of objectives, all completed trials in grey, the front in red,
  hover for an arm's origin and metrics, click to find its row;
- parallel coordinates: every numeric parameter and objective, one line per completed trial,
  the front in red (plotly draws these lines with WebGL);
- the hypervolume of the feasible completed trials after each trial and over CPU-seconds
  (the trials' ``total_seconds``): where the search stopped gaining.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sparsemod.front.hypervolume import hypervolume
from sparsemod.report.units import LABELS, human

GREY, RED = "#aaaaaa", "#d62728"


def hover(row: pd.Series, objectives: Sequence[str]) -> str:
    parent = row.get("parent")
    origin = f"{row['phase']} of {parent}" if isinstance(parent, str) and parent else str(row["phase"])
    return f"arm {row['arm']} ({origin})<br>" + "<br>".join(
        f"{LABELS[n]}: {human(n, float(row[n]))}" for n in objectives)


def pareto_figure(completed: pd.DataFrame, front: set[str], objectives: Sequence[str],
                  axes: dict[str, dict]) -> go.Figure:
    """One panel per pair of objectives (one objective: it against the trial number); values in
    each axis's unit, log where it spans a decade."""
    if len(objectives) == 1:
        completed = completed.assign(trial=completed["index"])
        axes = {**axes, "trial": {"label": "trial", "scale": 1.0, "unit": "number", "log": False}}
        pairs = [("trial", objectives[0])]
    else:
        pairs = list(itertools.combinations(objectives, 2))
    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    figure = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.09, vertical_spacing=0.14)
    on_front = completed["arm"].astype(str).isin(front).to_numpy()
    texts = [hover(row, objectives) for _, row in completed.iterrows()]
    for k, (x, y) in enumerate(pairs):
        row, column = k // columns + 1, k % columns + 1
        for mask, color, size, name in ((~on_front, GREY, 7, "trials"), (on_front, RED, 10, "Pareto front")):
            figure.add_trace(go.Scatter(
                x=completed[x].to_numpy(dtype=float)[mask] * axes[x]["scale"],
                y=completed[y].to_numpy(dtype=float)[mask] * axes[y]["scale"],
                mode="markers", marker={"color": color, "size": size}, name=name, legendgroup=name,
                showlegend=k == 0, customdata=completed["arm"].astype(str).to_numpy()[mask],
                hovertext=[t for t, m in zip(texts, mask) if m], hoverinfo="text"), row=row, col=column)
        for axis, name in ((figure.update_xaxes, x), (figure.update_yaxes, y)):
            axis(title_text=f"{axes[name]['label']} ({axes[name]['unit']})", type="log" if axes[name]["log"] else "linear",
                 row=row, col=column)
    figure.update_layout(height=360 * rows, width=420 * columns, margin={"t": 30}, template="plotly_white")
    return figure


def parallel_figure(completed: pd.DataFrame, front: set[str], parameters: Sequence[str],
                    objectives: Sequence[str], axes: dict[str, dict]) -> go.Figure:
    """Parameters, then objectives; a choice parameter is an axis of its values' codes."""
    dimensions = []
    for name in parameters:
        values = completed[name]
        if values.isna().all() or values.nunique(dropna=True) < 2:
            continue  # a constant says nothing here
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            dimensions.append({"label": name, "values": values.to_numpy(dtype=float)})
        else:
            codes, labels = pd.factorize(values.astype(str), sort=True)
            dimensions.append({"label": name, "values": codes, "tickvals": list(range(len(labels))),
                               "ticktext": list(labels)})
    for name in objectives:
        dimensions.append({"label": f"{LABELS[name]} ({axes[name]['unit']})",
                           "values": completed[name].to_numpy(dtype=float) * axes[name]["scale"]})
    color = completed["arm"].astype(str).isin(front).astype(int).to_numpy()
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line={
        "color": color, "colorscale": [[0, GREY], [1, RED]], "cmin": 0, "cmax": 1}))
    figure.update_layout(height=420, width=max(640, 110 * len(dimensions)), margin={"l": 60, "r": 60})
    return figure


def hypervolume_over_time(trials: pd.DataFrame, objectives: Sequence[str]) -> pd.DataFrame:
    """After each finished trial: its number, the CPU-seconds spent so far and the hypervolume
    of the feasible completed trials, every objective divided by 1.1 × its largest value
    among all of them (one reference for the whole curve; the ideal is 1)."""
    usable = trials["status"].eq("completed").to_numpy()
    if "feasible" in trials:
        usable = usable & trials["feasible"].eq(True).to_numpy()
    values = trials[list(objectives)].to_numpy(dtype=float)
    reference = 1.1 * values[usable].max(axis=0) if usable.any() else np.ones(len(objectives))
    reference = np.where(reference > 0, reference, 1.0)
    scaled = values / reference
    volumes, volume = [], 0.0
    for k in range(len(trials)):
        if usable[k]:  # the front changes only with a feasible completed trial
            volume = hypervolume(scaled[:k + 1][usable[:k + 1]], np.ones(len(objectives)))
        volumes.append(volume)
    seconds = trials["total_seconds"].fillna(0.0).to_numpy(dtype=float).cumsum()
    return pd.DataFrame({"trials": np.arange(1, len(trials) + 1), "cpu_seconds": seconds, "hypervolume": volumes})


def progress_figure(trials: pd.DataFrame, objectives: Sequence[str]) -> go.Figure:
    curve = hypervolume_over_time(trials, objectives)
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    for column, x, title in ((1, "trials", "trials finished"), (2, "cpu_seconds", "CPU-seconds of the trials")):
        figure.add_trace(go.Scatter(x=curve[x], y=curve["hypervolume"], mode="lines+markers", line={"shape": "hv"},
                                    marker={"size": 4, "color": RED}, showlegend=False), row=1, col=column)
        figure.update_xaxes(title_text=title, row=1, col=column)
        figure.update_yaxes(title_text="hypervolume (ideal 1)", rangemode="tozero", row=1, col=column)
    figure.update_layout(height=320, width=840, margin={"t": 30}, template="plotly_white")
    return figure
