"""Does the search beat random search and the peers a user would try, at equal compute?

Same trial function (examples/cnn.py space, int8 post-training quantization, fixed epochs),
same data (MNIST's 10k test file, seeded 8k / 1k / 1k split), same budget and objectives
(error, model size, working memory), for:

- sparsemod: Sobol, then GP rounds (qLogNEHVI), then network-morphism rounds — the loop of
  `python main.py` (a quarter of the budget Sobol, the rest split between GP and morphisms);
- sparsemod-es: the same loop with early stopping (`early_stopping = --rule`, `--grace`,
  `--eta`): trials that MO-ASHA stops count as trials of the budget; one run per rule given,
  labelled sparsemod-es-{rule} (sparsemod-es-moasha, sparsemod-es-moasha_front);
- random: Ax Sobol only (r1 = budget);
- the peers of benchmarks/peers.py, each through its own ask/tell API: optuna-tpe (Optuna's
  default sampler), optuna-gp (GPSampler), optuna-nsga2 (population 10), ax-default (an Ax
  Client with Ax's own generation strategy), syne-tune-moasha (MO-ASHA over epochs, `--grace`,
  `--eta`);
- `--start N`: sparsemod's Sobol start (default a quarter of the budget; the rest split alike
  between GP and morphism rounds) and optuna-gp's / optuna-tpe's `n_startup_trials` (Optuna's
  default 10), such runs labelled `{method}-start{N}` (sparsemod-ref-start4, optuna-gp-start4);
- sparsemod-ref and ax-default-ref: sparsemod and the Ax Client told the hypervolume's
  reference as objective thresholds, as Ax asks its users to (`model_size <= 65536,
  working_memory <= 65536` among the outcome constraints: Ax makes a constraint on an
  objective its threshold; sparsemod also never trains a network whose exact costs lie past
  one, since it cannot add to the hypervolume). Optuna's samplers take no reference point.

The (method, seed) runs are independent: `--jobs` of them run side by side, each in its own
process with one torch thread and one BLAS / OpenMP thread (every trial trains on one thread,
as in `python main.py`'s default).

Hypervolume: every objective divided by its reference (error 1.0, model size 64 KiB, working
memory 64 KiB), HV of the completed trials against (1, 1, 1), computed by BoTorch.

Compute axis: a run's CPU-seconds after its k-th finished trial are the summed
`total_seconds` of its first k trials (one torch thread each: CPU-seconds of training and
measuring) plus the optimizer's own seconds (sparsemod: `optimizer` in time.txt spread evenly
over the trials it generated: its asks' CPU seconds, which run beside training (wall seconds
in runs made before time.txt counted CPU); a peer: its ask and tell per trial, CPU seconds of
its process (wall seconds in runs made before `benchmarks/peers.py` counted CPU)).  Per method, the
median over seeds of (a) the CPU-seconds it needed to reach the final hypervolume of random
search on the same seed (null: never) and (b) its hypervolume at the CPU-seconds the cheapest
run of that seed spent in all.

Runnable in parts: every run's trials table is written to `--out` DIR/{method}_seed{seed}.csv
(default benchmarks/results/search_quality/) as soon as it finishes, with the commit and
command that made it; the summary JSON (`--json`, default benchmarks/results/search_quality.json)
and the table in docs/benchmarks.md are recomputed from every table in that folder.
`--from DIR` recomputes them without running anything (of every table there, or of the runs
`--methods` names by method or label: with `--json` and `--block`, a table of some runs only).

    python benchmarks/search_quality.py [--quick] [--trials 40] [--seeds 0 1 2] [--epochs 2] [--jobs 2]
        [--methods sparsemod sparsemod-es sparsemod-ref random optuna-tpe optuna-gp optuna-nsga2 ax-default
                   syne-tune-moasha ax-default-ref]
        [--out DIR] [--rule moasha [moasha_front]] [--grace 1] [--eta 3] [--start N]
    python benchmarks/search_quality.py --from DIR [--methods LABEL ...] [--block NAME --json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import re
import shlex
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from docs_tables import commit, write_between  # noqa: E402
from peers import PEERS, Goal, not_installed, run_peer  # noqa: E402
from sparsemod.cli import main as sparsemod_main  # noqa: E402
from sparsemod.costs import Device  # noqa: E402
from sparsemod.front.hypervolume import hypervolume  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.store.results import atomic_write, atomic_write_text  # noqa: E402
from sparsemod.trial.job import TrialConfig, TrialJob, TrialResult, trial_seed  # noqa: E402
from sparsemod.trial.run import run_trial  # noqa: E402

OBJECTIVES = ["error", "model_size", "working_memory"]
START = 10  # trials of a start phase (sparsemod's Sobol, Optuna's and Ax's random or Sobol start)
REFERENCE = np.array([1.0, 64 * 1024, 64 * 1024])
BUDGET_MEMORY, BUDGET_SIZE = 2048, 2867
ES = "sparsemod-es-"  # + the rule
REF = "-ref"  # a method told the reference as objective thresholds
START_LABEL = "-start"  # + the --start of a run (sparsemod's Sobol trials, Optuna's n_startup_trials)
THRESHOLDS = {"model_size": float(REFERENCE[1]), "working_memory": float(REFERENCE[2])}

EXAMPLE = '''
import sys
sys.path.insert(0, {examples!r})
from cnn import MORPHISMS, SPACE, build
from sparsemod.data import load_mnist
from torch.utils.data import Subset

LIMIT = {limit}

def load_data(dataset, data_dir, seed):
    data = load_mnist(data_dir, seed)
    if LIMIT is not None:
        data.train = Subset(data.train, range(LIMIT))
    return data
'''


def write_setup(folder: Path, args, seed: int, name: str, r1: int, r2: int, r3: int = 0,
                rule: str = "none", constraints: str = "") -> Path:
    """The example file and a config.ini for one run (``r3`` > 0: with morphism rounds;
    ``rule``: its early_stopping; ``constraints``: its outcome constraints)."""
    example = folder / "mnist_cnn.py"
    example.write_text(EXAMPLE.format(examples=str(REPO / "examples"), limit=args.limit))
    config = folder / f"{name}.ini"
    config.write_text(f"""[DEFAULT]
