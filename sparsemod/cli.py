"""``python main.py [--config PATH]``: validate everything, then search.

Bad input (config, example file, data files, an existing results folder, a folder locked by
a running search) prints one line on stderr and exits with status 2 before anything is
written.  ``--resume`` continues the search of ``{root}/{name}/``; ``test [--arm NAME]`` (or
``[DEFAULT] train = false``) runs the [TEST] mode on a Pareto arm.  ``report``, ``zoo`` and
``calibrate`` as the first argument run those tools.  An installed sparsemod's ``sparsemod``
command is this ``main``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sparsemod.config import ConfigError, Settings, check_test_mode, load_config
from sparsemod.errors import WorkerSetupError
from sparsemod.executors.worker import Worker
from sparsemod.interrupt import RESUME, recording, stopped, stopping_signals
from sparsemod.logs import importing_quietly

if TYPE_CHECKING:
    from sparsemod.data import DataBundle
    from sparsemod.executors.base import Executor
    from sparsemod.optimizer.proposer import Proposer
    from sparsemod.problem import Problem
    from sparsemod.store.results import ResultsFolder
    from sparsemod.trial.job import TrialConfig

USAGE_ERROR = 2
RESUME_AFTER = f"then {RESUME}"


# ``sparsemod NAME ...`` (or ``python main.py NAME ...``) = ``python -m MODULE ...``
TOOLS = {"report": "sparsemod.report.__main__", "zoo": "sparsemod.zoo.__main__",
         "calibrate": "sparsemod.calibrate"}


def main(argv: list[str] | None = None, executor: Executor | None = None) -> int:
    """``python main.py``; ``executor`` (a search only): run the trials there instead of the
    worker or Ray Tune the config names, e.g. :class:`sparsemod.testing.FakeExecutor`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        tool: Callable[[list[str]], int] = importlib.import_module(TOOLS[argv[0]]).main
        return tool(argv[1:])
    parser = argparse.ArgumentParser(description="sparsemod: multi-objective "
                                     "architecture search for tiny devices (SpArSe + MorphNet)")
    parser.add_argument("command", nargs="?", choices=("search", "test"),
                        help="search (default when [DEFAULT] train = true) or test: retrain a "
                             "Pareto arm from scratch, test and export it; also report FOLDER, "
                             "zoo ..., calibrate ... (= python -m sparsemod.NAME; each has --help)")
    parser.add_argument("--config", default="config.ini", help="config file (default ./config.ini)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search in {root}/{name}/ where it stopped")
    parser.add_argument("--arm", help="the arm to test (overrides [TEST] arm)")
    args = parser.parse_args(argv)
    try:
        # Only the standard library is loaded so far: a bad config fails in well under a second.
        settings = load_config(args.config)
        test_mode = args.command == "test" or (args.command is None and not settings.train)
        if test_mode:
            check_test_mode(settings)
    except ConfigError as error:
        return _usage_error(error)
    return _run(settings, args, test_mode, executor)


def _usage_error(error: Exception | str) -> int:
    print(f"error: {error}", file=sys.stderr)
    return USAGE_ERROR


def _run(settings: Settings, args: argparse.Namespace, test_mode: bool, executor: Executor | None) -> int:
    """The [TEST] mode or a search, once the config is valid (torch, Ax and Ray load here)."""
    with stopping_signals():
        # the trial worker starts first: its imports run beside ours, not before the first trial
        worker = None if test_mode or settings.ray.enabled or executor is not None else Worker()
        try:
            return _run_with(settings, args, test_mode, worker, executor)
        except KeyboardInterrupt as error:  # before or after the search's trials (a search says more)
            stop = stopped(error)
            print(f"interrupted ({stop.name})", file=sys.stderr)
            return stop.status
        finally:
            if worker is not None:
                worker.kill_if_unused()


