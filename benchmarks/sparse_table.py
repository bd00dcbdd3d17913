"""SpArSe's MNIST result side by side: the most accurate network inside a RAM / flash budget.

SpArSe (Fedorov et al. 2019, Table 1) reports an MNIST network at 98.64 % test accuracy
with working memory <= 2 KB and about 2.8 KB of int8 weights, trained on the 60k set.
Here, on MNIST's 10k test file split 8k / 1k / 1k by the seed (``sparsemod.data.load_mnist``),
per budget and seed:

- sparsemod: the full search (``python main.py``: a feasible Sobol start, GP rounds, network
  morphism rounds) over ``examples/mcu.py``'s space, minimising the validation error
  (``objectives = 1``) under the budget as hard cost constraints (every candidate is costed
  exactly before it trains; none over budget trains); trials train with a cosine schedule
  on images shifted by up to ``--shift`` pixels.  MorphNet pruning and early stopping are
  off (the constraints hold the networks at the budget; the script asserts that no trained
  trial breaks it).  Then the pick — the lowest validation error among completed trials
  whose measured int8 model size and working memory fit — is retrained from scratch by the
  [TEST] mode (``python main.py test``) and measured on the 1k test part.  A pick whose
  validation accuracy is within 3 binomial standard deviations of chance (10 classes) is
  not a result: the row says none was found;
- hand-designed: a few fixed tiny CNNs inside the same budget (LeNet-like, with a strided or
  pooled first stage: a 28x28 int8 input alone is 784 B), each trained with the [TEST] recipe
  (same epochs, cosine schedule, shifts, lr 0.01, batch 32); the one with the best
  validation accuracy is reported;
- the peers a user would try (benchmarks/peers.py): ``optuna-gp`` (Optuna's GPSampler,
  constrained LogEI), ``optuna-tpe`` (its default TPESampler) with the budget as
  ``trial.set_constraint`` on the measured size and working memory, and ``ax-default`` (an
  Ax Client with Ax's own generation strategy and the budget as outcome constraints): the
  same space, trial count and trial recipe as sparsemod's search; their pick retrained and
  tested by the same [TEST] mode.  A peer cannot cost a network before training it, so it
  trains networks over the budget (counted in the row);
- SpArSe's published figure (trained on 60k, not measured here).

Runnable in parts: each (budget, method, seed) row is merged into
``benchmarks/results/sparse_table.json`` as it finishes (with the commit and command that
made it), and the table in docs/benchmarks.md is redrawn from every row there.

    python benchmarks/sparse_table.py [--budgets sparse 1kb tight] [--seeds 0 1 2]
        [--methods sparsemod hand-designed optuna-gp optuna-tpe ax-default] [--trials 30] [--epochs 8] [--test-epochs 30]
        [--shift 1] [--jobs 2] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from filelock import FileLock
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from docs_tables import commit, markers, write_between  # noqa: E402
from peers import Goal, not_installed, run_peer  # noqa: E402
from search_quality import rounds  # noqa: E402

from sparsemod.cli import main as sparsemod_main  # noqa: E402
from sparsemod.costs import Device  # noqa: E402
from sparsemod.data import load_mnist  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.store.results import atomic_write_text  # noqa: E402
from sparsemod.trial.checks import check_runs  # noqa: E402
from sparsemod.trial.job import TrialConfig, TrialJob, TrialResult, trial_seed  # noqa: E402
from sparsemod.trial.measure import measure  # noqa: E402
from sparsemod.trial.run import run_trial  # noqa: E402
from sparsemod.quantize import quantize  # noqa: E402
from sparsemod.trial.train import loader, train  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data" / "mnist"
OUT = REPO / "benchmarks" / "results" / "sparse_table.json"
DOCS = REPO / "docs" / "benchmarks.md"
BEGIN, END = markers("sparse_table", "sparse_table.py")
PUBLISHED = 98.64  # SpArSe, Table 1: MNIST, WM <= 2 KB, ~2.8 KB of weights, trained on 60k
BASELINE_LR, BASELINE_BATCH = 0.01, 32
CLASSES = 10


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def lenet(stem: str, c1: int, c2: int) -> nn.Module:
    """Two conv stages then a linear classifier; ``stem``: ``strided`` (5x5 stride-2 first
    conv) or ``pool`` (2x2 average pooling of the input, then a 3x3 conv)."""
    first = conv(1, c1, 5, 2) if stem == "strided" else [nn.AvgPool2d(2), *conv(1, c1, 3)]
    return nn.Sequential(*first, nn.MaxPool2d(2), *conv(c1, c2, 3), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(c2 * 3 * 3, CLASSES))


def gap_net(stem: str, c1: int, c2: int, c3: int) -> nn.Module:
    """Three conv stages, global average pooling, a linear classifier."""
    first = conv(1, c1, 5, 2) if stem == "strided" else [nn.AvgPool2d(2), *conv(1, c1, 3)]
    return nn.Sequential(*first, nn.MaxPool2d(2), *conv(c1, c2, 3), nn.MaxPool2d(2), *conv(c2, c3, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c3, CLASSES))


@dataclass(frozen=True)
class Budget:
    name: str  # on the command line
    label: str  # in the table
    working_memory: int  # bytes
    model_size: int  # bytes, int8 weights with their scales, zero points and biases
    designs: dict[str, Callable[[], nn.Module]]  # hand designs inside it (checked when measured)

    @property
    def key(self) -> str:
        """The row's ``budget`` in the JSON."""
        return f"wm<={self.working_memory},size<={self.model_size}"

    @property
    def constraints(self) -> str:
        return f"working_memory <= {self.working_memory}, model_size <= {self.model_size}"

    def holds(self, row: dict | pd.Series) -> bool:
        return row["working_memory"] <= self.working_memory and row["model_size"] <= self.model_size