train = true
[TRAIN]
r1 = {r1}
r2 = {r2}
r3 = {r3}
batch_size = 2
epochs1 = {args.epochs}
epochs2 = {args.epochs}
epochs3 = {args.epochs}
objectives = 3
flops = 1e9
quant_scheme = post
morphisms = {"true" if r3 else "false"}
pruning = false
splitter = false
example = {example}
dataset = mnist
data_dir = {args.data_dir}
seed = {seed}
name = {name}
root = {folder}
debug = false
early_stopping = {rule}
grace_epochs = {args.grace}
reduction_factor = {args.eta}
constraints = {constraints}
[TEST]
name = {name}
root = {folder}
arm =
epochs = 1
pruning = false
splitter = false
quant_scheme = post
objectives = 3
""")
    return config


def run_ax(folder: Path, args, seed: int, name: str, r1: int, r2: int, r3: int = 0,
           rule: str = "none", constraints: str = "") -> pd.DataFrame:
    """A sparsemod run; its trials table, with each trial's share of the optimizer's time."""
    config = write_setup(folder, args, seed, name, r1, r2, r3, rule, constraints)
    with contextlib.redirect_stdout(io.StringIO()):
        assert sparsemod_main(["--config", str(config)]) == 0
    trials = pd.read_csv(folder / name / "trials.csv")
    times = dict(line.split(": ", 1) for line in (folder / name / "time.txt").read_text().splitlines())
    optimizer = float(times.get("optimizer", "0 s")[:-2])
    asked = trials["phase"] != "sobol"
    trials["optimizer_seconds"] = np.where(asked, optimizer / max(int(asked.sum()), 1), 0.0)
    return trials


def run_peer_method(folder: Path, args, seed: int, method: str) -> pd.DataFrame:
    """A peer of benchmarks/peers.py driving the trial function that sparsemod's runs use
    (``…-ref``: told the reference as objective thresholds)."""
    write_setup(folder, args, seed, method, 1, 0)
    problem = load_problem(folder / "mnist_cnn.py")
    data = problem.load_data("mnist", args.data_dir, seed)
    config = TrialConfig("post", 8, Device(1e9), 1, False)

    def trial(index: int, params: dict, decide=None, report_epochs: tuple[int, ...] = ()) -> TrialResult:
        job = TrialJob(index, str(index), method, params, args.epochs, trial_seed(seed, index),
                       report_epochs=report_epochs)
        return run_trial(job, problem, data, config, decide)

    goal = Goal(tuple(OBJECTIVES), THRESHOLDS if method.endswith(REF) else {})
    return run_peer(method.removesuffix(REF), problem.space, goal, args.trials, seed, args.epochs, trial,
                    args.grace, args.eta, args.start)


def front_hypervolume(trials: pd.DataFrame) -> float:
    """Hypervolume of the completed trials (stopped and failed ones are not networks)."""
    completed = trials[trials["status"] == "completed"]
    return hypervolume(completed[OBJECTIVES].to_numpy(dtype=float) / REFERENCE, np.ones(3))


def cpu_seconds(trials: pd.DataFrame) -> np.ndarray:
    """Cumulative CPU-seconds after each trial (rows in the order they finished)."""
    optimizer = trials["optimizer_seconds"] if "optimizer_seconds" in trials else 0.0
    return np.cumsum((trials["total_seconds"].fillna(0.0) + optimizer).to_numpy(dtype=float))


def seconds_to_reach(trials: pd.DataFrame, target: float) -> float:
    """CPU-seconds until the hypervolume first reaches ``target`` (inf: never)."""
    spent = cpu_seconds(trials)
    for k in range(1, len(trials) + 1):
        if front_hypervolume(trials.iloc[:k]) >= target - 1e-12:
            return float(spent[k - 1])
    return float("inf")


def hypervolume_within(trials: pd.DataFrame, budget: float) -> float:
    """Hypervolume of the trials finished within ``budget`` CPU-seconds."""
    return front_hypervolume(trials[cpu_seconds(trials) <= budget + 1e-9])


def score(trials: pd.DataFrame) -> tuple[float, float]:
    completed = trials[trials["status"] == "completed"]
    hv = front_hypervolume(trials)
    fits = completed[(completed["working_memory"] <= BUDGET_MEMORY) & (completed["model_size"] <= BUDGET_SIZE)]
    best = float(1 - fits["error"].min()) if len(fits) else float("nan")
    return hv, best


def rounds(trials: int, start: int | None = None) -> tuple[int, int, int]:
    """sparsemod's budget: (Sobol trials, GP rounds, morphism rounds) of 2 trials per round;
    the Sobol start is ``start`` trials, by default a quarter of the budget."""
    sobol = max(4, trials // 4) if start is None else start
    gp = (trials - sobol + 3) // 4
    return sobol, gp, (trials - sobol - 2 * gp) // 2


def startable(method: str) -> bool:
    """Whether ``--start`` sets the method's trials before its model (random, NSGA-II, Ax's own
    strategy and MO-ASHA have none to set)."""
    return method.startswith("sparsemod") or method in ("optuna-gp", "optuna-tpe")


def labelled(method: str, start: int | None) -> str:
    """A run's label: a method given another start than its default (sparsemod: a quarter of
    the budget; optuna-gp, optuna-tpe: Optuna's 10) is labelled with it
    (``sparsemod-ref-start6``), so both stay in one table."""
    return f"{method}{START_LABEL}{start}" if start is not None and startable(method) else method


def method_of(label: str) -> str:
    """The method of a run's label (without its start)."""
    return re.sub(rf"{START_LABEL}\d+$", "", label)


