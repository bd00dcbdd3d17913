"""``report.html``: one self-contained page (no network, no external script).

A summary of the search (the lowest value of each objective among the Pareto arms), an
interactive Pareto plot (pick the two objectives and log axes; every trial in grey, the front
in red; hover a point for its arm and metrics, click it to find its row) and a table of the
Pareto arms: origin (a morph child's parent and operators), metrics in readable units,
rounded parameters and the layers by name with their widths.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from sparsemod.report.units import LABELS, LOG_SCALED, human, log_axis, named_layers, rounded, unit
from sparsemod.store.results import atomic_write_text

STATUS_COLUMNS = {"index", "arm", "phase", "parent", "operators", "status", "reason", "epochs_trained", "train_seconds",
                  "total_seconds", "feasible"}

SCRIPT = """
const data = JSON.parse(document.getElementById('data').textContent);
const xs = document.getElementById('x'), ys = document.getElementById('y');
const logx = document.getElementById('logx'), logy = document.getElementById('logy');
data.objectives.forEach(name => {
  for (const select of [xs, ys]) {
    const option = document.createElement('option');
    option.value = name; option.textContent = data.axes[name].label + ' (' + data.axes[name].unit + ')';
    select.appendChild(option);
  }
});
ys.selectedIndex = Math.min(1, data.objectives.length - 1);
function value(trial, name) { return trial[name] * data.axes[name].scale; }
function format(v) {  // as units.number: 3 significant digits, no exponent below 10^6
  return Math.abs(v) >= 100 && Math.abs(v) < 1e6 ? v.toFixed(0) : String(+v.toPrecision(3));
}
function ticks(lo, hi, log) {  // round values: 1-2-5 per decade (log) or a 1-2-5 step (linear)
  const out = [];
  if (log) {
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
      for (const m of [1, 2, 5]) {
        const v = +(m * 10 ** e).toPrecision(6);
        if (v >= lo && v <= hi) out.push(v);
      }
    return out;
  }
  const raw = (hi - lo) / 5, p = 10 ** Math.floor(Math.log10(raw)), n = raw / p;
  const step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * p;
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
  return out;
}
function syncLog() {  // a log axis only for a positive metric; on by default past a decade
  for (const [select, box] of [[xs, logx], [ys, logy]]) {
    const axis = data.axes[select.value];
    box.disabled = !axis.positive; box.checked = axis.positive && axis.log;
  }
}
function draw() {
  const svg = document.getElementById('plot'), W = 640, H = 420, M = 64, PAD = 0.06;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const x = xs.value, y = ys.value, done = data.trials.filter(t => t.status === 'completed');
  const scale = (name, log) => {  // data -> [0, 1], padded so no point sits on an axis
    const f = log ? Math.log10 : (v => v), v = done.map(t => f(value(t, name)));
    let lo = Math.min(...v), hi = Math.max(...v);
    if (!(hi > lo)) { lo -= log ? 0.5 : Math.abs(lo) * 0.1 + 1; hi += log ? 0.5 : Math.abs(hi) * 0.1 + 1; }
    const pad = (hi - lo) * PAD; lo -= pad; hi += pad;
    const inv = log ? (u => 10 ** u) : (u => u);
    return {at: w => (f(w) - lo) / (hi - lo), lo: inv(lo), hi: inv(hi)};
  };
  const sx = scale(x, logx.checked), sy = scale(y, logy.checked);
  const px = v => M + sx.at(v) * (W - 2 * M), py = v => H - M - sy.at(v) * (H - 2 * M);
  const ns = 'http://www.w3.org/2000/svg';
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text) e.textContent = text; svg.appendChild(e); return e; };
  add('rect', {x: M, y: M, width: W - 2 * M, height: H - 2 * M, fill: 'none', stroke: '#444',
               'shape-rendering': 'crispEdges', class: 'frame'});
  for (const v of ticks(sx.lo, sx.hi, logx.checked)) {
    add('line', {x1: px(v), y1: H - M, x2: px(v), y2: H - M + 4, stroke: '#444'});
    add('text', {x: px(v), y: H - M + 17, 'text-anchor': 'middle', 'font-size': 11}, format(v));
  }
  for (const v of ticks(sy.lo, sy.hi, logy.checked)) {
    add('line', {x1: M - 4, y1: py(v), x2: M, y2: py(v), stroke: '#444'});
    add('text', {x: M - 7, y: py(v) + 4, 'text-anchor': 'end', 'font-size': 11}, format(v));
  }
  add('text', {x: W / 2, y: H - 18, 'text-anchor': 'middle'}, xs.options[xs.selectedIndex].text);
  add('text', {x: 16, y: H / 2, 'text-anchor': 'middle', transform: 'rotate(-90 16 ' + H / 2 + ')'},
      ys.options[ys.selectedIndex].text);
  const front = new Set(data.pareto);
  for (const t of done.sort((a, b) => front.has(a.arm) - front.has(b.arm))) {
    const dot = add('circle', {cx: px(value(t, x)), cy: py(value(t, y)), r: front.has(t.arm) ? 6 : 4,
      fill: front.has(t.arm) ? '#d62728' : '#aaa', class: front.has(t.arm) ? 'front' : 'trial'});
    const title = document.createElementNS(ns, 'title');
    title.textContent = 'arm ' + t.arm + ' (' + t.phase + (t.parent ? ' of ' + t.parent : '') + ')\\n' +
      data.objectives.map(n => data.axes[n].label + ': ' + t.shown[n]).join('\\n');
    dot.appendChild(title);
    dot.addEventListener('click', () => { const row = document.getElementById('arm-' + t.arm);
      if (row) { row.scrollIntoView(); row.classList.add('picked'); } });
  }
  document.body.dataset.rendered = done.length;
}
xs.addEventListener('change', () => { syncLog(); draw(); });
ys.addEventListener('change', () => { syncLog(); draw(); });
logx.addEventListener('change', draw); logy.addEventListener('change', draw);
syncLog(); draw();
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 6px; }
td { white-space: nowrap; vertical-align: top; }
th { background: #f3f3f3; } tr.picked { background: #fde; } .small { font-size: 11px; }
.note { font-weight: normal; font-size: 11px; color: #666; }
svg { border: 1px solid #ddd; background: #fff; } .front { cursor: pointer; }
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


def write_html(folder: Path, trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Sequence[str]) -> None:
    objectives = list(objectives)
    completed = trials[trials["status"] == "completed"]
    failed = int((trials["status"] == "failed").sum())
    stopped = f", {(trials['status'] == 'stopped').sum()} stopped early" if (trials["status"] == "stopped").any() else ""
    records = []
    for row in trials.to_dict("records"):
        record = {k: _clean(v) for k, v in row.items()}
        if row["status"] == "completed":
            record["shown"] = {n: human(n, float(row[n])) for n in objectives}
        records.append(record)
    payload = {"objectives": objectives, "axes": axes(completed, objectives),
               "trials": records, "pareto": [str(a) for a in pareto["arm"]]}
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
    embedded = json.dumps(payload).replace("</", "<\\/")  # no "</script>" inside the data
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sparsemod: {html.escape(folder.name)}</title>
<style>{STYLE}</style></head>
<body>
<h1>sparsemod search <code>{html.escape(folder.name)}</code></h1>
<p>{len(trials)} trials: {len(completed)} completed, {failed} failed{stopped}; {len(pareto)} on the Pareto
front over {', '.join(LABELS[n] for n in objectives)} (all measured on the deployed, quantized model).</p>
<ul>{''.join(best)}</ul>
<h2>Pareto plot</h2>
<p>x <select id="x"></select> <label><input type="checkbox" id="logx"> log</label>
&nbsp; y <select id="y"></select> <label><input type="checkbox" id="logy"> log</label>
— grey: all completed trials, red: the front. Hover a point for its metrics, click a red one
to find its row.</p>
<svg id="plot" width="640" height="420" viewBox="0 0 640 420"></svg>
<h2>Pareto arms</h2>
<table><tr><th>arm</th><th>origin</th>{headers}<th>test accuracy<br><span class="note">(test split:
reported, not used by the search)</span></th><th>parameters</th><th>structure</th></tr>
{''.join(rows)}</table>
<script id="data" type="application/json">{embedded}</script>
<script>{SCRIPT}</script>
</body></html>
"""
    atomic_write_text(folder / "report.html", page)
