"""Did the move of ``quant_scheme = post`` from torch.ao's FX flow to PT2E move the costs or
the accuracies of the default search?

The default search (``config.ini``, results in a temporary folder) runs once per label,
from this checkout or from another one (``--repo``: e.g. a worktree of the last FX commit);
each run's trials merge into ``benchmarks/results/quant_flow.json`` under its label, with
the commit.  The table in docs/benchmarks.md sets side by side the trials both runs trained
with the same parameters (the Sobol start and whatever the later phases share): the
costs' ratios after / before, the int8 validation and test accuracies' differences
(points), and each flow's int8 loss: int8 validation error − float validation error, points.

    git worktree add /tmp/fx 5f07f6e
    python benchmarks/quant_flow.py --label fx --repo /tmp/fx
    python benchmarks/quant_flow.py --label pt2e
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from docs_tables import commit, frame, write_between  # noqa: E402

from sparsemod.store.results import atomic_write_text  # noqa: E402

COSTS = ("model_size", "working_memory", "arena", "latency")
KEYS = ("status", "error", "test_accuracy", "float_error", *COSTS)
BEFORE, AFTER = "fx", "pt2e"


def run(repo: Path, label: str) -> list[dict]:
    """The default search of ``repo`` (its own config.ini), its trials as rows."""
    with tempfile.TemporaryDirectory() as folder:
        text = (repo / "config.ini").read_text()
        config = Path(folder) / "config.ini"
        config.write_text(text.replace("name = default", f"name = {label}").replace("root = results",
                                                                                   f"root = {folder}"))
        subprocess.run([sys.executable, "main.py", "--config", str(config)], cwd=repo, check=True)
        trials = pd.read_csv(Path(folder) / label / "trials.csv")
    first = list(trials.columns).index("operators") + 1
    names = list(trials.columns[first:list(trials.columns).index("error")])
    return [{"arm": row["arm"], "phase": row["phase"], "params": {n: row[n] for n in names},
             **{k: (None if pd.isna(row[k]) else row[k]) for k in KEYS}}
            for row in trials.to_dict("records")]


def paired(runs: dict) -> pd.DataFrame:
    """Trials completed in both runs with the same parameters, one row each."""
    after = {json.dumps(r["params"], sort_keys=True, default=str): r for r in runs[AFTER]["trials"]}
    rows = []
    for before in runs[BEFORE]["trials"]:
        other = after.get(json.dumps(before["params"], sort_keys=True, default=str))
        if other is None or before["status"] != "completed" or other["status"] != "completed":
            continue
        row = {"arm": before["arm"], "arm after": other["arm"], "phase": before["phase"]}
        for cost in COSTS:
            row[f"{cost} ratio"] = other[cost] / before[cost]
        for name in ("error", "test_accuracy", "float_error"):
            sign = -1 if name != "test_accuracy" else 1  # accuracy points, after − before
            row[f"{name.replace('error', 'accuracy')} Δ"] = 100 * sign * (other[name] - before[name])
        # what int8 costs in validation accuracy against the same float model, per flow
        row[f"int8 loss {BEFORE}"] = 100 * (before["error"] - before["float_error"])
        row[f"int8 loss {AFTER}"] = 100 * (other["error"] - other["float_error"])
        rows.append(row)
    return pd.DataFrame(rows)


def summary(runs: dict) -> str:
    table = paired(runs)
    head = (f"{BEFORE} at {runs[BEFORE]['commit']}, {AFTER} at {runs[AFTER]['commit']}; {len(table)} trials completed in "
            "both runs with the same parameters (the others differ because the GP and the morphisms "
            "read earlier results).\n\n")
    columns = [c for c in table.columns if c not in ("arm", "arm after", "phase")]
    stats = pd.DataFrame({"figure": columns,
                          "median": [f"{table[c].median() + 0.0:.4g}" for c in columns],
                          "min": [f"{table[c].min() + 0.0:.4g}" for c in columns],
                          "max": [f"{table[c].max() + 0.0:.4g}" for c in columns]})
    shown = table.copy()
    for column in columns:
        shown[column] = shown[column].map(lambda v: f"{v + 0.0:.4g}")  # + 0.0: no "-0"
    return head + frame(stats) + "\n\nPer trial:\n\n" + frame(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", choices=(BEFORE, AFTER), help="run the default search under this label")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose main.py runs")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "quant_flow.json")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    runs = json.loads(args.json.read_text()) if args.json.exists() else {}
    if args.label:
        code = commit(args.repo.resolve(), ("sparsemod", "main.py", "config.ini", "examples"))
        command = " ".join(["python", "benchmarks/quant_flow.py", *sys.argv[1:]])
        runs[args.label] = {"commit": code, "command": command, "trials": run(args.repo.resolve(), args.label)}
        atomic_write_text(args.json, json.dumps(runs, indent=1, default=str))
    if BEFORE in runs and AFTER in runs:
        write_between(args.docs, "quant_flow", "quant_flow.py", summary(runs))
        print(summary(runs))


if __name__ == "__main__":
    main()
