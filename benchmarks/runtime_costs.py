"""Do sparsemod's costs predict what TensorFlow Lite Micro allocates?

For random networks of ``examples/mcu.py`` on MNIST's 28×28 inputs (uniform draws of every
parameter, seeded), each network is built with its initial weights (no cost depends on the
weights' values) and measured twice:

- by sparsemod: ``model_size`` and ``working_memory`` of its int8 model (the search's own
  measurement, ``sparsemod.trial``);
- by the deploy path of ``[TEST] export = tflite``: the ``.tflite`` litert-torch writes,
  its constant tensors (``weight_bytes``), and the arena TFLM's own interpreter plans for it
  (``activations`` + ``runtime``), with TFLM's count of each op kind in the file;
- and sparsemod's prediction of that arena (the ``arena`` metric, :mod:`sparsemod.costs.arena`),
  made from its own int8 model without the converter.

Rows merge into ``benchmarks/results/runtime_costs.json`` by (seed, network), so a run can
be split in parts; the table in docs/benchmarks.md is redrawn from every row.  The per-op
bytes of TFLM's runtime in ``sparsemod.costs.arena`` are fitted to the rows of one seed
(``--fit 1`` prints them) and the table checks the prediction on the rows of the others.
Needs the deploy extra (``pip install -r requirements-deploy.txt``).

    python benchmarks/runtime_costs.py --networks 40 --seed 1   # the networks the bytes are fitted to
    python benchmarks/runtime_costs.py --fit 1
    python benchmarks/runtime_costs.py --networks 24 --seed 0   # held out
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from cost_fidelity import sample  # noqa: E402
from docs_tables import commit, frame, write_between  # noqa: E402

from sparsemod.costs import DEVICES, arena  # noqa: E402
from sparsemod.deploy.check import check_installed  # noqa: E402
from sparsemod.errors import ConfigError  # noqa: E402
from sparsemod.logs import quiet_converters  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.store.results import atomic_write_text  # noqa: E402
from sparsemod.trial.checks import check_runs  # noqa: E402
from sparsemod.trial.measure import cost_metrics  # noqa: E402
from sparsemod.quantize import quantize  # noqa: E402

INPUT, CLASSES = (1, 28, 28), 10
FIT_SEED = 1  # the networks sparsemod.costs.arena's per-op bytes are fitted to
SHOWN = ("stem", "blocks", "layers", "filters", "conv_type", "downsample", "skip", "fc_layers")


PER_CHANNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def graph_facts(path: Path) -> dict:
    """What the flatbuffer holds (TFLM's schema reader): how many ops of each kind, how many
    tensors, and the output channels of the ops quantized per channel."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    graph = model.Subgraphs(0)
    kinds = [names[codes[graph.Operators(i).OpcodeIndex()]] for i in range(graph.OperatorsLength())]
    channels = [int(graph.Tensors(graph.Operators(i).Outputs(0)).Shape(graph.Tensors(
        graph.Operators(i).Outputs(0)).ShapeLength() - 1)) for i, kind in enumerate(kinds) if kind in PER_CHANNEL_OPS]
    return {"ops": dict(collections.Counter(kinds)), "tensors": graph.TensorsLength(), "channels": channels}


def fit(rows: list[dict]) -> dict[str, int]:
    """Least-squares bytes per op kind (and the interpreter's base) of TFLM's runtime bytes,
    after what is known per tensor, for the graph's input and output and per channel:
    ``runtime - TENSOR·tensors - IO - Σ PER_CHANNEL(c) = BASE + Σ_ops OP_BYTES[kind]``.
    TRANSPOSE and RESHAPE come together here (a flatten): TRANSPOSE gets its node's
    ``NODE`` bytes alone (it has no options and no op data), RESHAPE the rest."""
    kinds = sorted({kind for r in rows for kind in r["ops"] if kind != "TRANSPOSE"})
    features = np.array([[r["ops"].get(k, 0) for k in kinds] + [1] for r in rows], dtype=float)
    known = np.array([arena.TENSOR * r["tensors"] + arena.IO + sum(arena.per_channel(c) for c in r["channels"])
                      for r in rows], dtype=float)
    found, *_ = np.linalg.lstsq(features, np.array([r["runtime"] for r in rows], dtype=float) - known, rcond=None)
    fitted = {kind: int(round(value)) for kind, value in zip(kinds + ["BASE"], found)}
    if "RESHAPE" in fitted:
        fitted["RESHAPE"] -= arena.NODE
        fitted["TRANSPOSE"] = arena.NODE
    return fitted


def measure(params: dict, seed: int, folder: Path) -> dict:
    from sparsemod.deploy import tflite

    torch.manual_seed(seed)
    model = load_problem("mcu").build(params, INPUT, CLASSES).eval()
    example = check_runs(model, INPUT)
    calibration = [torch.rand(16, *INPUT) for _ in range(2)]
    deployed = quantize(model, "post", calibration, example)
    costs, trace, _ = cost_metrics(model, deployed, example, DEVICES["cortex-m4"])
    predicted = arena.tflm_arena(deployed, trace)
    path = folder / "net.tflite"
    start = time.perf_counter()
    memory = tflite.convert(model, calibration, example, path)
    return {"params": {k: params[k] for k in SHOWN}, "model_size": costs["model_size"],
            "working_memory": costs["working_memory"], "weight_bytes": tflite.weight_bytes(path),
            "file_bytes": path.stat().st_size, **memory, **graph_facts(path),
            "predicted": {"arena": predicted["arena"], "activations": predicted["activations"],
                          "runtime": predicted["runtime"]},
            "convert_seconds": time.perf_counter() - start}


def summary(rows: list[dict]) -> str:
    def spread(values: list[float], digits: int = 3) -> str:
        return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"

    held_out = [r for r in rows if r["seed"] != FIT_SEED and "predicted" in r]
    error = [r["predicted"]["arena"] / r["arena"] - 1 for r in held_out]
    lines = [
        f"{len(rows)} networks (seeds {', '.join(map(str, sorted({r['seed'] for r in rows})))}); "
        "median [min, max]:", "",
        f"- TFLM weight bytes / model_size: {spread([r['weight_bytes'] / r['model_size'] for r in rows])}",
        f"- .tflite file bytes / model_size: {spread([r['file_bytes'] / r['model_size'] for r in rows])}",
        f"- TFLM activations / working_memory: {spread([r['activations'] / r['working_memory'] for r in rows])}",
        f"- TFLM's own bytes (arena − activations): {spread([r['runtime'] for r in rows], 0)}",
        f"- arena / working_memory: {spread([r['arena'] / r['working_memory'] for r in rows])}",
        f"- sparsemod's `arena` metric against TFLM's arena, the {len(held_out)} networks not of seed "
        f"{FIT_SEED} (the seed its per-op bytes are fitted to): predicted / TFLM "
        + (f"{spread([r['predicted']['arena'] / r['arena'] for r in held_out], 4)}; within 5 %: "
           f"{sum(abs(e) <= 0.05 for e in error)} of {len(error)}; within 1 %: "
           f"{sum(abs(e) <= 0.01 for e in error)}; activations exactly TFLM's: "
           f"{sum(r['predicted']['activations'] == r['activations'] for r in held_out)} of {len(held_out)}"
           if held_out else "(no held-out rows)"),
        "",
    ]
    table = [{
        "seed": r["seed"], "net": r["network"],
        "network": ", ".join(f"{k}={v}" for k, v in r["params"].items()),
        "model_size": int(r["model_size"]), "weight bytes": r["weight_bytes"], "file": r["file_bytes"],
        "working_memory": int(r["working_memory"]), "activations": r["activations"],
        "runtime": r["runtime"], "arena": r["arena"],
        "predicted arena": r["predicted"]["arena"] if "predicted" in r else "–",
        "PAD / TRANSPOSE ops": f"{r['ops'].get('PAD', 0)} / {r['ops'].get('TRANSPOSE', 0)}",
        "commit": f"`{r['commit']}`",
    } for r in sorted(rows, key=lambda r: (r["seed"], r["network"]))]
    import pandas as pd

    return "\n".join(lines) + frame(pd.DataFrame(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", type=int, metavar="SEED",
                        help="print the per-op runtime bytes fitted to the rows of SEED, measure nothing")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "runtime_costs.json")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    rows = json.loads(args.json.read_text())["rows"] if args.json.exists() else []
    if args.fit is not None:
        print("OP_BYTES and BASE for sparsemod/costs/arena.py:",
              fit([r for r in rows if r["seed"] == args.fit and "tensors" in r]))
        return
    try:
        check_installed(["tflite"], "benchmarks/runtime_costs.py")
    except ConfigError as error:
        parser.error(str(error))
    quiet_converters(debug=False)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    space = load_problem("mcu").space
    rng = np.random.default_rng(args.seed)
    code = commit(REPO, ("sparsemod", "benchmarks", "examples"))
    command = " ".join(["python", "benchmarks/runtime_costs.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as folder:
        for network in range(args.networks):
            params = sample(space, rng)
            row = {"seed": args.seed, "network": network, **measure(params, network, Path(folder)),
                   "commit": code, "command": command}
            print(f"seed {args.seed} net {network}: arena {row['arena']} predicted {row['predicted']['arena']}; "
                  f"activations {row['activations']} predicted {row['predicted']['activations']}; "
                  f"working_memory {row['working_memory']:.0f}; model_size {row['model_size']:.0f} "
                  f"weight bytes {row['weight_bytes']}", flush=True)
            rows = [r for r in rows if (r["seed"], r["network"]) != (args.seed, network)] + [row]
            atomic_write_text(args.json, json.dumps({"input": list(INPUT), "rows": rows}, indent=1))
    write_between(args.docs, "runtime_costs", "runtime_costs.py", summary(rows))


if __name__ == "__main__":
    main()