BUDGETS = {b.name: b for b in (
    Budget("sparse", "WM ≤ 2 KB, size ≤ 2.8 KB (SpArSe)", 2048, 2867,
           {"LeNet strided 6-15": lambda: lenet("strided", 6, 15),
            "LeNet pooled 8-14": lambda: lenet("pool", 8, 14),
            "GAP strided 4-12-14": lambda: gap_net("strided", 4, 12, 14)}),
    Budget("1kb", "WM ≤ 1 KB, size ≤ 1 KB", 1024, 1024,
           {"LeNet pooled 4-5": lambda: lenet("pool", 4, 5),
            "LeNet pooled 3-6": lambda: lenet("pool", 3, 6),
            "GAP pooled 3-5-7": lambda: gap_net("pool", 3, 5, 7)}),
    # 768 B: about 512 B of int8 weights once each output channel's scale, zero point and
    # bias (12 B) are counted; the 784 B input leaves 240 B of working memory beside it
    Budget("tight", "WM ≤ 1 KB, size ≤ 768 B", 1024, 768,
           {"LeNet pooled 3-4": lambda: lenet("pool", 3, 4),
            "LeNet pooled 4-3": lambda: lenet("pool", 4, 3),
            "GAP pooled 3-4-6": lambda: gap_net("pool", 3, 4, 6)}),
)}


def chance_level(val_size: int) -> float:
    """Validation accuracy (%) a guess can reach: chance plus 3 binomial standard deviations."""
    p = 1 / CLASSES
    return 100 * (p + 3 * math.sqrt(p * (1 - p) / val_size))


def write_config(folder: Path, args, budget: Budget, seed: int) -> Path:
    sobol, gp, morph = rounds(args.trials)
    config = folder / "config.ini"
    config.write_text(f"""[DEFAULT]
train = true
[TRAIN]
r1 = {sobol}
r2 = {gp}
r3 = {morph}
batch_size = 2
epochs1 = {args.epochs}
epochs2 = {args.epochs}
epochs3 = {args.epochs}
objectives = 1
constraints = {budget.constraints}
flops = 1e9
quant_scheme = post
morphisms = true
pruning = false
splitter = false
example = mcu
dataset = mnist
data_dir = {args.data_dir}
seed = {seed}
name = search
root = {folder}
debug = false
schedule = cosine
augment_shift = {args.shift}
early_stopping = none
[TEST]
epochs = {args.test_epochs}
seed = {seed}
schedule = cosine
""")
    return config


def trained_outside(trials: pd.DataFrame, budget: Budget) -> pd.DataFrame:
    """Trials that trained (measured costs) and broke the budget: none may (pruning is off)."""
    measured = trials.dropna(subset=["model_size", "working_memory"])
    return measured[~measured.apply(budget.holds, axis=1)] if len(measured) else measured


