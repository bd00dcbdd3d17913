"""Asking for trials: the proposer's picks attached to Ax's record as trials to run.

Sobol and GP phases take their picks from :mod:`sparsemod.optimizer.proposer`; the morph
phase draws children of the Pareto parents (:mod:`sparsemod.morphisms`) that fit the budget
and has the proposer rank them jointly.  Each pick is attached to the record
(:mod:`sparsemod.optimizer.record`) and becomes a :class:`TrialJob`; a morph child's job
carries its parent's weights to inherit.
"""

from __future__ import annotations

import json
import random
from typing import Any, Mapping

import torch
from tqdm import tqdm

from sparsemod.config import TrainSettings
from sparsemod.errors import one_line
from sparsemod.morphisms.round import draw_kept
from sparsemod.optimizer.proposer import Observed, Proposer
from sparsemod.optimizer.record import AxRecord, parameters_of
from sparsemod.problem import Problem
from sparsemod.search.phases import Phase
from sparsemod.search.stopping import MOASHA
from sparsemod.store.results import ResultsFolder
from sparsemod.trial.job import Inheritance, TrialJob, trial_seed


class Asking:
    """Makes the trials a phase runs; ``stopped`` (shared with the search) gets the reason
    when a phase has no candidate left."""

    def __init__(self, settings: TrainSettings, problem: Problem, record: AxRecord, results: ResultsFolder,
                 proposer: Proposer, stopping: MOASHA | None, stopped: dict[str, str]):
        self.settings, self.problem, self.record, self.results = settings, problem, record, results
        self.proposer, self.stopping, self.stopped = proposer, stopping, stopped

    def suggest(self, phase: Phase, count: int) -> list[TrialJob]:
        """New Ax trials for ``phase``, each within the budget before it trains (none: the
        phase is stopped, its reason in ``stopped``)."""
        arms = [parameters_of(t) for t in self.record.trials.values()]
        if phase.name == "morph":
            asked = self._attach_children(count)
            if not asked:
                self.stopped[phase.name] = "no new child of the Pareto parents lies in the search space and the budget"
        else:
            if phase.name == "sobol":
                sobol = [parameters_of(t) for t in self.record.trials.values()
                         if t.run_metadata.get("phase") == "sobol"]
                chosen = self.proposer.start(count, tried=sobol, total=phase.trials)
            else:
                chosen = self.proposer.gp(count, self.observed(), tried=arms)
            asked = {self.record.attach(params, {"phase": phase.name}): params for params in chosen}
            if not asked:
                self.stopped[phase.name] = "no untried candidate of the pool fits the budget"
        self._record_counts(list(asked))
        return [self.job(index, phase, params) for index, params in asked.items()]

    def _record_counts(self, indices: list[int]) -> None:
        """The candidates drawn and rejected so far, by phase, kept with the newest trial (a
        resumed search reads them back; time.txt shows them)."""
        if indices:
            self.record.trials[indices[-1]].update_run_metadata(
                {"candidates": {phase: vars(c).copy() for phase, c in self.proposer.counts.items()}})

    def observed(self) -> Observed:
        """What the GP learns from (completed and stopped trials' errors), and the trials
        still running, pending."""
        trials = self.record.trials
        observed = Observed()
        for row in self.results.rows:
            if row["status"] in ("completed", "stopped") and int(row["index"]) in trials:
                observed.params.append(parameters_of(trials[int(row["index"])]))
                observed.error.append(float(row["error"]))
        observed.pending = [parameters_of(t) for t in trials.values() if t.status.is_running]
        return observed

    def _attach_children(self, count: int) -> dict[int, dict]:
        """Draw ``candidates`` children of the Pareto parents and attach the ``count`` that fit
        the budget and the acquisition function ranks highest, scored jointly."""
        parents = {arm: json.loads((self.results.models / arm / "params.json").read_text())
                   for arm in self.results.pareto()["arm"] if (self.results.models / arm).exists()}
        seen = [parameters_of(t) for t in self.record.trials.values()]
        rng = random.Random(trial_seed(self.settings.seed, len(seen)))
        candidates = draw_kept(parents, self.problem.morphisms, self.problem.space, self.settings.candidates, seen,
                               rng, lambda params: self.proposer.within_bounds(params, "morph"))
        observed = self.observed()
        try:
            chosen, unscored = self.proposer.morph(candidates, count, observed), None
        except Exception as error:  # e.g. nothing completed to fit the GP to: draw order
            unscored = one_line(error, typed=True, limit=300)
            tqdm.write(f"warning: morph candidates not scored ({unscored}); taking them in the order drawn")
            chosen = self.proposer.morph(candidates, count, observed, scored=False)
        return {self.record.attach(child.params, {"phase": "morph", "parent": child.parent, "operators": list(child.operators),
                                            **({"unscored": unscored} if unscored else {})}): child.params
                for child in chosen}

    def job(self, index: int, phase: Phase, params: Mapping[str, Any]) -> TrialJob:
        metadata = self.record.trials[index].run_metadata
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
                        trial_seed(self.settings.seed, index), inheritance,
                        report_epochs=tuple(self.stopping.rungs(phase.epochs)) if self.stopping else ())
