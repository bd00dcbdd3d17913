"""Where a search's seconds go: the optimizer's own cost, and its share of a real search.

Table 1 (``--part generate``): the CPU seconds per suggested trial of a GP round of 2 after
10, 20, 40 and 80 completed trials (and one running), for 2, 3 and 4 objectives, in the CNN
space of ``examples/cnn.py`` at 28x28 (one torch thread, so CPU seconds are wall seconds
on an idle machine, and stay honest on a busy one): sparsemod's proposer, i.e. the cost
bounds of the candidate pool, the GP of the error and the acquisition over the pool.  The
first round also costs the pool (in brackets); later rounds reuse those costs.  The errors
are synthetic, a smooth function of the network's parameter count plus seeded noise (no
training), so the GP sees the shapes a real search sees.

Table 2 (``--part share``): the overhead share 1 − (Σ trial seconds) / (search wall
seconds) of real searches on digits: the shipped ``config.ini`` (3 objectives) and the small
budget (r1 = 8, r2 = 4, batch_size = 2, 4 epochs, no morph rounds) with 3 and 4 objectives.
Run it on an otherwise idle machine: it measures wall time.

Table 4 (``--part exact``): seconds of one exact pre-training costing (the untrained int8
conversion that the proposer and the trial's own check make, :func:`check_quantizable`) of
``--archs`` Sobol points of the CNN space at 28x28, one thread, each architecture timed
side by side with the two steps this conversion leaves out: the activation observers'
histogram scale search (the deployed network's conversion keeps it) and torchao's
``move_exported_model_to_eval`` (a no-op on an eval-mode export that re-exports four pattern
graphs per call).

Table 3 (``--part kernel``): the shipped default search in a new environment, where BoTorch
must first build its fused qLogEHVI kernel (``TORCH_EXTENSIONS_DIR`` an empty folder), then
again with that folder filled: the overhead share of each.

    python benchmarks/overhead.py [--part generate|share|kernel|exact|all] [--after 10 20 40 80]
                                  [--objectives 2 3 4] [--repeats 2] [--archs 11]
"""

from __future__ import annotations

import argparse
import configparser
import logging
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import TensorDataset
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
DOCS = REPO / "docs" / "benchmarks.md"

from docs_tables import commit, frame, write_between  # noqa: E402

from sparsemod.config import OBJECTIVES, load_config  # noqa: E402
from sparsemod.costs import Device  # noqa: E402
from sparsemod.costs.oracle import CostOracle  # noqa: E402
from sparsemod.data import DataBundle  # noqa: E402
from sparsemod.logs import quiet_ax  # noqa: E402
from sparsemod.optimizer import optimize_on_one_thread  # noqa: E402
from sparsemod.optimizer.encoding import Encoding, SobolStream  # noqa: E402
from sparsemod.optimizer.proposer import Observed, Proposer  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402


def synthetic_metrics(params: dict, build, rng: random.Random) -> dict[str, float]:
    """Costs of the float network ``build`` makes (no training) and an error that falls
    with its capacity; deterministic given ``rng``."""
    model = build(params, (1, 28, 28), 10)
    size = float(sum(p.numel() for p in model.parameters()))
    activations, x = [], torch.zeros(1, 1, 28, 28)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for layer in model:  # build returns an nn.Sequential
            y = layer(x)
            activations.append(x.numel() + y.numel())
            x = y
    error = 0.02 + 0.5 / (1.0 + math.log1p(size) / 4) + 0.02 * rng.random()
    return {"error": error, "model_size": size, "working_memory": float(max(activations)),
            "latency": counter.get_total_flops() / 1e9}


def generation_seconds(objectives: int, after: int, seed: int) -> tuple[float, float]:
    """CPU seconds per suggested trial of a GP round of 2 (sparsemod's proposer: the pool's
    cost bounds, the GP of the error, the acquisition over the pool) once ``after`` trials
    have completed and one is running: (first round: the pool is costed, later rounds)."""
    settings = load_config(REPO / "config.ini").search
    problem = load_problem("cnn")
    zeros = TensorDataset(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long))
    data = DataBundle(zeros, zeros, zeros, (1, 28, 28), 10)
    proposer = Proposer(CostOracle(problem, data, settings.quant_scheme, Device(settings.flops)),
                        OBJECTIVES[:objectives], (), seed)
    rng = random.Random(seed)
    observed = Observed()
    for params in SobolStream(proposer.encoding, seed).draw(4 * after):
        if len(observed.params) == after + 1:
            break
        try:
            error = synthetic_metrics(params, problem.build, rng)["error"]
        except RuntimeError:  # too many downsamplings for 28x28: a failed trial
            continue
        observed.params.append(params)
        observed.error.append(error)
    observed.pending.append(observed.params.pop())
    observed.error.pop()
    seconds = []
    for _ in range(2):
        start = time.process_time()
        chosen = proposer.gp(2, observed, observed.params)
        seconds.append((time.process_time() - start) / len(chosen))
        observed.pending += chosen
    return seconds[0], seconds[1]


