"""What a trial is asked (:class:`TrialJob`, :class:`TrialConfig`) and what it answers
(:class:`Report` after an epoch, :class:`TrialResult` at the end).

No torch import here: the search's process, the worker and Ray's driver pass these around,
and the search's process loads them before torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sparsemod.config import Constraint, MorphNetSettings

if TYPE_CHECKING:
    import torch

    from sparsemod import costs


@dataclass(frozen=True)
class Inheritance:
    """A morph child's parent: what rebuilds it, and the operators that made the child."""

    arm: str
    params: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    structure: dict[str, int] | None  # the parent's learned structure, if it was pruned
    operators: tuple[str, ...]


@dataclass(frozen=True)
class TrialJob:
    """What to run: an Ax trial's parameters and budget."""

    index: int
    arm: str
    phase: str  # sobol | gp | morph
    params: dict[str, Any]
    epochs: int
    seed: int
    inherit: Inheritance | None = None  # morph children start from their parent's weights
    report_epochs: tuple[int, ...] = ()  # send a Report after these epochs, stop when told

    @property
    def bracket(self) -> str:
        """Trials the stopping rule compares this one with: morph children start trained."""
        return "morph" if self.inherit is not None else "scratch"


@dataclass(frozen=True)
class TrialConfig:
    """How a trial is pruned, quantized and measured (from [TRAIN] and [MORPHNET])."""

    quant_scheme: str
    calibration_batches: int
    device: costs.Device | costs.DeviceProfile  # roofline, or a calibrated profile
    threads: int
    debug: bool
    pruning: MorphNetSettings | None = None  # None: no structure learning
    splitter: bool = False  # passed to the example's prepare(): sequence windows
    schedule: str = "constant"  # the learning rate over a trial's epochs (sparsemod.train.train)
    augment_shift: int = 0  # random shifts of the training images, in pixels
    train_device: str = "cpu"  # where the float network trains ("cuda": a GPU trial on Ray Tune)
    budget: tuple[Constraint, ...] = ()  # constraints on cost metrics: a network over them never trains


@dataclass
class TrialResult:
    job: TrialJob
    status: str  # completed | failed | stopped (early, by the stopping rule)
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # the four objectives
    extras: dict[str, float] = field(default_factory=dict)  # reported, never optimised
    train_seconds: float = 0.0
    total_seconds: float = 0.0
    epochs_trained: int = 0
    state_dict: dict[str, torch.Tensor] | None = None  # trained (and pruned) float weights
    structure: dict[str, int] | None = None  # learned structure: alive outputs per layer


def trial_seed(seed: int, index: int) -> int:
    """Independent, reproducible seed per trial of a search."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


@dataclass(frozen=True)
class Report:
    """A trial's state after ``epoch`` epochs of its ``max_epochs``: float validation error
    and the costs of its current structure (every metric minimised)."""

    trial: int
    epoch: int
    max_epochs: int
    metrics: dict[str, float]
    bracket: str = "scratch"
