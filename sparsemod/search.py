"""The search loop (SpArSe, Fedorov et al. 2019, Sec. 3.3): Ax ask/tell over phases.

1. ``sobol``: ``r1`` quasi-random trials, ``epochs1`` epochs each;
2. ``gp``: ``r2`` rounds of ``batch_size`` trials from Ax's BoTorch model (multi-objective:
   qLogNEHVI on the active objectives; one objective: qLogNEI), ``epochs2`` epochs each;
3. ``morph``: ``r3`` rounds of ``batch_size`` children of Pareto parents, picked by the same
   acquisition function among ``candidates`` morphs and attached to Ax, trained ``epochs3``
   epochs from their parent's weights (:mod:`sparsemod.morphisms`).

Each finished trial is told to Ax (completed with its four metrics, or failed with its
reason) and recorded in the results folder before the next one is asked for.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ax.adapter.registry import Generators
from ax.api.client import Client
from ax.generation_strategy.generation_node import GenerationNode
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.generation_strategy.generator_spec import GeneratorSpec
from ax.generation_strategy.transition_criterion import MinTrials

from sparsemod.config import OBJECTIVES, TrainSettings
from sparsemod.executors import Executor, InProcessExecutor
from sparsemod.hypervolume import hypervolume
from sparsemod.morphisms.round import draw_candidates, score
from sparsemod.problem import Problem
from sparsemod.progress import Progress
from sparsemod.report import write_report
from sparsemod.results import ResultsFolder
from sparsemod.snapshot import save_client
from sparsemod.space import to_ax
from sparsemod.trial import Inheritance, TrialJob, TrialResult, trial_seed


@dataclass(frozen=True)
class Phase:
    name: str  # also the Ax generation node's name
    trials: int
    epochs: int
    batch: int  # trials asked for at once


def phases(settings: TrainSettings, morphing: bool = True) -> list[Phase]:
    """The planned phases; ``morphing`` False drops the morphism rounds."""
    planned = [
        Phase("sobol", settings.r1, settings.epochs1, settings.r1),
        Phase("gp", settings.r2 * settings.batch_size, settings.epochs2, settings.batch_size),
    ]
    if morphing and settings.morphisms and settings.r3:
        planned.append(Phase("morph", settings.r3 * settings.batch_size, settings.epochs3, settings.batch_size))
    return planned


def generation_strategy(settings: TrainSettings) -> GenerationStrategy:
    """Sobol for exactly ``r1`` trials (failed ones count: r1 is a budget), then BoTorch."""
    sobol = GenerationNode(
        name="sobol",
        generator_specs=[GeneratorSpec(generator_enum=Generators.SOBOL,
                                       generator_kwargs={"seed": settings.seed})],
        transition_criteria=[MinTrials(threshold=settings.r1, transition_to="gp")],
    )
    gp = GenerationNode(name="gp", generator_specs=[GeneratorSpec(generator_enum=Generators.BOTORCH_MODULAR)])
    return GenerationStrategy(name="sparsemod", nodes=[sobol, gp])


def make_client(settings: TrainSettings, problem: Problem) -> Client:
    client = Client(random_seed=settings.seed)
    client.configure_experiment(parameters=to_ax(problem.space), name=settings.name)
    # A constraint on an objective becomes Ax's objective threshold; on another metric, an
    # outcome constraint (every trial reports all four metrics).
    client.configure_optimization(objective=", ".join(f"-{name}" for name in settings.objective_names),
                                  outcome_constraints=[str(c) for c in settings.constraints] or None)
    client.set_generation_strategy(generation_strategy(settings))
    return client


def quiet_ax(debug: bool) -> None:
    """Ax logs every trial at INFO; sparsemod prints its own line per trial."""
    level = logging.INFO if debug else logging.WARNING
    # Ax gives each module's logger its own level, so the parent's level is not enough.
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("ax", "botorch")]:
        logging.getLogger(name).setLevel(level)


def trials_of(client: Client) -> dict:
    """Ax's trials by index (the Client has no public accessor for them)."""
    return client._experiment.trials


