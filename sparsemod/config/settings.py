"""The typed settings a valid config.ini becomes, one dataclass per section."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparsemod.config.schema import OBJECTIVES, Constraint


@dataclass(frozen=True)
class TrainSettings:
    """The [TRAIN] section: one search."""

    r1: int  # Sobol trials
    r2: int  # GP rounds, ``batch_size`` trials each
    r3: int  # morphism rounds
    epochs1: int
    epochs2: int
    epochs3: int
    name: str
    root: Path
    objectives: int  # cumulative: 1 error, 2 +model_size, 3 +working_memory, 4 +latency
    batch_size: int
    debug: bool
    flops: float  # device operations per second (latency model)
    quant_scheme: str
    morphisms: bool
    pruning: bool
    splitter: bool
    example: str
    dataset: str
    data_dir: Path | None
    seed: int
    bandwidth: float | None  # device bytes per second; None: latency = FLOPs / flops
    device: str  # a named preset or a calibrated profile's path; overrides flops and bandwidth
    calibration_batches: int  # training batches that calibrate static quantization
    threads: int  # torch threads per trial
    constraints: tuple[Constraint, ...]  # outcome constraints (Ax); the Pareto set obeys them
    candidates: int  # morph children drawn per round, before the GP picks batch_size
    tolerance: float  # stop GP rounds when the hypervolume grew less than this (relative) ...
    patience: int  # ... over the last `patience` trials; tolerance 0: never stop early
    early_stopping: str = "moasha_front"  # none | moasha | moasha_front: stop trials epoch by epoch (sparsemod.search.stopping)
    grace_epochs: int = 1  # the first rung: no trial stops before it
    reduction_factor: int = 2  # η: rungs at grace·η^k; a rung keeps its best 1/η
    schedule: str = "constant"  # a trial's learning rate: constant | cosine (annealed to 0 over its epochs)
    augment_shift: int = 0  # training images moved by random whole pixels in [-s, s]² (0: off)

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def objective_names(self) -> tuple[str, ...]:
        return OBJECTIVES[: self.objectives]


@dataclass(frozen=True)
class TestSettings:
    """The [TEST] section: retrain and test one Pareto arm."""

    pruning: bool
    splitter: bool
    quant_scheme: str
    objectives: int
    name: str
    root: Path
    epochs: int
    arm: str
    expand_target: str  # "" : no expansion; else the cost the expanded width must fit
    expand_budget: float | None
    seed: int
    schedule: str = "cosine"  # constant | cosine (MorphNet's retraining advice)
    augment_shift: int = 0  # defaults to [TRAIN] augment_shift
    export: tuple[str, ...] = ()  # microcontroller runtimes (RUNTIMES) to convert for and check


@dataclass(frozen=True)
class RaySettings:
    """The optional [RAY] section: where trials run."""

    address: str  # "": the worker process; local: a local Ray runtime; auto / host:port: a cluster
    max_concurrent: int
    cpus_per_trial: float
    gpus_per_trial: float
    max_failures: int  # retries of a trial whose worker died
    storage_path: str = ""  # Tune's experiments: a folder or a URI; "": {root}/{name}/tune
    callbacks: tuple[str, ...] = ()  # Tune logger callbacks beside TensorBoard: mlflow, wandb

    @property
    def enabled(self) -> bool:
        return self.address != ""


@dataclass(frozen=True)
class MorphNetSettings:
    """The optional [MORPHNET] section: structure learning inside trials (pruning = true)."""

    algorithm: str  # gamma | group_lasso | gates
    target: str  # flops | size | latency | memory
    threshold: float  # a channel is alive while its regularization entry is above this
    strength: float  # multiplier: strength = multiplier / initial cost (morph-net's advice)
    finetune_epochs: int
    log_dir: Path | None  # TensorBoard scalars per trial when set


# A missing optional section takes every default; [TEST] is needed by the [TEST] mode only.
OPTIONAL_SECTIONS = ("RAY", "MORPHNET", "TEST")


@dataclass(frozen=True)
class Settings:
    path: Path
    train: bool
    search: TrainSettings
    test: TestSettings | None  # None: no [TEST] section (a search needs none)
    ray: RaySettings
    morphnet: MorphNetSettings