def _run_with(settings: Settings, args: argparse.Namespace, test_mode: bool, worker: Worker | None,
              executor: Executor | None) -> int:
    with importing_quietly():
        from sparsemod.optimizer.proposer import InfeasibleSpace
        from sparsemod.optimizer.record import SnapshotError
        from sparsemod.deploy.check import check_installed
        from sparsemod.retrain import locate_arm, retrain_arm, summary
        from sparsemod.search.loop import SearchStopped
        from sparsemod.store.lock import FolderLock, FolderLockedError
        from sparsemod.store.results import (
            ResultsDamagedError,
            ResultsExistError,
            ResultsFolder,
            ResultsMissingError,
            describe_fault,
        )

    try:
        if test_mode:
            assert settings.test is not None, "check_test_mode ran: a [TEST] section is there"
            arm = args.arm if args.arm is not None else settings.test.arm
            locate_arm(settings, arm)  # before loading data: a bad arm fails fast
            check_installed(settings.test.export, f"{settings.path} [TEST]")
            problem, data = prepare(settings)
            print(summary(retrain_arm(settings, problem, data, arm, trial_config(settings)),
                          settings.test.objectives))
            return 0
        check_results_path(settings, args.resume)
        problem, data = prepare(settings)
        results = ResultsFolder(settings.search.folder, settings.search.objective_names,
                                [p.name for p in problem.space], settings.search.constraints)
        proposer = make_proposer(settings, problem, data)
        if args.resume:
            results.open_existing()
        else:
            results.create()
            try:  # an impossible budget is one line before anything trains
                proposer.start(settings.search.r1)
            except InfeasibleSpace:
                for empty in (results.models, results.folder):
                    empty.rmdir()
                raise
        with FolderLock(results.folder), recording(results.folder):
            return search(settings, problem, data, results, args.resume, worker, proposer, executor)
    except (ConfigError, ResultsExistError, ResultsMissingError, ResultsDamagedError,
            FolderLockedError, SnapshotError, SearchStopped, WorkerSetupError, InfeasibleSpace) as error:
        return _usage_error(error)
    except OSError as error:  # a full disk, a folder without permission, a file in the way
        started = not test_mode and (settings.search.folder / "experiment.json").exists()
        return _usage_error(describe_fault(error, RESUME_AFTER if started else "then run it again"))


def check_results_path(settings: Settings, resume: bool) -> None:
    """A file where ``{root}/{name}`` or a folder above it should be, or a folder this user
    cannot write: refused before the data loads and before anything is written."""
    folder = settings.search.folder
    if resume and not folder.exists():
        return  # nothing to resume: said by ResultsFolder.open_existing
    existing = next(p for p in (folder, *folder.parents) if p.exists())  # a file hides what is below it
    key = "name" if existing == folder else "root"
    if not existing.is_dir():
        raise ConfigError(f"{settings.path} [TRAIN] {key}: {existing} is a file, not a folder; move it away "
                          f"or choose another {key}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{settings.path} [TRAIN] {key}: this user cannot write in {existing}; give it "
                          f"write permission there (chmod, chown) or set {key} to a folder it can write")


def prepare(settings: Settings) -> tuple[Problem, DataBundle]:
    from sparsemod.data import DataError, check_splits
    from sparsemod.problem import ProblemError, load_problem

    train = settings.search
    try:
        problem = load_problem(train.example, train.splitter)
    except ProblemError as error:
        raise ConfigError(f"{settings.path} [TRAIN] example: {error}") from None
    if train.splitter and problem.prepare is None:
        raise ConfigError(f"{settings.path} [TRAIN] splitter: expected false ({problem.source.name} "
                          "defines no prepare(data, params, splitter) to split sequences), got 'true'")
    if problem.datasets is not None and train.dataset not in problem.datasets:
        raise ConfigError(f"{settings.path} [TRAIN] dataset: expected one of "
                          f"{'|'.join(problem.datasets)} (example {train.example}), got {train.dataset!r}")
    try:
        data = problem.load_data(train.dataset, train.data_dir, train.seed)
    except DataError as error:
        raise ConfigError(f"{settings.path} [TRAIN] data_dir: {error}") from None
    try:
        check_splits(data)
    except DataError as error:
        raise ConfigError(f"{settings.path} [TRAIN] dataset {train.dataset!r}: {error}") from None
    return problem, data


def trial_config(settings: Settings, guard: bool = False) -> TrialConfig:
    """How trials run; ``guard``: a network over a cost constraint is refused before it
    trains (a search's trials; the [TEST] mode retrains whichever arm it is given)."""
    from sparsemod.costs import resolve_device
    from sparsemod.trial.job import TrialConfig

    train = settings.search
    device = resolve_device(train.device, train.flops, train.bandwidth)
    budget = tuple(c for c in train.constraints if c.metric != "error") if guard else ()
    return TrialConfig(train.quant_scheme, train.calibration_batches, device, train.threads,
                       train.debug, settings.morphnet if train.pruning else None, train.splitter,
                       train.schedule, train.augment_shift, budget=budget)


