"""Does the search beat random search and Optuna on the same budget?

Same trial function (examples/cnn.py space, int8 post-training quantization, fixed epochs),
same data (MNIST's 10k test file, seeded 8k / 1k / 1k split), same budget and objectives
(error, model size, working memory), for:

- sparsemod: Sobol, then GP rounds (qLogNEHVI), then network-morphism rounds — the loop of
  `python main.py` (a quarter of the budget Sobol, the rest split between GP and morphisms);
- sparsemod-es: the same loop with early stopping (`early_stopping = --rule`, `--grace`,
  `--eta`): trials that MO-ASHA stops count as trials of the budget; one run per rule given,
  labelled sparsemod-es-{rule} (sparsemod-es-moasha, sparsemod-es-moasha_front);
- random: Ax Sobol only (r1 = budget);
- Optuna: NSGA-II (population 10) driving the same trial function.

The (method, seed) runs are independent: `--jobs` of them run side by side, each in its own
process with one torch thread and one BLAS / OpenMP thread (every trial trains on one thread
in the run's worker process, as in `python main.py`'s default); `--jobs 9` runs the 9 runs of
3 methods x 3 seeds at once on a machine with 16 cores or more.

Prints, per method and seed, the hypervolume against one common reference point (every
objective divided by its reference: error 1.0, model size 64 KiB, working memory 64 KiB;
HV computed by BoTorch), the ratios sparsemod / random and sparsemod / Optuna, and the best
accuracy under SpArSe's MNIST budget (working memory <= 2 KB, model size <= 2.8 KB).

Compute axis: a run's CPU-seconds after its k-th finished trial are the summed
`total_seconds` of its first k trials (one torch thread each: CPU-seconds of training and
measuring) plus the optimizer's own seconds (`optimizer` in time.txt) spread evenly over the
trials it generated (GP and morph; Sobol and Optuna's sampler cost ~0).  Per method, the
median over seeds of (a) the CPU-seconds it needed to reach the final hypervolume of random
search on the same seed (inf: never) and (b) its hypervolume at the CPU-seconds the cheapest
run of that seed spent in all.

Every run's trials table (with its `cpu_seconds` and `run_wall_seconds` columns) is written to
`--out` DIR/{method}_seed{seed}.csv as soon as that run finishes, and the final tables are
computed from those files; `--from DIR` prints them for a folder of such files (a partial run,
or one made on another machine) without running anything.

    python benchmarks/search_quality.py [--quick] [--trials 40] [--seeds 3] [--epochs 2] [--jobs 2]
                                        [--methods sparsemod sparsemod-es random optuna] [--out DIR]
                                        [--rule moasha [moasha_front]] [--grace 1] [--eta 3]
    python benchmarks/search_quality.py --from DIR
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import re
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

from sparsemod.cli import main as sparsemod_main  # noqa: E402
from sparsemod.costs import Device  # noqa: E402
from sparsemod.front.hypervolume import hypervolume  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.space import Choice, Float, Int  # noqa: E402
from sparsemod.store.results import atomic_write  # noqa: E402
from sparsemod.trial.job import TrialConfig, TrialJob, trial_seed  # noqa: E402
from sparsemod.trial.run import run_trial  # noqa: E402

OBJECTIVES = ["error", "model_size", "working_memory"]
REFERENCE = np.array([1.0, 64 * 1024, 64 * 1024])
BUDGET_MEMORY, BUDGET_SIZE = 2048, 2867
ES = "sparsemod-es-"  # + the rule

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
                rule: str = "none") -> Path:
    """The example file and a config.ini for one run (``r3`` > 0: with morphism rounds;
    ``rule``: its early_stopping)."""
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
           rule: str = "none") -> pd.DataFrame:
    """A sparsemod run; its trials table, with each trial's share of the optimizer's time."""
    config = write_setup(folder, args, seed, name, r1, r2, r3, rule)
    with contextlib.redirect_stdout(io.StringIO()):
        assert sparsemod_main(["--config", str(config)]) == 0
    trials = pd.read_csv(folder / name / "trials.csv")
    times = dict(line.split(": ", 1) for line in (folder / name / "time.txt").read_text().splitlines())
    optimizer = float(times.get("optimizer", "0 s")[:-2])
    asked = trials["phase"] != "sobol"
    trials["optimizer_seconds"] = np.where(asked, optimizer / max(int(asked.sum()), 1), 0.0)
    return trials


def run_optuna(folder: Path, args, seed: int) -> pd.DataFrame:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    write_setup(folder, args, seed, "optuna", 1, 0)
    problem = load_problem(folder / "mnist_cnn.py")
    data = problem.load_data("mnist", args.data_dir, seed)
    config = TrialConfig("post", 8, Device(1e9), 1, False)
    rows = []

    def objective(trial: optuna.Trial):
        params = {}
        for p in problem.space:
            if isinstance(p, Int):
                params[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
            elif isinstance(p, Float):
                params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
            elif isinstance(p, Choice):
                params[p.name] = trial.suggest_categorical(p.name, list(p.values))
        job = TrialJob(trial.number, str(trial.number), "nsga2", params, args.epochs,
                       trial_seed(seed, trial.number))
        result = run_trial(job, problem, data, config)
        rows.append({"index": trial.number, **params, **result.metrics, **result.extras,
                     "status": result.status, "total_seconds": result.total_seconds})
        if result.status != "completed":
            raise optuna.TrialPruned(result.reason)
        return tuple(result.metrics[m] for m in OBJECTIVES)

    sampler = optuna.samplers.NSGAIISampler(population_size=10, seed=seed)
    study = optuna.create_study(directions=["minimize"] * 3, sampler=sampler)
    study.optimize(objective, n_trials=args.trials)
    return pd.DataFrame(rows)


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


def rounds(trials: int) -> tuple[int, int, int]:
    """sparsemod's budget: (Sobol trials, GP rounds, morphism rounds) of 2 trials per round."""
    sobol = max(4, trials // 4)
    gp = (trials - sobol + 3) // 4
    return sobol, gp, (trials - sobol - 2 * gp) // 2


def run(method: str, seed: int, args) -> Path:
    """One (method, seed) run in its own folder; its trials table, written to ``args.out``."""
    from sparsemod.optimizer import optimize_on_one_thread

    optimize_on_one_thread()  # Ax's GP fits too: the runs side by side share the cores
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if method == "sparsemod":
            trials = run_ax(folder, args, seed, "sparsemod", *rounds(args.trials))
        elif method.startswith(ES):
            trials = run_ax(folder, args, seed, method, *rounds(args.trials), rule=method.removeprefix(ES))
        elif method == "random":
            trials = run_ax(folder, args, seed, "random", args.trials, 0)
        else:
            trials = run_optuna(folder, args, seed)
    trials["cpu_seconds"] = cpu_seconds(trials)
    trials["run_wall_seconds"] = time.perf_counter() - start
    path = args.out / f"{method}_seed{seed}.csv"
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
    return {"method": method, "seed": seed, "trials": len(trials), "hypervolume": hv,
            "best_acc_in_budget": best, "seconds": wall,
            "cpu_seconds": float(trials["cpu_seconds"].iloc[-1]),
            "stopped": int((trials["status"] == "stopped").sum()),
            "epochs": float(trials["epochs_trained"].sum()) if "epochs_trained" in trials else np.nan}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="12 trials, 1 seed, 1 epoch, 2k images")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="training images (default all 8k)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one thread each)")
    parser.add_argument("--methods", nargs="+", default=["sparsemod", "sparsemod-es", "random", "optuna"],
                        choices=["sparsemod", "sparsemod-es", "random", "optuna"], help="the methods to run")
    parser.add_argument("--rule", nargs="+", default=["moasha"], choices=["moasha", "moasha_front"],
                        help="sparsemod-es: early_stopping (one run per rule and seed)")
    parser.add_argument("--grace", type=int, default=1, help="sparsemod-es: grace_epochs")
    parser.add_argument("--eta", type=int, default=3, help="sparsemod-es: reduction_factor")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for every run's trials table (default: a new temporary folder)")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="print the tables of the trials tables in this folder; run nothing")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    if args.source is not None:
        tables = read_tables(args.source)
        if not tables:
            parser.error(f"--from: no {{method}}_seed{{seed}}.csv file in {args.source}")
        summarize(tables)
        return
    if args.quick:
        args.trials, args.seeds, args.epochs, args.limit = 12, 1, 1, 2000
    args.out = args.out or Path(tempfile.mkdtemp(prefix="search_quality_"))
    args.out.mkdir(parents=True, exist_ok=True)
    # Spawned runs (and their trial workers) inherit these: one BLAS / OpenMP thread each,
    # so that side-by-side runs do not spin threads on each other's cores.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    sobol, gp, morph = rounds(args.trials)
    print(f"{args.trials} trials x {args.seeds} seeds, {args.epochs} epochs, "
          f"{args.limit or 8000} MNIST training images, {args.jobs} runs at a time; sparsemod = "
          f"{sobol} Sobol + {gp} GP + {morph} morphism rounds of 2; sparsemod-es: {' '.join(args.rule)}, "
          f"grace {args.grace}, eta {args.eta}; trials tables in {args.out}", flush=True)
    start = time.perf_counter()
    methods = [label for method in args.methods
               for label in ([ES + rule for rule in args.rule] if method == "sparsemod-es" else [method])]
    runs = [(method, seed) for seed in range(args.seeds) for method in methods]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run, method, seed, args): (method, seed) for method, seed in runs}
        for future in as_completed(futures):
            method, seed = futures[future]
            try:
                row = run_row(method, seed, pd.read_csv(future.result()))
            except Exception as error:  # one broken run must not lose the others' tables
                print(f"seed {seed} {method}: FAILED {type(error).__name__}: {error}", flush=True)
                continue
            print(f"seed {seed} {method:26s} HV {row['hypervolume']:.4f}  best accuracy in budget "
                  f"{100 * row['best_acc_in_budget']:.2f}%  ({row['trials']} trials, {row['stopped']} stopped, "
                  f"{row['seconds']:.0f} s)", flush=True)
    summarize(read_tables(args.out))
    print(f"wall time {time.perf_counter() - start:.0f} s")


