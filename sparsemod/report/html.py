"""``report.html``: one self-contained page (no network, no external script).

A summary of the search, an interactive Pareto plot (pick the two objectives; every trial
in grey, the front in red; hover a point for its arm and metrics, click it to find its row)
and a table of the Pareto arms with their parameters and learned structure.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from sparsemod.results import atomic_write_text

LABELS = {"error": ("error", 100, "%"), "model_size": ("model size", 1 / 1024, "KB"),
          "working_memory": ("working memory", 1 / 1024, "KB"), "latency": ("latency", 1000, "ms")}
STATUS_COLUMNS = {"index", "arm", "phase", "parent", "operators", "status", "reason", "epochs_trained", "train_seconds",
                  "total_seconds", "feasible"}

SCRIPT = """
const data = JSON.parse(document.getElementById('data').textContent);
const xs = document.getElementById('x'), ys = document.getElementById('y');
data.objectives.forEach((name, i) => {
  for (const select of [xs, ys]) {
    const option = document.createElement('option');
    option.value = name; option.textContent = data.labels[name][0] + ' (' + data.labels[name][2] + ')';
    select.appendChild(option);
  }
});
ys.selectedIndex = Math.min(1, data.objectives.length - 1);
function value(trial, name) { return trial[name] * data.labels[name][1]; }
function draw() {
  const svg = document.getElementById('plot'), W = 640, H = 420, M = 56;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const x = xs.value, y = ys.value, done = data.trials.filter(t => t.status === 'completed');
  const range = name => { const v = done.map(t => value(t, name));
    const lo = Math.min(...v), hi = Math.max(...v); return [lo, hi > lo ? hi : lo + 1]; };
  const [x0, x1] = range(x), [y0, y1] = range(y);
  const px = v => M + (v - x0) / (x1 - x0) * (W - 2 * M), py = v => H - M - (v - y0) / (y1 - y0) * (H - 2 * M);
  const ns = 'http://www.w3.org/2000/svg';
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text) e.textContent = text; svg.appendChild(e); return e; };
  add('line', {x1: M, y1: H - M, x2: W - M, y2: H - M, stroke: '#444'});
  add('line', {x1: M, y1: M, x2: M, y2: H - M, stroke: '#444'});
  for (let i = 0; i <= 4; i++) {
    const vx = x0 + i * (x1 - x0) / 4, vy = y0 + i * (y1 - y0) / 4;
    add('text', {x: px(vx), y: H - M + 18, 'text-anchor': 'middle', 'font-size': 11}, vx.toPrecision(3));
    add('text', {x: M - 6, y: py(vy) + 4, 'text-anchor': 'end', 'font-size': 11}, vy.toPrecision(3));
  }
  add('text', {x: W / 2, y: H - 12, 'text-anchor': 'middle'}, xs.options[xs.selectedIndex].text);
  add('text', {x: 16, y: H / 2, 'text-anchor': 'middle', transform: 'rotate(-90 16 ' + H / 2 + ')'},
      ys.options[ys.selectedIndex].text);
  const front = new Set(data.pareto);
  for (const t of done.sort((a, b) => front.has(a.arm) - front.has(b.arm))) {
    const dot = add('circle', {cx: px(value(t, x)), cy: py(value(t, y)), r: front.has(t.arm) ? 6 : 4,
      fill: front.has(t.arm) ? '#d62728' : '#aaa', class: front.has(t.arm) ? 'front' : 'trial'});
    const title = document.createElementNS(ns, 'title');
    title.textContent = 'arm ' + t.arm + ' (' + t.phase + ')\\n' + data.objectives.map(
      n => data.labels[n][0] + ': ' + value(t, n).toPrecision(4) + ' ' + data.labels[n][2]).join('\\n');
    dot.appendChild(title);
    dot.addEventListener('click', () => { const row = document.getElementById('arm-' + t.arm);
      if (row) { row.scrollIntoView(); row.classList.add('picked'); } });
  }
  document.body.dataset.rendered = done.length;
}
xs.addEventListener('change', draw); ys.addEventListener('change', draw); draw();
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f3f3f3; } tr.picked { background: #fde; } pre { margin: 0; font-size: 11px; }
svg { border: 1px solid #ddd; background: #fff; } .front { cursor: pointer; }
"""


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def write_html(folder: Path, trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str]) -> None:
    objectives = list(objectives)
    completed = trials[trials["status"] == "completed"]
    failed = int((trials["status"] == "failed").sum())
    stopped = f", {(trials['status'] == 'stopped').sum()} stopped early" if (trials["status"] == "stopped").any() else ""
    records = [{k: _clean(v) for k, v in row.items()} for row in trials.to_dict("records")]
    payload = {"objectives": objectives, "labels": {k: LABELS[k] for k in objectives},
               "trials": records, "pareto": [str(a) for a in pareto["arm"]]}
    best = []
    for name in objectives:
        label, scale, unit = LABELS[name]
        if len(completed):
            row = completed.loc[completed[name].astype(float).idxmin()]
            best.append(f"<li>lowest {label}: {row[name] * scale:.4g} {unit} (arm {html.escape(str(row['arm']))})</li>")
    parameter_columns = [c for c in trials.columns if c not in STATUS_COLUMNS
                         and c not in LABELS and c not in ("float_error", "test_accuracy", "flops",
                                                           "parameters", "measured_latency",
                                                           "working_memory_best_order",
                                                           "flops_before", "parameters_before")]
    rows = []
    for _, row in pareto.iterrows():
        arm = str(row["arm"])
        structure_file = folder / "models" / arm / "structure.json"
        structure = structure_file.read_text() if structure_file.exists() else "(not pruned)"
        params = {c: _clean(row[c]) for c in parameter_columns}
        metrics = "".join(f"<td>{row[n] * LABELS[n][1]:.4g} {LABELS[n][2]}</td>" for n in objectives)
        rows.append(f"<tr id='arm-{html.escape(arm)}'><td>{html.escape(arm)}</td><td>{html.escape(str(row['phase']))}</td>"
                    f"{metrics}<td>{100 * float(row.get('test_accuracy', float('nan'))):.2f} %</td>"
                    f"<td><pre>{html.escape(json.dumps(params, indent=1))}</pre></td>"
                    f"<td><pre>{html.escape(structure)}</pre></td></tr>")
    headers = "".join(f"<th>{LABELS[n][0]}</th>" for n in objectives)
    embedded = json.dumps(payload).replace("</", "<\\/")  # no "</script>" inside the data
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sparsemod: {html.escape(folder.name)}</title>
<style>{STYLE}</style></head>
<body>
<h1>sparsemod search <code>{html.escape(folder.name)}</code></h1>
<p>{len(trials)} trials: {len(completed)} completed, {failed} failed{stopped}; {len(pareto)} on the Pareto
front over {', '.join(LABELS[n][0] for n in objectives)} (all measured on the deployed, quantized model).</p>
<ul>{''.join(best)}</ul>
<h2>Pareto plot</h2>
<p>x <select id="x"></select> y <select id="y"></select> — grey: all completed trials, red: the
front. Hover a point for its metrics, click a red one to find its row.</p>
<svg id="plot" width="640" height="420" viewBox="0 0 640 420"></svg>
<h2>Pareto arms</h2>
<table><tr><th>arm</th><th>phase</th>{headers}<th>test accuracy</th><th>parameters</th><th>structure</th></tr>
{''.join(rows)}</table>
<script id="data" type="application/json">{embedded}</script>
<script>{SCRIPT}</script>
</body></html>
"""
    atomic_write_text(folder / "report.html", page)