def make_proposer(settings: Settings, problem: Problem, data: DataBundle) -> Proposer:
    """Where the search's candidates come from, with the budget its exact costs enforce."""
    from sparsemod.costs.oracle import CostOracle
    from sparsemod.optimizer.proposer import Proposer

    train, config = settings.search, trial_config(settings, guard=True)
    oracle = CostOracle(problem, data, train.quant_scheme, config.device, train.splitter, config.budget)
    return Proposer(oracle, train.objective_names, train.constraints, train.seed)


def search(settings: Settings, problem: Problem, data: DataBundle, results: ResultsFolder,
           resume: bool, worker: Worker | None = None, proposer: Proposer | None = None,
           executor: Executor | None = None) -> int:
    import warnings

    from sparsemod.executors.local import ProblemSource, WorkerExecutor
    from sparsemod.logs import quiet_ax
    from sparsemod.optimizer import optimize_on_one_thread
    from sparsemod.optimizer.record import load_record, new_record
    from sparsemod.search.loop import Search
    from sparsemod.store.results import describe_fault, set_state
    from sparsemod.store.resume import check_settings, defining_settings, repair_rows

    train = settings.search
    quiet_ax(train.debug)
    # The optimizer's matrices are small, and a trial trains on the other core (or on Ray):
    # one thread each, not threads fighting a trial for the same cores.
    optimize_on_one_thread()
    if not train.debug:
        warnings.filterwarnings("ignore")  # library deprecation chatter; debug shows it
    if train.morphisms and train.r3 > 0 and not problem.morphisms:
        print(f"warning: {problem.source.name} defines no MORPHISMS: the r3 = {train.r3} morphism "
              "rounds are skipped", file=sys.stderr)
    if resume:
        record = load_record(results.folder / "experiment.json")
        check_settings(record, settings, problem)
        for line in repair_rows(results, record):
            print(f"warning: {line}", file=sys.stderr)
    else:
        record = new_record(train, problem, defining_settings(settings, problem))
    if executor is not None:
        where = type(executor).__name__
    elif settings.ray.enabled:
        from sparsemod.executors.tune import TuneExecutor, experiment_name

        storage = settings.ray.storage_path or str(results.folder / "tune")
        try:
            executor = TuneExecutor(problem, data, trial_config(settings, guard=True), settings.ray, storage,
                                    experiment_name(train.name), train.splitter, train.debug)
        except ConfigError as error:  # Ray or Tune refused a [RAY] key
            raise ConfigError(f"{settings.path} {error}") from None
        each = f"{settings.ray.cpus_per_trial:g} CPU" + (f" + {settings.ray.gpus_per_trial:g} GPU"
                                                         if settings.ray.gpus_per_trial else "")
        where = (f"Ray Tune ({settings.ray.address}, {executor.capacity} at once, {each} each; "
                 f"Tune's experiment in {executor.path})")
    else:
        source = ProblemSource(problem.source, train.splitter, train.dataset, train.data_dir, train.seed)
        executor = WorkerExecutor(source, trial_config(settings, guard=True), settings.ray.max_failures, worker)
        where = "worker process"
    morphs = f" + {train.r3}x{train.batch_size} morph" if train.morphisms and train.r3 and problem.morphisms else ""
    print(f"sparsemod: {'resuming ' if resume else ''}{train.r1} Sobol + {train.r2}x{train.batch_size} "
          f"GP{morphs} trials of {problem.source.name} on {train.dataset} ({where}); objectives "
          f"{', '.join(train.objective_names)}; results in {results.folder}")
    try:
        Search(train, problem, executor, results, record,
               proposer or make_proposer(settings, problem, data)).run()
    except KeyboardInterrupt as error:  # Search.run has closed its trials and saved what finished
        stop = stopped(error)
        print(f"interrupted ({stop.name}): {len(results.rows)} trials recorded in {results.folder}; "
              f"{RESUME}", file=sys.stderr)
        return stop.status
    except (OSError, WorkerSetupError) as error:  # what finished is saved; its record says why it stopped
        reason = describe_fault(error, RESUME_AFTER) if isinstance(error, OSError) else str(error)
        with contextlib.suppress(OSError):  # the disk may still be full
            set_state(results.folder, f"stopped: {reason}")
        raise
    finally:
        executor.close()  # again: a failed write in Search.run's own clean-up skips its close
    front = results.pareto()
    print(f"done: {len(results.rows)} trials, {len(front)} on the Pareto front "
          f"({', '.join(front['arm'])}); see {Path(results.folder) / 'pareto.csv'}")
    return 0

