"""Where a search's seconds go: the optimizer's own cost, and its share of a real search.

Table 1 (``--part generate``): the CPU seconds Ax needs to generate one GP trial after 10,
20, 40 and 80 completed trials (one torch thread, so CPU seconds are wall seconds on an idle
machine, and stay honest on a busy one), for 2, 3 and 4 objectives, in the CNN space of
``examples/cnn.py`` with synthetic metrics (no training).  The metrics come from the
network ``build`` makes for a 28x28 input: parameter count (size), the largest
input + output activation (working memory), FLOPs (latency) and a smooth error that falls
with capacity, plus seeded noise, so the GP sees the shapes a real search sees.

Table 2 (``--part share``): the overhead share 1 − (Σ trial seconds) / (search wall
seconds) of real searches on digits: the shipped ``config.ini`` (3 objectives) and the small
budget (r1 = 8, r2 = 4, batch_size = 2, 4 epochs, no morph rounds) with 3 and 4 objectives.
Run it on an otherwise idle machine: it measures wall time.

    python benchmarks/overhead.py [--part generate|share|both] [--after 10 20 40 80]
                                  [--objectives 2 3 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import configparser
import logging
import math
import random
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sparsemod.config import load_config  # noqa: E402
from sparsemod.optimizer import optimize_on_one_thread  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.search import make_client, quiet_ax  # noqa: E402


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


def generation_seconds(objectives: int, after: int, seed: int) -> float:
    """CPU seconds for one GP trial once ``after`` Sobol trials have completed."""
    settings = load_config(REPO / "config.ini").search
    settings = replace(settings, r1=after, objectives=objectives, seed=seed)
    problem = load_problem("cnn")
    client = make_client(settings, problem)
    rng = random.Random(seed)
    for index, params in client.get_next_trials(max_trials=after).items():
        try:
            client.complete_trial(index, raw_data=synthetic_metrics(params, problem.build, rng))
        except RuntimeError as error:  # too many downsamplings for 28x28: a failed trial
            client.mark_trial_failed(index, failed_reason=str(error))
    start = time.process_time()
    client.get_next_trials(max_trials=1)
    return time.process_time() - start


def generate_table(afters: list[int], objective_counts: list[int], repeats: int) -> pd.DataFrame:
    generation_seconds(2, 6, seed=99)  # warm-up: the first generation imports lazily
    rows = []
    for objectives in objective_counts:
        row = {"objectives": objectives}
        for after in afters:
            seconds = [generation_seconds(objectives, after, seed) for seed in range(repeats)]
            row[f"after {after}"] = round(sorted(seconds)[len(seconds) // 2], 2)
            print(f"  {objectives} objectives, after {after}: {seconds}", flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


SEARCHES = {
    "shipped default": {},
    # as issue 14 measured it: every trial trains its 4 epochs
    "small budget": {"r1": "8", "r2": "4", "r3": "0", "batch_size": "2", "epochs1": "4",
                     "epochs2": "4", "morphisms": "false", "early_stopping": "none"},
}


def search_share(overrides: dict[str, str], objectives: int, folder: Path) -> dict[str, float]:
    """Run ``main.py`` on the shipped config with ``overrides``; read its wall seconds
    (time.txt) and the trials' own seconds (trials.csv)."""
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
                   stdout=subprocess.DEVNULL)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("generate", "share", "both"), default="both")
    parser.add_argument("--after", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--objectives", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--repeats", type=int, default=1, help="seeds per cell (median)")
    args = parser.parse_args()
    optimize_on_one_thread()  # as the search's process does
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    quiet_ax(False)
    if args.part in ("generate", "both"):
        print("CPU seconds to generate one GP trial after N completed trials (CNN space, synthetic metrics):")
        print(generate_table(args.after, args.objectives, args.repeats).to_string(index=False))
    if args.part in ("share", "both"):
        print("overhead share 1 - (sum of trial seconds) / (search wall seconds), digits:")
        print(share_table([("shipped default", 3), ("small budget", 3), ("small budget", 4)]).to_string(index=False))


if __name__ == "__main__":
    main()