def run(method: str, seed: int, args, made: dict) -> Path:
    """One (method, seed) run in its own folder; its trials table, written to ``args.out``."""
    from sparsemod.optimizer import optimize_on_one_thread

    label = labelled(method, args.start)
    optimize_on_one_thread()  # Ax's GP fits too: the runs side by side share the cores
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if method in ("sparsemod", "sparsemod" + REF):
            constraints = ", ".join(f"{m} <= {b:g}" for m, b in THRESHOLDS.items()) if method.endswith(REF) else ""
            trials = run_ax(folder, args, seed, label, *rounds(args.trials, args.start), constraints=constraints)
        elif method.startswith(ES):
            trials = run_ax(folder, args, seed, label, *rounds(args.trials, args.start), rule=method.removeprefix(ES))
        elif method == "random":
            trials = run_ax(folder, args, seed, "random", args.trials, 0)
        else:
            trials = run_peer_method(folder, args, seed, method)
    trials["cpu_seconds"] = cpu_seconds(trials)
    trials["run_wall_seconds"] = time.perf_counter() - start
    for key, value in made.items():
        trials[key] = value
    path = args.out / f"{label}_seed{seed}.csv"
    atomic_write(path, lambda tmp: trials.to_csv(tmp, index=False))  # whole or absent for --from
    return path