def generate_table(afters: list[int], objective_counts: list[int], repeats: int) -> pd.DataFrame:
    generation_seconds(2, 6, seed=99)  # warm-up: the first generation imports lazily
    rows = []
    for objectives in objective_counts:
        row: dict[str, object] = {"objectives": objectives}
        for after in afters:
            first, later = zip(*(generation_seconds(objectives, after, seed) for seed in range(repeats)))
            row[f"after {after}"] = f"{statistics.median(later):.2f} ({statistics.median(first):.2f})"
            print(f"  {objectives} objectives, after {after}: later rounds {later}, first {first}", flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


SEARCHES = {
    "shipped default": {},
    # as issue 14 measured it: every trial trains its 4 epochs
    "small budget": {"r1": "8", "r2": "4", "r3": "0", "batch_size": "2", "epochs1": "4",
                     "epochs2": "4", "morphisms": "false", "early_stopping": "none"},
}


def search_share(overrides: dict[str, str], objectives: int, folder: Path,
                 env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``main.py`` on the shipped config with ``overrides`` (and environment ``env``);
    read its wall seconds (time.txt) and the trials' own seconds (trials.csv)."""
    config = configparser.ConfigParser()
    config.read(REPO / "config.ini")
    config["TRAIN"].update({**overrides, "objectives": str(objectives), "root": str(folder),
                            "name": f"o{objectives}"})
    example = REPO / "examples" / "cnn.py"
    config["TRAIN"]["example"] = str(example)
    path = folder / f"o{objectives}.ini"
    with path.open("w") as handle:
        config.write(handle)
    subprocess.run([sys.executable, str(REPO / "main.py"), "--config", str(path)], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    times = dict(line.split(": ", 1) for line in (folder / f"o{objectives}" / "time.txt").read_text().splitlines())
    wall = float(times["search"].removesuffix(" s"))
    trials = pd.read_csv(folder / f"o{objectives}" / "trials.csv")["total_seconds"].sum()
    return {"wall s": round(wall, 1), "trials s": round(float(trials), 1),
            "overhead share": round(1 - trials / wall, 3)}


def share_table(searches: list[tuple[str, int]]) -> pd.DataFrame:
    rows = []
    for name, objectives in searches:
        with tempfile.TemporaryDirectory() as folder:
            row = {"search": name, "objectives": objectives,
                   **search_share(SEARCHES[name], objectives, Path(folder))}
        print(f"  {row}", flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


def kernel_table() -> pd.DataFrame:
    """The shipped default search with an empty extensions folder, then with it built."""
    rows = []
    with tempfile.TemporaryDirectory() as extensions:
        env = {**os.environ, "TORCH_EXTENSIONS_DIR": extensions}
        for state in ("empty (first run)", "built (second run)"):
            with tempfile.TemporaryDirectory() as folder:
                row = {"kernel cache": state, **search_share({}, 3, Path(folder), env)}
            print(f"  {row}", flush=True)
            rows.append(row)
    return pd.DataFrame(rows)


def exact_table(archs: int) -> pd.DataFrame:
    """Median [min, max] CPU seconds per architecture: the costs-only conversion, the deployed
    network's (histogram observers), and torchao's move to eval on a converted graph."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    from sparsemod.quantize import pt2e, quantize
    from sparsemod.quantize.annotate import MicroQuantizer
    from sparsemod.trial.checks import check_quantizable, check_runs

    def seconds(step) -> float:
        start = time.process_time()
        step()
        return time.process_time() - start

    problem = load_problem("cnn")
    columns: dict[str, list[float]] = {}
    for params in SobolStream(Encoding(problem.space), 0).draw(archs):
        torch.manual_seed(0)
        model = problem.build(dict(params), (1, 28, 28), 10)
        example = check_runs(model, (1, 28, 28))
        converted = pt2e.quantize(model, MicroQuantizer(), [example], example, batch=True)
        for name, step in (("costs only (the search's)", lambda: check_quantizable(model, example, "post")),
                           ("histogram observers (deployed)", lambda: quantize(model, "post", [example], example)),
                           ("torchao move_exported_model_to_eval", lambda: move_exported_model_to_eval(converted))):
            columns.setdefault(name, []).append(seconds(step))
    print("  " + "; ".join(f"{name}: {[round(v, 2) for v in values]}" for name, values in columns.items()), flush=True)
    return pd.DataFrame([{"architectures": archs, **{
        name: f"{statistics.median(v):.2f} [{min(v):.2f}, {max(v):.2f}]" for name, v in columns.items()}}])


def made() -> str:
    """The commit the figures come from, the machine's cores and its load when they were written."""
    return (f"commit {commit(REPO, ('sparsemod', 'benchmarks'))}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("generate", "share", "kernel", "exact", "all"), default="all")
    parser.add_argument("--after", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--objectives", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--repeats", type=int, default=1, help="seeds per cell (median)")
    parser.add_argument("--archs", type=int, default=11, help="Sobol points of the CNN space for --part exact")
    parser.add_argument("--docs", type=Path, default=None,
                        help=f"write each table between its markers in this file (e.g. {DOCS.relative_to(REPO)})")
    args = parser.parse_args()

    def show(name: str, title: str, table: pd.DataFrame) -> None:
        print(title)
        print(table.to_string(index=False))
        if args.docs is not None:
            command = f"python benchmarks/overhead.py {' '.join(sys.argv[1:])}"
            write_between(args.docs, f"overhead {name}", "overhead.py", f"{frame(table)}\n\n`{command}`, {made()}")

    optimize_on_one_thread()  # as the search's process does
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    quiet_ax(False)
    if args.part in ("generate", "all"):
        show("generate", "CPU seconds per suggested GP trial after N completed trials, later rounds (first round)"
             " (CNN space, synthetic errors):", generate_table(args.after, args.objectives, args.repeats))
    if args.part in ("share", "all"):
        show("share", "overhead share 1 - (sum of trial seconds) / (search wall seconds), digits:",
             share_table([("shipped default", 3), ("small budget", 3), ("small budget", 4)]))
    if args.part in ("kernel", "all"):
        show("kernel", "overhead share of the shipped default search, BoTorch's kernel cache empty, then built:",
             kernel_table())
    if args.part in ("exact", "all"):
        show("exact", "CPU seconds per architecture, median [min, max], of one untrained int8 conversion and "
             "of the steps the search's leaves out:", exact_table(args.archs))


if __name__ == "__main__":
    main()