def best_feasible_arm(trials: pd.DataFrame, budget: Budget) -> pd.Series | None:
    """The completed trial with the lowest validation error whose measured costs fit."""
    completed = trials[trials["status"] == "completed"]
    fits = completed[completed.apply(budget.holds, axis=1)] if len(completed) else completed
    return fits.loc[fits["error"].idxmin()] if len(fits) else None


def describe(params: dict) -> str:
    keys = ("stem", "blocks", "layers", "filters", "growth", "kernel", "conv_type", "downsample",
            "skip", "fc_layers", "fc_width")
    return ",".join(f"{k}={params[k]:.2g}" if isinstance(params[k], float) else f"{k}={params[k]}"
                    for k in keys if k in params)


def candidates_line(folder: Path) -> str:
    """time.txt's count of the candidates drawn and rejected before training, by phase."""
    lines = (folder / "time.txt").read_text().splitlines()
    return next((line.removeprefix("candidates: ") for line in lines if line.startswith("candidates: ")), "")


def search_and_retrain(budget: Budget, seed: int, args) -> dict:
    """One seed of sparsemod: search under the budget, retrain the pick, test it."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "search"
        config = write_config(Path(tmp), args, budget, seed)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert sparsemod_main(["--config", str(config)]) == 0
        seconds = time.perf_counter() - start
        trials = pd.read_csv(folder / "trials.csv")
        outside = trained_outside(trials, budget)
        assert outside.empty, f"trained over budget {budget.key}:\n{outside.to_string()}"
        best = best_feasible_arm(trials, budget)
        row = {"search_seconds": round(seconds, 1), "trials": len(trials),
               "completed_trials": int((trials["status"] == "completed").sum()),
               "candidates": candidates_line(folder)}
        return retrained(row, best, config, folder, args)


def retrained(row: dict, best: pd.Series | None, config: Path, folder: Path, args) -> dict:
    """``row`` with the search's pick retrained and tested by the [TEST] mode, or "none found"
    when nothing fit or the pick is at chance level on validation."""
    if best is None or 100 * (1 - best["error"]) <= chance_level(args.val_size):
        found = "none feasible" if best is None else f"chance level ({100 * (1 - best['error']):.1f} %)"
        return {**row, "network": f"none found: {found}", "test_accuracy": None,
                "model_size": None, "working_memory": None}
    with contextlib.redirect_stdout(io.StringIO()):
        assert sparsemod_main(["test", "--config", str(config), "--arm", str(best["arm"])]) == 0
    report = json.loads((folder / "test" / f"{best['arm']}.json").read_text())
    return {**row, "network": f"{best['arm']} {describe(report['params'])}",
            "search_val_accuracy": round(100 * (1 - best["error"]), 2),
            "val_accuracy": round(100 * (1 - report["val_error"]), 2),
            "test_accuracy": round(100 * (1 - report["test_error"]), 2),
            "model_size": report["model_size"], "working_memory": report["working_memory"]}


def hand_designed(budget: Budget, seed: int, args) -> dict:
    """Every design of the budget trained with the [TEST] recipe; the best on validation."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    data = load_mnist(args.data_dir, seed)
    config = TrialConfig("post", 8, Device(1e9), 1, False)
    rows = []
    for name, design in budget.designs.items():
        train_seed = trial_seed(seed, 0)
        torch.manual_seed(train_seed)
        model = design()
        example = check_runs(model, data.input_shape)
        train(model, data.train, {"lr": BASELINE_LR, "batch_size": BASELINE_BATCH}, args.test_epochs,
              train_seed, schedule="cosine", shift=args.shift)
        calibration = [x for x, _ in loader(data.train, 64, shuffle=True, seed=train_seed)][:8]
        metrics, extras = measure(model, quantize(model, "post", calibration, example), example, data, config)
        rows.append({"network": name, "val_accuracy": round(100 * (1 - metrics["error"]), 2),
                     "test_accuracy": round(100 * extras["test_accuracy"], 2),
                     "model_size": metrics["model_size"], "working_memory": metrics["working_memory"],
                     "search_seconds": None})
    for row in rows:
        assert budget.holds(row), f"hand design outside {budget.key}: {row}"
    return max(rows, key=lambda r: r["val_accuracy"])