def summarize(tables: dict[tuple[str, int], pd.DataFrame]) -> None:
    """The tables of the runs' trials tables: hypervolume, accuracy in budget, compute axis."""
    frame = pd.DataFrame([run_row(method, seed, trials) for (method, seed), trials in sorted(tables.items())])
    print("\nhypervolume per seed (reference point " f"{REFERENCE.tolist()}):")
    print(frame.pivot(index="seed", columns="method", values="hypervolume").to_string(float_format=lambda v: f"{v:.4f}"))
    print("\nbest accuracy within working memory <= 2 KB and model size <= 2.8 KB per seed:")
    print(frame.pivot(index="seed", columns="method", values="best_acc_in_budget").to_string(float_format=lambda v: f"{v:.4f}"))
    means = frame.groupby("method")[["hypervolume", "best_acc_in_budget", "seconds"]].mean()
    means["seeds_in_budget"] = frame.groupby("method")["best_acc_in_budget"].count()  # accuracy: mean over these
    print("\nmeans:")
    print(means.to_string(float_format=lambda v: f"{v:.4f}"))
    for other, label in (("random", "random"), ("optuna", "Optuna")):
        if {"sparsemod", other} <= set(means.index):
            print(f"HV ratio sparsemod / {label} = {means.loc['sparsemod', 'hypervolume'] / means.loc[other, 'hypervolume']:.3f}")
    print_compute(frame, tables)


