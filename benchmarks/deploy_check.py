"""The deploy path end to end on SpArSe's MNIST budget: a search, the [TEST] mode with
``export = tflite, executorch``, and each runtime's figures beside sparsemod's.

Runs ``main.py`` twice on a copy of ``examples/sparse_mnist.ini`` (data from ``--data-dir``,
results in ``--work``): the search, then ``test`` on the feasible arm of pareto.csv with
the lowest validation error.  The rows (one per runtime) go to
``benchmarks/results/deploy_check.json`` and the table into docs/benchmarks.md.  Needs the
deploy extra (``pip install -r requirements-deploy.txt``).

    python benchmarks/deploy_check.py --work /tmp/deploy_check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from docs_tables import commit, frame, write_between  # noqa: E402

from sparsemod.deploy.check import check_installed  # noqa: E402
from sparsemod.errors import ConfigError  # noqa: E402
from sparsemod.store.results import atomic_write_text  # noqa: E402


def config(work: Path, data_dir: Path) -> Path:
    """examples/sparse_mnist.ini with its data and results folders here, exporting to both."""
    lines = []
    for line in (REPO / "examples" / "sparse_mnist.ini").read_text().splitlines():
        key = line.split("=")[0].strip()
        lines.append({"data_dir": f"data_dir = {data_dir}", "root": f"root = {work / 'results'}"}.get(key, line))
    path = work / "sparse_mnist.ini"
    path.write_text("\n".join(lines) + "\nexport = tflite, executorch\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="a folder for the search's results")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "deploy_check.json")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    try:
        check_installed(["tflite", "executorch"], "benchmarks/deploy_check.py")
    except ConfigError as error:
        parser.error(str(error))
    args.work.mkdir(parents=True, exist_ok=True)
    path = config(args.work, args.data_dir.resolve())
    run = [sys.executable, str(REPO / "main.py"), "--config", str(path)]
    folder = args.work / "results" / "sparse_mnist"
    if not (folder / "pareto.csv").exists():
        subprocess.run(run, check=True)
    pareto = pd.read_csv(folder / "pareto.csv")
    arm = str(pareto[pareto["feasible"]].sort_values("error").iloc[0]["arm"])
    subprocess.run([*run[:2], "test", *run[2:], "--arm", arm], check=True)
    rows = []
    for suffix in (".tflite", ".pte"):
        check = json.loads((folder / "test" / f"{arm}{suffix}.json").read_text())
        rows.append({"arm": arm, **{k: v for k, v in check.items() if k != "file"}})
    code = commit(REPO, ("sparsemod", "benchmarks", "examples"))
    command = " ".join(["python", "benchmarks/deploy_check.py", *sys.argv[1:]])
    atomic_write_text(args.json, json.dumps({"rows": rows, "commit": code, "command": command}, indent=1))
    table = pd.DataFrame([{
        "runtime": r["runtime"], "arm": r["arm"],
        "test accuracy under the runtime": f"{100 * r['runtime_test_accuracy']:.2f} %",
        "sparsemod's int8": f"{100 * r['test_accuracy']:.2f} %",
        "difference": f"{r['accuracy_difference_points']:+.2f} points",
        "file": r["file_bytes"], "weight bytes": r["weight_bytes"] if r["weight_bytes"] is not None else "—",
        "model_size": int(r["model_size"]),
        "runtime memory": ", ".join(f"{k} {v}" for k, v in r["memory"].items()),
        "working_memory": int(r["working_memory"]),
    } for r in rows])
    write_between(args.docs, "deploy_check", "deploy_check.py",
                  frame(table) + f"\n\nMade by `{command}` at `{code}`.")


if __name__ == "__main__":
    main()