def read_tables(folder: Path) -> dict[tuple[str, int], pd.DataFrame]:
    """The runs' trials tables in ``folder``, by (method, seed)."""
    tables = {}
    for path in sorted(folder.glob("*_seed*.csv")):
        match = re.fullmatch(r"(.+)_seed(\d+)\.csv", path.name)
        if match:
            tables[(match[1], int(match[2]))] = pd.read_csv(path)
    return tables


def run_row(method: str, seed: int, trials: pd.DataFrame) -> dict:
    """A run's row of the table, from its trials table."""
    hv, best = score(trials)
    wall = float(trials["run_wall_seconds"].iloc[0]) if "run_wall_seconds" in trials else np.nan
    made = {key: str(trials[key].iloc[0]) if key in trials else "" for key in ("commit", "command")}
    return {"method": method, "seed": seed, **made, "trials": len(trials), "hypervolume": hv,
            "best_acc_in_budget": best, "seconds": wall,
            "cpu_seconds": float(trials["cpu_seconds"].iloc[-1]),
            "stopped": int((trials["status"] == "stopped").sum()),
            "epochs": float(trials["epochs_trained"].sum()) if "epochs_trained" in trials else np.nan}


METHODS = ["sparsemod", "sparsemod-es", "sparsemod" + REF, "random", *PEERS, "ax-default" + REF]
OUT = REPO / "benchmarks" / "results" / "search_quality"
JSON = REPO / "benchmarks" / "results" / "search_quality.json"
DOCS = REPO / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="12 trials, seed 0, 1 epoch, 2k images, tables in a temporary folder; no JSON or docs")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="training images (default all 8k)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one thread each)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"the methods to run ({', '.join(METHODS)}; default all); with --from: the "
                             "runs to keep, by method or label such as sparsemod-ref-start4 (default every one)")
    parser.add_argument("--rule", nargs="+", default=["moasha"], choices=["moasha", "moasha_front"],
                        help="sparsemod-es: early_stopping (one run per rule and seed)")
    parser.add_argument("--grace", type=int, default=1, help="sparsemod-es and syne-tune-moasha: grace epochs")
    parser.add_argument("--eta", type=int, default=3, help="sparsemod-es and syne-tune-moasha: reduction factor")
    parser.add_argument("--start", type=int, default=None,
                        help="trials before the model: sparsemod's Sobol start (default: a quarter of the "
                             "budget), optuna-gp's and optuna-tpe's n_startup_trials (default 10); "
                             "these runs are labelled {method}-start{N}")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of every run's trials table")
    parser.add_argument("--json", type=Path, default=JSON, help="the summary JSON, from every table in --out")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the Markdown file whose table is redrawn")
    parser.add_argument("--block", default="search_quality",
                        help="the name of the table's markers in --docs (another name: a table of some runs only)")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="recompute the summary of the trials tables in this folder; run nothing")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    args = parser.parse_args(argv)
    labels = args.source is not None  # --from keeps runs by label
    for method in args.methods or []:
        if method_of(method) not in METHODS or (method != method_of(method) and not (labels and startable(method_of(method)))):
            parser.error(f"--methods: {method!r} is not one of {', '.join(METHODS)}"
                         + (" (or one of them labelled -start{N})" if labels else " (a start: --start N)"))
    missing = not_installed([method_of(m) for m in args.methods or []])
    if missing:
        parser.error(missing)
    if args.source is not None:
        tables = {(label, seed): table for (label, seed), table in read_tables(args.source).items()
                  if args.methods is None or label in args.methods
                  or (label.startswith(ES) and label == method_of(label) and "sparsemod-es" in args.methods)}
        if not tables:
            parser.error(f"--from: no {{method}}_seed{{seed}}.csv file in {args.source}")
        publish(tables, args)
        return
    if args.quick:
        args.trials, args.seeds, args.epochs, args.limit = 12, [0], 1, 2000
        args.out = Path(tempfile.mkdtemp(prefix="search_quality_"))
    args.methods = args.methods or METHODS
    if args.start is not None:
        if not 1 <= args.start < args.trials or (args.trials - args.start) % 2:
            parser.error(f"--start: 1 to {args.trials - 1} trials, leaving an even number of the "
                         f"{args.trials} for the rounds of 2 (got {args.start})")
        fixed = [m for m in args.methods if not startable(m)]
        if fixed:
            parser.error(f"--start: {', '.join(fixed)} take no start "
                         "(their runs would overwrite the default ones' tables); run them without it")
    args.out.mkdir(parents=True, exist_ok=True)
    # Spawned runs (and their trial workers) inherit these: one BLAS / OpenMP thread each,
    # so that side-by-side runs do not spin threads on each other's cores.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    sobol, gp, morph = rounds(args.trials, args.start)
    print(f"{args.trials} trials x seeds {args.seeds}, {args.epochs} epochs, "
          f"{args.limit or 8000} MNIST training images, {args.jobs} runs at a time; sparsemod = "
          f"{sobol} Sobol + {gp} GP + {morph} morphism rounds of 2; early stopping: grace {args.grace}, "
          f"eta {args.eta}; trials tables in {args.out}", flush=True)
    start = time.perf_counter()
    made = {"commit": commit(REPO, ("sparsemod", "examples", "benchmarks")),
            "command": shlex.join(["python", "benchmarks/search_quality.py", *argv])}
    methods = [label for method in args.methods
               for label in ([ES + rule for rule in args.rule] if method == "sparsemod-es" else [method])]
    runs = [(method, seed) for seed in args.seeds for method in methods]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run, method, seed, args, made): (method, seed) for method, seed in runs}
        for future in as_completed(futures):
            method, seed = futures[future]
            method = labelled(method, args.start)
            try:
                row = run_row(method, seed, pd.read_csv(future.result()))
            except Exception as error:  # one broken run must not lose the others' tables
                print(f"seed {seed} {method}: FAILED {type(error).__name__}: {error}", flush=True)
                continue
            print(f"seed {seed} {method:26s} HV {row['hypervolume']:.4f}  best accuracy in budget "
                  f"{100 * row['best_acc_in_budget']:.2f}%  ({row['trials']} trials, {row['stopped']} stopped, "
                  f"{row['seconds']:.0f} s)", flush=True)
    if args.quick:
        summarize(read_tables(args.out))
    else:
        publish(read_tables(args.out), args)
    print(f"wall time {time.perf_counter() - start:.0f} s")


