"""Throughput of the same trials in sparsemod's one worker process vs on Ray Tune (a local
Ray runtime, ``max_concurrent`` trials at once).

    python benchmarks/ray_scaling.py [--trials 8] [--epochs 6] [--concurrent 2]

Both executors run identical jobs (same parameters, seeds, one torch thread per trial).
Tune's start-up (``ray.init``, the Tuner, until its first trial starts) is timed apart;
the ratio without it compares the trials alone.  Prints trials per minute and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cost_fidelity import sample  # noqa: E402

from sparsemod import costs  # noqa: E402
from sparsemod.config import RaySettings  # noqa: E402
from sparsemod.executors.local import ProblemSource, WorkerExecutor  # noqa: E402
from sparsemod.executors.tune import TuneExecutor  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.trial.job import TrialConfig, TrialJob  # noqa: E402


class TimedTune(TuneExecutor):
    """Tune, noting when it hands over its first trial (its start-up ends there)."""

    first: float | None = None

    def hand_over(self, trial_id: str):
        config = super().hand_over(trial_id)
        if isinstance(config, dict) and self.first is None:
            self.first = time.perf_counter()
        return config


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of process ``root`` and its descendants alive now, each
    with its waited-for children's (Linux /proc): the driver, its worker process or Ray's
    daemons and workers."""
    parents, ticks = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def run(make_executor, jobs) -> tuple[float, float, list, float]:
    """(seconds including start-up, seconds of the trials alone, the results, CPU seconds
    of the driver and every process it started, start-up included)"""
    cpu = tree_cpu_seconds(os.getpid())
    start = time.perf_counter()
    executor = make_executor()
    for job in jobs:
        executor.submit(job)
    results = [executor.wait() for _ in jobs]
    end = time.perf_counter()
    cpu = tree_cpu_seconds(os.getpid()) - cpu
    ready = getattr(executor, "first", None) or start  # the worker process starts with its first trial
    executor.close()
    return end - start, end - ready, results, cpu


def best_makespan(seconds: list[float], workers: int) -> float:
    """Longest-first greedy schedule of the measured trial times on ``workers`` slots."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    problem = load_problem("cnn")
    data = problem.load_data("digits", None, 0)
    rng = np.random.default_rng(0)
    jobs = [TrialJob(i, f"{i}_0", "bench", sample(problem.space, rng), args.epochs, i)
            for i in range(args.trials)]
    trial_config = TrialConfig("post", 4, costs.Device(1e9), 1, False)
    source = ProblemSource(problem.source, False, "digits", None, 0)
    local, _, local_results, local_cpu = run(lambda: WorkerExecutor(source, trial_config), jobs)
    ray_settings = RaySettings("local", args.concurrent, 1.0, 0.0, 0)
    with tempfile.TemporaryDirectory() as storage:
        ray, ray_trials, ray_results, ray_cpu = run(
            lambda: TimedTune(problem, data, trial_config, ray_settings, storage, "bench"), jobs)
    print(f"{args.trials} trials ({args.epochs} epochs, digits, cnn space):")
    print(f"  worker   : {local:6.1f} s  {60 * args.trials / local:5.1f} trials/min  ({sum(r.status == 'completed' for r in local_results)} completed)")
    print(f"  Tune x{args.concurrent}  : {ray:6.1f} s  {60 * args.trials / ray:5.1f} trials/min  ({sum(r.status == 'completed' for r in ray_results)} completed),"
          f" {ray - ray_trials:.1f} s of it starting Ray and Tune")
    print(f"  throughput ratio Tune / worker               = {local / ray:.2f}")
    print(f"  throughput ratio without the start-up        = {local / ray_trials:.2f}")
    local_sum = sum(r.total_seconds for r in local_results)
    ray_sum = sum(r.total_seconds for r in ray_results)
    print(f"  trial seconds summed: worker {local_sum:.1f}, Tune {ray_sum:.1f} "
          f"(each Tune trial {ray_sum / local_sum:.2f}x as long: two trials share 2 cores with Ray's daemons)")
    print(f"  CPU seconds, every process: worker {local_cpu:.1f}, Tune {ray_cpu:.1f} "
          f"({ray_cpu / local_cpu:.2f}x: Tune's and Ray's own work, trials sharing cores)")
    ideal = best_makespan([r.total_seconds for r in local_results], args.concurrent)
    print(f"  bound set by these trials' lengths ({args.concurrent} slots)  = {local / ideal:.2f}")


if __name__ == "__main__":
    main()
