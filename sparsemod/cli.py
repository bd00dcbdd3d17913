"""``python main.py [--config PATH]``: validate everything, then search.

Bad input (config, example file, data files, an existing results folder) prints one line on
stderr and exits with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from sparsemod.config import ConfigError, Settings, TrainSettings, load_config
from sparsemod.costs import DEVICES, Device
from sparsemod.data import DataBundle, DataError
from sparsemod.executors import InProcessExecutor
from sparsemod.problem import Problem, ProblemError, load_problem
from sparsemod.results import ResultsExistError, ResultsFolder
from sparsemod.search import Search, make_client, quiet_ax
from sparsemod.trial import Measurement

USAGE_ERROR = 2


class UsageError(Exception):
    """Input the user must fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="main.py", description="sparsemod: multi-objective "
                                     "architecture search for tiny devices (SpArSe + MorphNet)")
    parser.add_argument("--config", default="config.ini", help="config file (default ./config.ini)")
    args = parser.parse_args(argv)
    try:
        settings = load_config(args.config)
        check_supported(settings)
        problem, data = prepare(settings)
        results = ResultsFolder(settings.search.folder, settings.search.objective_names,
                                [p.name for p in problem.space])
        results.create()
    except (ConfigError, UsageError, ResultsExistError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return search(settings.search, problem, data, results)


def check_supported(settings: Settings) -> None:
    """Keys that parse but name features this version does not run yet."""
    path = settings.path
    if not settings.train:
        raise ConfigError(f"{path} [DEFAULT] train: expected true (the [TEST] mode is not "
                          "available in this version), got 'false'")
    if settings.search.pruning:
        raise ConfigError(f"{path} [TRAIN] pruning: expected false (MorphNet pruning is not "
                          "available in this version), got 'true'")
    if settings.search.splitter:
        raise ConfigError(f"{path} [TRAIN] splitter: expected false (sequence splitting is not "
                          "available in this version), got 'true'")


def prepare(settings: Settings) -> tuple[Problem, DataBundle]:
    train = settings.search
    try:
        problem = load_problem(train.example)
    except ProblemError as error:
        raise ConfigError(f"{settings.path} [TRAIN] example: {error}") from None
    if problem.datasets is not None and train.dataset not in problem.datasets:
        raise ConfigError(f"{settings.path} [TRAIN] dataset: expected one of "
                          f"{'|'.join(problem.datasets)} (example {train.example}), got {train.dataset!r}")
    try:
        data = problem.load_data(train.dataset, train.data_dir, train.seed)
    except DataError as error:
        raise ConfigError(f"{settings.path} [TRAIN] data_dir: {error}") from None
    return problem, data


def measurement(train: TrainSettings) -> Measurement:
    device = DEVICES[train.device] if train.device else Device(train.flops, train.bandwidth)
    return Measurement(train.quant_scheme, train.calibration_batches, device, train.threads, train.debug)


def search(train: TrainSettings, problem: Problem, data: DataBundle, results: ResultsFolder) -> int:
    quiet_ax(train.debug)
    if not train.debug:
        warnings.filterwarnings("ignore")  # library deprecation chatter; debug shows it
    if train.morphisms and train.r3 > 0:
        print(f"warning: morphism rounds are not available in this version; the r3 = {train.r3} "
              "rounds are skipped", file=sys.stderr)
    client = make_client(train, problem)
    executor = InProcessExecutor(problem, data, measurement(train))
    print(f"sparsemod: {train.r1} Sobol + {train.r2}x{train.batch_size} GP trials of "
          f"{problem.source.name} on {train.dataset}; objectives {', '.join(train.objective_names)}; "
          f"results in {results.folder}")
    Search(train, problem, executor, results, client).run()
    front = results.pareto()
    print(f"done: {len(results.rows)} trials, {len(front)} on the Pareto front "
          f"({', '.join(front['arm'])}); see {Path(results.folder) / 'pareto.csv'}")
    return 0

