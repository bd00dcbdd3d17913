"""The tools a user would try instead of sparsemod, each driving the *same* trial function
through its own ask/tell API, with its own seconds counted.

- ``optuna-tpe``: Optuna's default sampler (``TPESampler``), ``optuna-gp``: its ``GPSampler``
  (LogEHVI, constrained LogEI / LogEHVI), ``optuna-nsga2``: NSGA-II (population 10);
  constraints through ``trial.set_constraint`` (<= 0 feasible, Optuna 5's way);
- ``ax-default``: an Ax ``Client`` with no generation strategy of ours (Ax 1.3.1: a centre
  point, Sobol, then BoTorch's qLogNEHVI / qLogNEI) and the bounds as outcome constraints;
- ``syne-tune-moasha``: syne-tune's MO-ASHA (random configurations, non-dominated sorting at
  each rung) stopping trials between epochs.

Every driver returns the run's trials table in the order the trials finished: the params,
the metrics the trial measured, ``status``, ``total_seconds`` (training and measuring) and
``optimizer_seconds`` (the peer's own ask and tell: CPU seconds of the process, as sparsemod's
asks are counted by their thread's; nothing of the run trains meanwhile)."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from sparsemod.space import Choice, Fixed, Float, Int, Parameter, to_ax
from sparsemod.trial.job import Report, TrialResult

PEERS = ("optuna-tpe", "optuna-gp", "optuna-nsga2", "ax-default", "syne-tune-moasha")
LIBRARY = {"optuna-tpe": "optuna", "optuna-gp": "optuna", "optuna-nsga2": "optuna", "ax-default": "ax",
           "syne-tune-moasha": "syne_tune"}


def not_installed(methods: Sequence[str]) -> str | None:
    """What to install for the peers among ``methods`` whose library is missing (None: all there)."""
    missing = [m for m in methods if m in LIBRARY and importlib.util.find_spec(LIBRARY[m]) is None]
    if not missing:
        return None
    return (f"{', '.join(missing)} need{'s' if len(missing) == 1 else ''} "
            f"{', '.join(sorted({LIBRARY[m] for m in missing}))}: pip install -r requirements-bench.txt"
            " && pip install --no-deps syne-tune==0.16.0")


class TrialFunction(Protocol):
    """Train and measure one network: trial ``index`` with ``params``; ``decide`` (True: train
    on) judges the reports after ``report_epochs``."""

    def __call__(self, index: int, params: dict[str, Any], decide: Callable[[Report], bool] | None = None,
                 report_epochs: tuple[int, ...] = ()) -> TrialResult: ...


@dataclass(frozen=True)
class Goal:
    objectives: tuple[str, ...]  # every one minimised
    bounds: dict[str, float] = field(default_factory=dict)  # measured metric <= bound


class Table:
    """The rows of a run, one per finished trial."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, index: int, params: dict[str, Any], result: TrialResult, optimizer_seconds: float) -> None:
        self.rows.append({"index": index, "arm": str(index), **params, **result.metrics, **result.extras,
                          "status": result.status, "reason": result.reason,
                          "epochs_trained": result.epochs_trained, "total_seconds": result.total_seconds,
                          "optimizer_seconds": optimizer_seconds})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def run_peer(method: str, space: Sequence[Parameter], goal: Goal, trials: int, seed: int, epochs: int,
             trial: TrialFunction, grace: int = 1, eta: int = 3, start: int | None = None) -> pd.DataFrame:
    """``trials`` trials of ``method``; its trials table (``start``: the random trials before
    optuna-gp's or optuna-tpe's model, ``n_startup_trials``; None: Optuna's default, 10)."""
    if method.startswith("optuna-"):
        return optuna_run(method.removeprefix("optuna-"), space, goal, trials, seed, trial, startup_trials=start)
    if method == "ax-default":
        return ax_run(space, goal, trials, seed, trial)
    if method == "syne-tune-moasha":
        return moasha_run(space, goal, trials, seed, epochs, trial, grace, eta)
    raise ValueError(f"unknown peer {method!r}; expected one of {', '.join(PEERS)}")