def print_compute(frame: pd.DataFrame, tables: dict) -> None:
    """The compute axis: CPU-seconds to reach random's final hypervolume, and hypervolume
    at equal CPU-seconds (the smallest total of the seed's runs), medians over seeds."""
    rows = []
    for seed, runs in frame.groupby("seed"):
        budget = runs["cpu_seconds"].min()
        target = runs.set_index("method")["hypervolume"].get("random")
        for run_ in runs.to_dict("records"):
            trials = tables[(run_["method"], seed)]
            rows.append({**{key: run_[key] for key in ("method", "seed", "trials", "stopped", "epochs")},
                         "cpu_seconds": trials["cpu_seconds"].iloc[-1],
                         "to_reach_random": seconds_to_reach(trials, target) if target is not None else np.nan,
                         "equal_budget": budget, "hv_at_equal_budget": hypervolume_within(trials, budget)})
    compute = pd.DataFrame(rows)
    print("\ncompute per run (CPU-seconds = trials' seconds + the optimizer's):")
    print(compute.to_string(index=False, float_format=lambda v: f"{v:.4f}" if v < 2 else f"{v:.0f}"))
    print("\nmedians over seeds:")
    print(compute.groupby("method")[["cpu_seconds", "to_reach_random", "hv_at_equal_budget"]].median()
          .to_string(float_format=lambda v: f"{v:.4f}" if v < 2 else f"{v:.0f}"))


if __name__ == "__main__":
    main()
