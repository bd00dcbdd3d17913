"""Ax's record of the search (experiment.json), through Ax's public API only.

The search attaches every trial it runs to an Ax ``Experiment`` through the ``Client``
(sparsemod's own proposer picks them, so the Client holds no generation strategy).  The
Client has no public getter for its experiment, so the record holds both: the experiment is
built with Ax's public constructors and handed over with ``Client.set_experiment``, as
``Client.load_from_json_file`` itself does.

experiment.json is the snapshot ``Client.save_to_json_file`` writes, made small enough to
keep: Ax copies the whole search space and optimization config into every generator run,
twice (~20 KB a trial); those copies are dropped (Ax's decoder treats both as optional),
leaving < 1 MB per 100 trials.  Ax alone loads it: ``Client.load_from_json_file(path)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ax.api.client import Client
from ax.api.utils.instantiation.from_config import parameter_from_config
from ax.core.experiment import Experiment
from ax.core.search_space import SearchSpace
from ax.core.trial import Trial
from ax.storage.json_store.decoder import object_from_json
from ax.storage.json_store.encoder import object_to_json
from ax.storage.json_store.registry import (
    CORE_CLASS_DECODER_REGISTRY,
    CORE_CLASS_ENCODER_REGISTRY,
    CORE_DECODER_REGISTRY,
    CORE_ENCODER_REGISTRY,
)

from sparsemod.config import METRICS, OBJECTIVES, TrainSettings
from sparsemod.errors import SnapshotError, one_line
from sparsemod.problem import Problem
from sparsemod.space import to_ax
from sparsemod.store.results import atomic_write_text

PROPERTY = "sparsemod_settings"  # the key in the experiment's properties: the defining settings
_REDUNDANT_IN_GENERATOR_RUN = ("search_space", "optimization_config")


@dataclass(frozen=True)
class AxRecord:
    """The Client that attaches and completes trials, the experiment it writes to, and
    sparsemod's properties of it (the settings that give its trials their meaning)."""

    client: Client
    experiment: Experiment
    settings: dict[str, str]

    @property
    def trials(self) -> dict[int, Trial]:
        return cast(dict[int, Trial], self.experiment.trials)  # the Client's trials have one arm each

    def attach(self, params: dict[str, Any], metadata: dict[str, Any]) -> int:
        """A new trial of ``params``, running, with sparsemod's ``metadata`` (phase, parent, ...)."""
        index = self.client.attach_trial(parameters=params)
        self.trials[index].update_run_metadata(metadata)
        return index

    def tell(self, index: int, status: str, metrics: dict[str, float], reason: str) -> None:
        """A finished trial: completed with its metrics, stopped early (its data first, so the
        GP learns from it), or failed with the first line of its reason.  The objectives are
        always measured; the arena is absent from rows an older sparsemod wrote."""
        raw = {name: metrics[name] for name in METRICS
               if name in OBJECTIVES or math.isfinite(metrics.get(name, math.nan))} \
            if status in ("completed", "stopped") else {}
        if status == "completed":
            self.client.complete_trial(index, raw_data=raw)
        elif status == "stopped":
            self.client.attach_data(index, raw_data=raw)
            self.client.mark_trial_early_stopped(index)
        else:
            self.client.mark_trial_failed(index, failed_reason=reason.splitlines()[0] if reason else "")

    def phase_of(self, index: int) -> str:
        return self.trials[index].run_metadata.get("phase", "")

    def asked(self, phase: str) -> int:
        """Trials of ``phase``, but those abandoned unrun (their budget is not spent)."""
        return sum(1 for t in self.trials.values() if self.phase_of(t.index) == phase and not t.status.is_abandoned)

    def completed(self) -> int:
        return sum(1 for t in self.trials.values() if t.status.is_completed)

    def parents_in_use(self, excluding: int | None = None) -> frozenset[str]:
        """Parents of morph children still running (but trial ``excluding``, which just
        finished): their models stay, off the front or not, so that a resumed search re-runs
        those children from the same weights."""
        return frozenset(str(t.run_metadata["parent"]) for index, t in self.trials.items()
                         if t.status.is_running and index != excluding and t.run_metadata.get("parent"))


def parameters_of(trial: Trial) -> dict[str, Any]:
    """A trial's parameters (the Client's trials have one arm each)."""
    assert trial.arm is not None, "attached with its arm"
    return dict(trial.arm.parameters)


def arm_name(trial: Trial) -> str:
    assert trial.arm is not None, "attached with its arm"
    return trial.arm.name


def new_record(settings: TrainSettings, problem: Problem, defining: dict[str, str]) -> AxRecord:
    """A new search's record: its parameters, its optimization config (a constraint on an
    objective becomes Ax's objective threshold; on another metric, an outcome constraint)."""
    space = SearchSpace(parameters=[parameter_from_config(config) for config in to_ax(problem.space)])
    experiment = Experiment(search_space=space, name=settings.name, properties={PROPERTY: defining})
    client = Client(random_seed=settings.seed)
    client.set_experiment(experiment)
    client.configure_optimization(objective=", ".join(f"-{name}" for name in settings.objective_names),
                                  outcome_constraints=[str(c) for c in settings.constraints] or None)
    return AxRecord(client, experiment, dict(defining))


def _drop_copies(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("__type") == "GeneratorRun":
            for key in _REDUNDANT_IN_GENERATOR_RUN:
                node[key] = None
        for value in node.values():
            _drop_copies(value)
    elif isinstance(node, list):
        for value in node:
            _drop_copies(value)


def save_record(record: AxRecord, path: Path) -> None:
    """experiment.json, atomically: the Client snapshot's format, without the copies."""
    experiment = object_to_json(record.experiment, encoder_registry=CORE_ENCODER_REGISTRY,
                                class_encoder_registry=CORE_CLASS_ENCODER_REGISTRY)
    _drop_copies(experiment)
    atomic_write_text(path, json.dumps({"_type": "Client", "experiment": experiment, "generation_strategy": None}))


def load_record(path: Path) -> AxRecord:
    """The record saved at ``path`` (the search's own draws are seeded by its settings, so
    nothing of Ax's random state needs restoring; a generation strategy that an older
    sparsemod saved is not used)."""
    try:
        snapshot = json.loads(path.read_text())
        experiment = object_from_json(snapshot["experiment"], decoder_registry=CORE_DECODER_REGISTRY,
                                      class_decoder_registry=CORE_CLASS_DECODER_REGISTRY)
        if not isinstance(experiment, Experiment):
            raise TypeError(f"its experiment is a {type(experiment).__name__}")
        properties = snapshot["experiment"].get("properties") or {}  # JSON: as saved
    except Exception as error:  # damaged JSON, or JSON that is not an Ax snapshot
        raise SnapshotError(f"{path}: damaged, not an Ax experiment snapshot "
                            f"({type(error).__name__}: {one_line(error)[:200]}); "
                            "restore it from a backup or start a new search") from None
    client = Client()
    client.set_experiment(experiment)
    return AxRecord(client, experiment, dict(properties.get(PROPERTY, {})))