def optuna_run(sampler_name: str, space: Sequence[Parameter], goal: Goal, trials: int, seed: int,
               trial: TrialFunction, startup_trials: int | None = None) -> pd.DataFrame:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def modelled(sampler: Callable[..., optuna.samplers.BaseSampler]) -> optuna.samplers.BaseSampler:
        if startup_trials is None:  # Optuna's own default
            return sampler(seed=seed)
        return sampler(seed=seed, n_startup_trials=startup_trials)

    samplers = {"tpe": lambda: modelled(optuna.samplers.TPESampler),
                "gp": lambda: modelled(optuna.samplers.GPSampler),
                "nsga2": lambda: optuna.samplers.NSGAIISampler(population_size=10, seed=seed)}
    study = optuna.create_study(directions=["minimize"] * len(goal.objectives), sampler=samplers[sampler_name]())
    table = Table()
    for index in range(trials):
        start = time.process_time()
        asked = study.ask()  # relative sampling (TPE multivariate, GP) happens here
        params = {p.name: suggest(asked, p) for p in space}
        seconds = time.process_time() - start
        result = trial(index, params)
        start = time.process_time()
        if result.status == "completed":
            for metric, bound in goal.bounds.items():
                asked.set_constraint(metric, result.metrics[metric] - bound)
            study.tell(asked, [result.metrics[m] for m in goal.objectives])
        else:
            study.tell(asked, state=TrialState.FAIL)
        table.add(index, params, result, seconds + time.process_time() - start)
    return table.frame()


def suggest(trial: Any, p: Parameter) -> Any:
    """One parameter of sparsemod's space through Optuna's ``suggest_*``."""
    if isinstance(p, Int):
        return trial.suggest_int(p.name, p.low, p.high, log=p.log)
    if isinstance(p, Float):
        return trial.suggest_float(p.name, p.low, p.high, log=p.log)
    if isinstance(p, Choice):
        return trial.suggest_categorical(p.name, list(p.values))
    return p.value


def ax_run(space: Sequence[Parameter], goal: Goal, trials: int, seed: int, trial: TrialFunction) -> pd.DataFrame:
    from ax.api.client import Client

    from sparsemod.logs import quiet_ax

    quiet_ax(debug=False)
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=to_ax(space), name="ax_default")
    client.configure_optimization(objective=", ".join(f"-{m}" for m in goal.objectives),
                                  outcome_constraints=[f"{m} <= {b}" for m, b in goal.bounds.items()])
    table = Table()
    for index in range(trials):
        start = time.process_time()
        ((trial_index, params),) = client.get_next_trials(max_trials=1).items()
        seconds = time.process_time() - start
        result = trial(index, dict(params))
        start = time.process_time()
        if result.status == "completed":
            client.complete_trial(trial_index, raw_data={m: result.metrics[m]
                                                         for m in (*goal.objectives, *goal.bounds)})
        else:
            client.mark_trial_failed(trial_index)
        table.add(index, dict(params), result, seconds + time.process_time() - start)
    return table.frame()


def moasha_run(space: Sequence[Parameter], goal: Goal, trials: int, seed: int, epochs: int,
               trial: TrialFunction, grace: int, eta: int) -> pd.DataFrame:
    from syne_tune.backend.trial_status import Trial
    from syne_tune.optimizer.scheduler import SchedulerDecision
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    np.random.seed(seed)  # syne-tune's domains and bracket draws use numpy's global generator
    scheduler = MOASHA({p.name: domain(p) for p in space}, metrics=list(goal.objectives), do_minimize=True,
                       time_attr="epoch", max_t=epochs, grace_period=grace, reduction_factor=eta,
                       random_seed=seed)
    table = Table()
    for index in range(trials):
        start = time.process_time()
        suggestion = scheduler.suggest()
        assert suggestion is not None and suggestion.config is not None, "MOASHA's random search always suggests"
        params = dict(suggestion.config)
        running = Trial(trial_id=index, config=params, creation_time=datetime.now())
        scheduler.on_trial_add(running)
        seconds = [time.process_time() - start]

        def decide(report: Report) -> bool:
            start = time.process_time()
            action = scheduler.on_trial_result(running, {"epoch": report.epoch, **report.metrics})
            seconds.append(time.process_time() - start)
            return action != SchedulerDecision.STOP

        result = trial(index, params, decide, tuple(range(1, epochs)))
        start = time.process_time()
        if result.status == "completed":
            scheduler.on_trial_complete(running, {"epoch": epochs, **result.metrics})
        else:  # stopped at a rung, or failed
            scheduler.on_trial_remove(running)
        table.add(index, params, result, sum(seconds) + time.process_time() - start)
    return table.frame()


def domain(p: Parameter) -> Any:
    """A parameter of sparsemod's space as a syne-tune domain."""
    from syne_tune import config_space as cs

    if isinstance(p, Int):
        return (cs.lograndint if p.log else cs.randint)(p.low, p.high)
    if isinstance(p, Float):
        return (cs.loguniform if p.log else cs.uniform)(p.low, p.high)
    if isinstance(p, Choice):
        return cs.choice(list(p.values))
    assert isinstance(p, Fixed)
    return p.value