class SearchStopped(RuntimeError):
    """The search cannot go on (one line for the user); time.txt records it."""


class Search:
    """Runs the phases; a search resumed from its folder continues where it stopped."""

    def __init__(self, settings: TrainSettings, problem: Problem, executor: Executor,
                 results: ResultsFolder, client: Client):
        self.settings, self.problem, self.executor = settings, problem, executor
        self.results, self.client = results, client
        earlier = results.read_times()
        self.earlier_total = earlier.pop("search", 0.0)
        self.phase_seconds: dict[str, float] = earlier
        self.start = time.perf_counter()
        # why a phase stopped early, by phase (a stop ends that phase only; kept across resume)
        self.stopped: dict[str, str] = results.read_stops()
        if isinstance(executor, InProcessExecutor):
            executor.on_start = self._count_start

    def run(self) -> None:
        plan = [phase for phase in phases(self.settings, bool(self.problem.morphisms)) if phase.trials > 0]
        progress = Progress(sum(phase.trials for phase in plan), done=len(self.results.rows))
        interrupted = self._reconcile()
        try:
            for phase in plan:
                if phase.name != "sobol":
                    self._require_a_completed_trial()
                self._run_phase(phase, [j for j in interrupted if j.phase == phase.name], progress)
            self._write_times("finished")
        finally:
            progress.close()
            self.executor.close()

    def _require_a_completed_trial(self) -> None:
        """The GP models completed trials only: when every Sobol trial failed there is nothing
        to model (nor a parent to morph), and sampling on could fail forever, so stop."""
        if any(row["status"] == "completed" for row in self.results.rows):
            return
        reasons = list(dict.fromkeys(str(row["reason"]).splitlines()[0] for row in self.results.rows))
        message = (f"every one of the {len(self.results.rows)} Sobol trials failed, so the GP has "
                   f"nothing to model; first reasons: {' | '.join(reasons[:3])}")
        self._write_times(f"stopped: {message}")
        raise SearchStopped(message)

    def _run_phase(self, phase: Phase, rerun: list[TrialJob], progress: Progress) -> None:
        """Keep the executor full: ask when a slot is free (a whole ``batch`` when idle)."""
        phase_start = time.perf_counter() - self.phase_seconds.get(phase.name, 0.0)
        asked = sum(1 for t in trials_of(self.client).values() if self._phase_of(t.index) == phase.name)
        for job in rerun:
            self.executor.submit(job)
        while asked < phase.trials or self.executor.pending:
            free = self.executor.capacity - self.executor.pending
            if asked < phase.trials and phase.name not in self.stopped and phase.name != "sobol":
                reason = self._stagnation(phase)
                if reason:
                    self.stopped[phase.name] = reason
                    progress.message(f"stopping the {phase.name} phase early: {reason}")
            if asked < phase.trials and free > 0 and phase.name not in self.stopped:
                count = phase.batch if self.executor.pending == 0 else free
                asked += self._ask(phase, min(count, phase.trials - asked))
                if phase.name in self.stopped:
                    progress.message(f"stopping the {phase.name} phase early: {self.stopped[phase.name]}")
                continue
            if not self.executor.pending:
                break  # stopped early, nothing running
            result = self.executor.wait()
            self._finish(result, progress)
            self.phase_seconds[phase.name] = time.perf_counter() - phase_start
            self._write_times("running")

    def hypervolume_after(self, trials: int) -> float:
        """Hypervolume of the feasible completed trials among the first ``trials``, every
        objective scaled by a reference fixed by the Sobol trials (1.1 x their worst)."""
        table = self.results.table()
        objectives = list(self.settings.objective_names)
        sobol = table[(table["phase"] == "sobol") & (table["status"] == "completed")]
        if sobol.empty:
            return 0.0
        reference = 1.1 * sobol[objectives].to_numpy(dtype=float).max(axis=0) + 1e-12
        usable = ((table["status"] == "completed") & self.results.feasible_mask(table)).to_numpy()
        values = table[objectives].to_numpy(dtype=float)[:trials]
        return hypervolume(values[usable[:trials]], reference)

    def _stagnation(self, phase: Phase) -> str | None:
        """The reason to stop, when the hypervolume grew by less than ``tolerance`` (relative)
        over the last ``patience`` trials of this phase."""
        settings = self.settings
        in_phase = sum(1 for row in self.results.rows if row["phase"] == phase.name)
        if settings.tolerance <= 0 or in_phase < settings.patience:
            return None
        done = len(self.results.rows)  # two hypervolumes, not one per trial so far
        before, now = self.hypervolume_after(done - settings.patience), self.hypervolume_after(done)
        growth = (now - before) / before if before > 0 else (float("inf") if now > 0 else 0.0)
        if growth < settings.tolerance:
            return (f"hypervolume grew {100 * growth:.3g}% over the last {settings.patience} "
                    f"trials (< tolerance {100 * settings.tolerance:g}%)")
        return None

    def _ask(self, phase: Phase, count: int) -> int:
        if phase.name == "morph":
            asked = self._attach_children(count)
            if not asked:
                self.stopped[phase.name] = "no new child of the Pareto parents lies in the search space"
                return 0
        else:
            asked = self.client.get_next_trials(max_trials=count)
            for index in asked:
                trials_of(self.client)[index].update_run_metadata({"phase": phase.name})
        if not asked:
            raise RuntimeError(f"no trial to run in phase {phase.name}")
        for index, params in asked.items():
            self.executor.submit(self._job(index, phase, params))
        self._save_experiment()  # asked trials are on disk before they run: resume re-runs them
        return len(asked)

    def _attach_children(self, count: int) -> dict[int, dict]:
        """Draw ``candidates`` children of the Pareto parents, attach the ``count`` the
        acquisition function scores highest."""
        parents = {arm: json.loads((self.results.models / arm / "params.json").read_text())
                   for arm in self.results.pareto()["arm"] if (self.results.models / arm).exists()}
        seen = [dict(t.arm.parameters) for t in trials_of(self.client).values()]
        rng = random.Random(trial_seed(self.settings.seed, len(seen)))
        candidates = draw_candidates(parents, self.problem.morphisms, self.problem.space,
                                     self.settings.candidates, seen, rng)
        if not candidates:
            return {}
        unscored = None
        try:
            values = score(self.client, candidates)
        except Exception as error:  # e.g. no completed trial to fit the GP to: draw order
            unscored = f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]
            tqdm.write(f"warning: morph candidates not scored ({unscored}); taking them in the order drawn")
            values = [-float(i) for i in range(len(candidates))]
        ranked = [c for _, c in sorted(zip(values, range(len(candidates))), reverse=True)]
        attached = {}
        for position in ranked[:count]:
            child = candidates[position]
            index = self.client.attach_trial(parameters=child.params)
            trials_of(self.client)[index].update_run_metadata(
                {"phase": "morph", "parent": child.parent, "operators": list(child.operators),
                 **({"unscored": unscored} if unscored else {})})
            attached[index] = child.params
        return attached

    def _job(self, index: int, phase: Phase, params: dict) -> TrialJob:
        metadata = trials_of(self.client)[index].run_metadata
        inheritance = None
        parent_dir = self.results.models / str(metadata.get("parent", ""))
        if metadata.get("parent") and parent_dir.is_dir():
            structure = parent_dir / "structure.json"
            inheritance = Inheritance(
                metadata["parent"], json.loads((parent_dir / "params.json").read_text()),
                torch.load(parent_dir / "model.pt", weights_only=True),
                json.loads(structure.read_text()) if structure.exists() else None,
                tuple(metadata.get("operators", ())))
        # Ax names the single arm of trial i "i_0"
        return TrialJob(index, f"{index}_0", phase.name, dict(params), phase.epochs,
                        trial_seed(self.settings.seed, index), inheritance)

    def _parents_in_use(self) -> frozenset[str]:
        """Parents of morph children still running: their models stay (off the front or not)
        so that a resumed search re-runs those children from the same weights."""
        return frozenset(str(t.run_metadata["parent"]) for t in trials_of(self.client).values()
                         if t.status.is_running and t.run_metadata.get("parent"))

    def _phase_of(self, index: int) -> str:
        return trials_of(self.client)[index].run_metadata.get("phase", "")

    def _reconcile(self) -> list[TrialJob]:
        """After a kill: tell Ax the trials trials.csv has but experiment.json still shows
        running; return the jobs of trials that were running and must run again."""
        recorded = {int(row["index"]): row for row in self.results.rows}
        by_name = {phase.name: phase for phase in phases(self.settings)}
        rerun = []
        for index, trial in trials_of(self.client).items():
            if not trial.status.is_running:
                continue
            if index in recorded:
                row = recorded[index]
                if row["status"] == "completed":
                    self.client.complete_trial(index, raw_data={m: float(row[m]) for m in OBJECTIVES})
                else:
                    self.client.mark_trial_failed(index, failed_reason=str(row["reason"]).splitlines()[0])
            else:
                job = self._job(index, by_name[self._phase_of(index)], trial.arm.parameters)
                if not self._gave_up(job):
                    rerun.append(job)
        if self.results.rows:  # pareto.csv, .png, report.html may predate trials.csv (a kill between writes)
            pareto = self.results.write_tables()
            write_report(self.results.folder, self.results.table(), pareto, self.settings.objective_names)
        if self.results.rows or rerun:
            self.results.drop_models_off_front(self._parents_in_use())
            self._save_experiment()
        return rerun

    def _count_start(self, job: TrialJob) -> None:
        """In-process: the trial is on disk as started before it runs (see :meth:`_gave_up`)."""
        trial = trials_of(self.client)[job.index]
        trial.update_run_metadata({"starts": trial.run_metadata.get("starts", 0) + 1})
        self._save_experiment()

    def _gave_up(self, job: TrialJob) -> bool:
        """A trial whose ``max_failures`` + 1 runs in this process each ended with the process
        dying (it is still running in experiment.json) is recorded failed, not run again."""
        starts = trials_of(self.client)[job.index].run_metadata.get("starts", 0)
        if not isinstance(self.executor, InProcessExecutor) or starts <= self.executor.max_failures:
            return False
        result = TrialResult(job, "failed", reason=(
            f"the search process died {starts} times while this trial ran (killed, out of memory "
            f"or a crash in native code); not run again ([RAY] max_failures = {self.executor.max_failures})"))
        self._tell(result)
        self.results.record(result, self._parents_in_use())
        return True

    def _finish(self, result: TrialResult, progress: Progress) -> None:
        self._tell(result)
        on_front = self.results.record(result, self._parents_in_use())
        self._save_experiment()
        table = self.results.table()
        write_report(self.results.folder, table, self.results.pareto(table), self.settings.objective_names)
        progress.trial_finished(result, on_front)

    def _tell(self, result: TrialResult) -> None:
        if result.status == "completed":
            self.client.complete_trial(result.job.index,
                                       raw_data={name: result.metrics[name] for name in OBJECTIVES})
        else:
            self.client.mark_trial_failed(result.job.index, failed_reason=result.reason.splitlines()[0])

    def _save_experiment(self) -> None:
        save_client(self.client, self.results.folder / "experiment.json")

    def _write_times(self, state: str) -> None:
        total = self.earlier_total + time.perf_counter() - self.start
        self.results.write_times(self.phase_seconds, total, state, self.stopped, self._scoring_notes())

    def _scoring_notes(self) -> list[str]:
        """How the morph children were picked: by the acquisition function, or (when it could
        not score them) in the order drawn, with the first reason."""
        morph = [t.run_metadata for t in trials_of(self.client).values()
                 if t.run_metadata.get("phase") == "morph"]
        if not morph:
            return []
        unscored = [m["unscored"] for m in morph if "unscored" in m]
        note = (f"morph scoring: {len(morph) - len(unscored)} of {len(morph)} children ranked by the "
                "acquisition function")
        return [note + (f"; {len(unscored)} in draw order ({unscored[0]})" if unscored else "")]