def peer_search_and_retrain(method: str, budget: Budget, seed: int, args) -> dict:
    """One seed of a peer (benchmarks/peers.py): the same space, trial count and trial
    recipe as sparsemod's search, the budget as constraints on the *measured* size and
    working memory (a peer cannot cost a network before it trains); its pick retrained and
    tested by the same [TEST] mode."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "search"
        config = write_config(Path(tmp), args, budget, seed)
        problem = load_problem("mcu")
        data = problem.load_data("mnist", args.data_dir, seed)
        recipe = TrialConfig("post", 8, Device(1e9), 1, False, schedule="cosine", augment_shift=args.shift)

        def trial(index: int, params: dict, decide=None, report_epochs: tuple[int, ...] = ()) -> TrialResult:
            job = TrialJob(index, str(index), method, params, args.epochs, trial_seed(seed, index))
            return run_trial(job, problem, data, recipe, decide)

        start = time.perf_counter()
        goal = Goal(("error",), {"working_memory": budget.working_memory, "model_size": budget.model_size})
        trials = run_peer(method, problem.space, goal, sum(searched(args.trials)), seed, args.epochs, trial)
        seconds = time.perf_counter() - start
        over = len(trained_outside(trials, budget))
        best = best_feasible_arm(trials, budget)
        row = {"search_seconds": round(seconds, 1), "trials": len(trials),
               "completed_trials": int((trials["status"] == "completed").sum()),
               "candidates": f"{over} of {len(trials)} trained over budget"}
        if best is not None:  # the [TEST] mode reads models/{arm}/params.json
            params = {p.name: best[p.name] for p in problem.space}
            arm = folder / "models" / str(best["arm"])
            arm.mkdir(parents=True)
            (arm / "params.json").write_text(json.dumps({k: v.item() if hasattr(v, "item") else v
                                                         for k, v in params.items()}))
        return retrained(row, best, config, folder, args)


def searched(trials: int) -> tuple[int, int]:
    """sparsemod's trial count for ``--trials``: its Sobol trials and the 2 per round after."""
    sobol, gp, morph = rounds(trials)
    return sobol, 2 * (gp + morph)


METHODS: dict[str, Callable[[Budget, int, argparse.Namespace], dict]] = {
    "sparsemod": search_and_retrain, "hand-designed": hand_designed,
    **{peer: partial(peer_search_and_retrain, peer) for peer in ("optuna-gp", "optuna-tpe", "ax-default")}}


def run_job(method: str, budget_name: str, seed: int, args) -> dict:
    """One row, in a process of its own (by name: the budget's designs do not pickle)."""
    start, budget = time.perf_counter(), BUDGETS[budget_name]
    row = METHODS[method](budget, seed, args)
    return {"budget": budget.key, "method": method, "seed": seed, **row,
            "job_seconds": round(time.perf_counter() - start, 1)}


def provenance(argv: list[str]) -> dict:
    """The commit (``+changes`` when the code differs from it) and command a row came from."""
    return {"commit": commit(REPO, ("sparsemod", "examples", "benchmarks")),
            "command": shlex.join(["python", "benchmarks/sparse_table.py", *argv])}


def merge(out: Path, new: list[dict]) -> list[dict]:
    """Rows of ``out`` with ``new`` replacing those of the same (budget, method, seed)."""
    keys = {(r["budget"], r["method"], r["seed"]) for r in new}
    with FileLock(str(out) + ".lock"):
        old = json.loads(out.read_text()) if out.exists() else []
        rows = [r for r in old if (r["budget"], r["method"], r["seed"]) not in keys] + new
        order = [b.key for b in BUDGETS.values()]
        rows.sort(key=lambda r: (order.index(r["budget"]) if r["budget"] in order else len(order),
                                 r["budget"], r["method"] != "sparsemod", r["method"], r["seed"]))
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(rows, indent=1) + "\n")
    return rows


def span(values: list, fmt: Callable[[float], str]) -> str:
    """median [min, max] over the seeds that found a network."""
    found = [v for v in values if v is not None]
    if not found:
        return "–"
    return f"{fmt(statistics.median(found))} [{fmt(min(found))}, {fmt(max(found))}]"