def publish(tables: dict[tuple[str, int], pd.DataFrame], args) -> None:
    """Print the tables, write the summary JSON and redraw the docs table."""
    compute = summarize(tables)
    rows = [{"method": r["method"], "seed": int(r["seed"]), "hv_at_equal_cpu": r["hv_at_equal_budget"],
             "cpu_to_target": None if not np.isfinite(r["to_reach_random"]) else r["to_reach_random"],
             "final_hv": r["hypervolume"], "cpu_seconds": r["cpu_seconds"], "equal_cpu_seconds": r["equal_budget"],
             "trials": int(r["trials"]), "stopped": int(r["stopped"]), "wall_seconds": r["seconds"],
             "start_cpu_seconds": float(tables[(r["method"], int(r["seed"]))]["cpu_seconds"].iloc[:START].iloc[-1]),
             "commit": r["commit"], "command": r["command"]} for r in compute.to_dict("records")]
    summary = {"objectives": OBJECTIVES, "reference": REFERENCE.tolist(),
               "normalisation": "each objective divided by its reference; HV of the completed trials "
                                "against (1, 1, 1), computed by BoTorch",
               "equal_cpu": "the smallest total CPU-seconds among the seed's runs",
               "target": "random's final HV on the same seed", "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(summary, indent=1) + "\n")
    write_between(args.docs, args.block, "search_quality.py", docs_table(rows))


def docs_table(rows: list[dict]) -> str:
    """Per method: median [min, max] over seeds; then every run."""
    frame = pd.DataFrame(rows)

    def span(values: pd.Series, fmt) -> str:
        found = values.dropna()
        if found.empty:
            return "never"
        text = f"{fmt(found.median())} [{fmt(found.min())}, {fmt(found.max())}]"
        return text if len(found) == len(values) else f"{text} ({len(values) - len(found)} never)"

    hv, seconds = (lambda v: f"{v:.4f}"), (lambda v: f"{v:.0f}")
    order = sorted(frame["method"].unique(), key=lambda m: (-frame[frame["method"] == m]["hv_at_equal_cpu"].median(), m))
    lines = ["| method | HV at equal CPU-s | final HV | CPU-s to random's final HV | CPU-s | seeds |",
             "|---|---|---|---|---|---|"]
    for method in order:
        mine = frame[frame["method"] == method]
        lines.append(f"| {method} | {span(mine['hv_at_equal_cpu'], hv)} | {span(mine['final_hv'], hv)} | "
                     f"{span(mine['cpu_to_target'].astype(float), seconds)} | {span(mine['cpu_seconds'], seconds)} | "
                     f"{len(mine)} |")
    lines += ["", f"| method | seed | HV at equal CPU-s | equal CPU-s | final HV | CPU-s to random's final HV "
              f"| CPU-s | CPU-s of the first {START} trials | trials (stopped) | wall s | commit |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["seed"], r["method"])):
        target = "never" if r["cpu_to_target"] is None else f"{r['cpu_to_target']:.0f}"
        lines.append(f"| {r['method']} | {r['seed']} | {r['hv_at_equal_cpu']:.4f} | {r['equal_cpu_seconds']:.0f} | "
                     f"{r['final_hv']:.4f} | {target} | {r['cpu_seconds']:.0f} | {r['start_cpu_seconds']:.0f} | "
                     f"{r['trials']} ({r['stopped']}) | "
                     f"{r['wall_seconds']:.0f} | `{r['commit']}` |")
    commands = "\n".join(f"- `{c}`" for c in dict.fromkeys(r["command"] for r in rows))
    return "\n".join(lines) + f"\n\nRuns made by (the `commit` column names the code of each):\n\n{commands}"


def summarize(tables: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Print the tables of the runs' trials tables; the compute axis per run."""
    frame = pd.DataFrame([run_row(method, seed, trials) for (method, seed), trials in sorted(tables.items())])
    print("\nhypervolume per seed (reference point " f"{REFERENCE.tolist()}):")
    print(frame.pivot(index="seed", columns="method", values="hypervolume").to_string(float_format=lambda v: f"{v:.4f}"))
    print("\nbest accuracy within working memory <= 2 KB and model size <= 2.8 KB per seed:")
    print(frame.pivot(index="seed", columns="method", values="best_acc_in_budget").to_string(float_format=lambda v: f"{v:.4f}"))
    means = frame.groupby("method")[["hypervolume", "best_acc_in_budget", "seconds"]].mean()
    means["seeds_in_budget"] = frame.groupby("method")["best_acc_in_budget"].count()  # accuracy: mean over these
    print("\nmeans:")
    print(means.to_string(float_format=lambda v: f"{v:.4f}"))
    if "sparsemod" in means.index:
        for other in means.index.drop("sparsemod"):
            print(f"HV ratio sparsemod / {other} = {means.loc['sparsemod', 'hypervolume'] / means.loc[other, 'hypervolume']:.3f}")
    return print_compute(frame, tables)


def print_compute(frame: pd.DataFrame, tables: dict) -> pd.DataFrame:
    """The compute axis: CPU-seconds to reach random's final hypervolume, and hypervolume
    at equal CPU-seconds (the smallest total of the seed's runs), medians over seeds."""
    rows = []
    for seed, runs in frame.groupby("seed"):
        budget = runs["cpu_seconds"].min()
        target = runs.set_index("method")["hypervolume"].get("random")
        for run_ in runs.to_dict("records"):
            trials = tables[(run_["method"], seed)]
            rows.append({**run_, "cpu_seconds": trials["cpu_seconds"].iloc[-1],
                         "to_reach_random": seconds_to_reach(trials, target) if target is not None else np.nan,
                         "equal_budget": budget, "hv_at_equal_budget": hypervolume_within(trials, budget)})
    compute = pd.DataFrame(rows)
    shown = ["method", "seed", "trials", "stopped", "epochs", "cpu_seconds", "to_reach_random", "equal_budget",
             "hv_at_equal_budget"]
    print("\ncompute per run (CPU-seconds = trials' seconds + the optimizer's):")
    print(compute[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}" if v < 2 else f"{v:.0f}"))
    print("\nmedians over seeds:")
    print(compute.groupby("method")[["cpu_seconds", "to_reach_random", "hv_at_equal_budget"]].median()
          .to_string(float_format=lambda v: f"{v:.4f}" if v < 2 else f"{v:.0f}"))
    return compute


if __name__ == "__main__":
    main()