def table(rows: list[dict]) -> str:
    """Per budget and method: median [min, max] over the seeds; then every row."""
    pct, num = (lambda v: f"{v:.2f}"), (lambda v: f"{v:.0f}")
    lines = ["| budget | method | test accuracy % | model size B | working memory B | search min "
             "| seeds with a network in budget |", "|---|---|---|---|---|---|---|"]
    for budget in BUDGETS.values():
        methods = dict.fromkeys(r["method"] for r in rows if r["budget"] == budget.key)
        for i, method in enumerate(methods):
            mine = [r for r in rows if r["budget"] == budget.key and r["method"] == method]
            found = sum(r["test_accuracy"] is not None for r in mine)
            minutes = [r["search_seconds"] / 60 if r["search_seconds"] is not None else None for r in mine]
            lines.append(f"| {budget.label if i == 0 else ''} | {method} | "
                         f"{span([r['test_accuracy'] for r in mine], pct)} | "
                         f"{span([r['model_size'] for r in mine], num)} | "
                         f"{span([r['working_memory'] for r in mine], num)} | "
                         f"{span(minutes, lambda v: f'{v:.1f}')} | {found}/{len(mine)} |")
        if methods and budget.name == "sparse":
            lines.append(f"| | SpArSe (published, trained on 60k) | {PUBLISHED:.2f} | ~2.8 KB | ≤ 2 KB | | |")
    lines += ["", "| budget | method | seed | test accuracy % | model size B | working memory B | network "
              "| candidates before training | commit |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        value = "none found" if r["test_accuracy"] is None else f"{r['test_accuracy']:.2f}"
        lines.append(f"| {r['budget']} | {r['method']} | {r['seed']} | {value} | {num(r['model_size']) if r['model_size'] else ''} | "
                     f"{num(r['working_memory']) if r['working_memory'] else ''} | {r['network']} | {r.get('candidates', '')} | "
                     f"`{r['commit']}` |")
    return "\n".join(lines)


def write_docs(docs: Path, rows: list[dict]) -> None:
    """Redraw the table between the markers of docs/benchmarks.md."""
    commands = "\n".join(f"- `{c}`" for c in dict.fromkeys(r["command"] for r in rows))
    write_between(docs, "sparse_table", "sparse_table.py",
                  f"{table(rows)}\n\nRows made by (the `commit` column names the code of each):\n\n{commands}")


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: seed 0, the SpArSe budget, 6 trials of 1 epoch, 1 retraining "
                             "epoch; prints, writes no JSON or docs")
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--trials", type=int, default=30, help="search trials per run")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per search trial")
    parser.add_argument("--test-epochs", type=int, default=30, help="[TEST] retraining epochs (and the baseline's)")
    parser.add_argument("--shift", type=int, default=1, help="augment_shift: random shifts in pixels")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one torch thread each)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON the rows merge into")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the Markdown file whose table is redrawn")
    args = parser.parse_args(argv)
    if not_installed(args.methods):
        parser.error(str(not_installed(args.methods)))
    if args.quick:
        args.seeds, args.trials, args.epochs, args.test_epochs, args.budgets = [0], 6, 1, 1, ["sparse"]
    args.val_size = len(load_mnist(args.data_dir, 0).val)
    sobol, gp, morph = rounds(args.trials)
    print(f"seeds {args.seeds} x budgets {args.budgets} x {args.methods}; sparsemod: {sobol} Sobol + {gp}x2 "
          f"GP + {morph}x2 morph trials of {args.epochs} epochs (cosine, shift {args.shift}), [TEST] retrain "
          f"{args.test_epochs} epochs; {args.jobs} jobs at a time", flush=True)
    start, made = time.perf_counter(), provenance(argv)
    jobs = [(method, name, seed) for name in args.budgets for seed in args.seeds for method in args.methods]
    rows = []
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_job, method, name, seed, args) for method, name, seed in jobs]
        for future in futures:
            row = {**future.result(), **made}
            rows.append(row)
            budget = next(b for b in BUDGETS.values() if b.key == row["budget"])
            if row["test_accuracy"] is not None:  # every reported network measured inside its budget
                assert budget.holds(row), f"outside the budget: {row}"
            print(f"{row['budget']} seed {row['seed']} {row['method']}: {row['network']}: test "
                  f"{row['test_accuracy']} %, model size {row['model_size']} B, working memory "
                  f"{row['working_memory']} B ({row['job_seconds'] / 60:.1f} min"
                  f"{', candidates: ' + row['candidates'] if row.get('candidates') else ''})", flush=True)
            if not args.quick:
                merge(args.out, [row])
    every = json.loads(args.out.read_text()) if not args.quick else rows
    if not args.quick:
        write_docs(args.docs, every)
    print("\n" + table(every))
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min")
    return rows


if __name__ == "__main__":
    main()
