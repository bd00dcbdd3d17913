"""One trial, end to end: build → shape and trace check → train → quantize → measure.

Training sends a :class:`~sparsemod.stopping.Report` after each epoch of
``job.report_epochs`` (the float model's validation error and the costs of the network as
it would deploy now) and stops when the answer is False: the trial comes back *stopped*
with that report as its row (its error is the float model's validation error at that
epoch; its costs are exact), and skips the calibrated int8 conversion and the measuring
of a completed trial.

Why a report's costs need no calibration: model size counts the deployed tensors'
elements and their scales / zero points (one per tensor or per channel), working memory
the activation buffers' elements at their dtypes, and the modelled latency FLOPs and
those bytes (DESIGN.md).  All follow from the structure and the quantization scheme;
calibration batches move only the values of the scales.  So the network is quantized with
the example input as its one calibration batch (as the trace check does), and a network
whose structure is fixed reuses the trace check's conversion.

Any exception becomes a *failed* :class:`TrialResult` whose ``reason`` names the stage and
the error, so a network that cannot run is recorded, never skipped and never fatal.
"""

from __future__ import annotations

import copy
import itertools
import os
import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from sparsemod import costs
from sparsemod.config import Constraint, MorphNetSettings
from sparsemod.costs.size import model_size
from sparsemod.data import DataBundle
from sparsemod.errors import one_line
from sparsemod.morphisms import inherit, layer_widths
from sparsemod.morphnet import ResourceRegularizer, apply_structure, prune
from sparsemod.morphnet.tensorboard import StructureLog
from sparsemod.problem import Problem
from sparsemod.quantize import quantize
from sparsemod.stopping import Report
from sparsemod.train import DEFAULT_BATCH_SIZE, accuracy, device_of, loader, train

LATENCY_RUNS = 20


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


class EpochReporter:
    """After each of ``job.report_epochs``: the :class:`Report` of a model, handed to
    ``decide`` (True: train on); the last one sent is kept (a stopped trial's row).

    Costs are those of the deployed network (uncalibrated, see the module docstring):
    with a fixed structure those of ``deployed``, the trace check's conversion, computed
    once; with MorphNet, of the network pruned to its channels alive at that epoch."""

    def __init__(self, job: TrialJob, data: DataBundle, example: torch.Tensor,
                 trial_config: TrialConfig, decide: Callable[[Report], bool], deployed: nn.Module):
        self.job, self.data, self.example, self.trial_config = job, data, example, trial_config
        self.decide, self.deployed = decide, deployed
        self.fixed_costs: dict[str, float] | None = None
        self.last: Report | None = None

    def __call__(self, model: nn.Module, epoch: int,
                 shrink: Callable[[nn.Module], nn.Module] | None = None) -> bool:
        if epoch not in self.job.report_epochs:
            return True
        # Quantization draws from torch's global generator: fork it, so that a reported
        # trial trains exactly as an unreported one (same dropout masks).
        with torch.random.fork_rng(devices=[]):
            costs_now = self.fixed_costs
            if costs_now is None:
                if shrink is None:
                    costs_now = self.fixed_costs = cost_metrics(on_cpu(model), self.deployed, self.example,
                                                                self.trial_config.device)[0]
                else:
                    pruned = on_cpu(shrink(model))
                    deployed = quantize(pruned, self.trial_config.quant_scheme, [self.example], self.example)
                    costs_now = cost_metrics(pruned, deployed, self.example, self.trial_config.device)[0]
            error = 1.0 - accuracy(model, self.data.val, self.data.collate_fn)
        self.last = Report(self.job.index, epoch, self.job.epochs, {"error": error, **costs_now}, self.job.bracket)
        return self.decide(self.last)


def run_trial(job: TrialJob, problem: Problem, data: DataBundle, trial_config: TrialConfig,
              decide: Callable[[Report], bool] | None = None) -> TrialResult:
    """Run ``job``; ``decide`` judges the reports after its ``report_epochs``."""
    start = time.perf_counter()
    torch.set_num_threads(trial_config.threads)
    stage = "build"
    result = TrialResult(job, "failed")
    try:
        if problem.prepare is not None:
            stage = "prepare data"
            data = problem.prepare(data, dict(job.params), trial_config.splitter)
        stage = "build"
        torch.manual_seed(job.seed)
        model = problem.build(dict(job.params), data.input_shape, data.num_classes)
        stage = "shape check"
        example = check_runs(model, data.input_shape)
        checked = check_quantizable(model, example, trial_config.quant_scheme)
        if trial_config.budget:
            stage = "budget"
            check_budget(cost_metrics(model, checked, example, trial_config.device)[0], trial_config.budget)
        if job.inherit is not None:
            stage = "inherit"
            parent, parent_widths = rebuild_parent(problem, data, job.inherit, example)
            inherit(parent, model, example, job.seed, parent_widths)
        if trial_config.pruning is not None:
            before = (costs.flops_per_layer(model, example), sum(p.numel() for p in model.parameters()))
        stage = "device"
        model.to(training_device(trial_config.train_device))
        stage = "train"
        train_start = time.perf_counter()
        reporter = (EpochReporter(job, data, example, trial_config, decide, checked)
                    if job.report_epochs and decide else None)
        if trial_config.pruning is None:
            result.epochs_trained = train(model, data.train, job.params, job.epochs, job.seed, data.collate_fn,
                                          on_epoch=(lambda epoch: reporter(model, epoch)) if reporter else None,
                                          schedule=trial_config.schedule, shift=trial_config.augment_shift)
        else:
            stage = "morphnet"
            model, result.structure, result.epochs_trained = learn_structure(
                model, example, data, job, trial_config, reporter)
            result.extras["flops_before"] = float(sum(before[0].values()))
            result.extras["parameters_before"] = float(before[1])
        model.cpu()  # quantized, measured and saved on the CPU
        result.train_seconds = time.perf_counter() - train_start
        if reporter is not None and reporter.last is not None and result.epochs_trained < job.epochs:
            # its last report is its row; its weights are never saved: no stopped trial is on the front
            result.metrics = dict(reporter.last.metrics)
            result.extras = {"float_error": result.metrics["error"],
                             "flops": float(sum(costs.flops_per_layer(model, example).values())),
                             "parameters": float(sum(p.numel() for p in model.parameters())), **result.extras}
            result.status = "stopped"
        else:
            stage = "quantize"
            calibration = _calibration_batches(data, job, trial_config.calibration_batches)
            deployed = quantize(model, trial_config.quant_scheme, calibration, example)
            stage = "measure"
            metrics, extras = measure(model, deployed, example, data, trial_config)
            result.metrics, result.extras = metrics, {**extras, **result.extras}
            result.state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
            result.status = "completed"
    except Exception as error:  # a trial's failure is data, not a crash of the search
        result.reason = f"{stage}: {one_line(error, typed=True)}"[:500]
        if trial_config.debug:
            result.reason += "\n" + traceback.format_exc()
    result.total_seconds = time.perf_counter() - start
    return result


def learn_structure(model: nn.Module, example: torch.Tensor, data: DataBundle, job: TrialJob,
                    trial_config: TrialConfig, reporter: EpochReporter | None = None
                    ) -> tuple[nn.Module, dict[str, int], int]:
    """MorphNet inside a trial: train with the regularizer (constant learning rate), prune
    the dead channels, fine-tune the smaller network (not when the trial was stopped early).
    A ``morphnet_strength`` parameter in the search space overrides the configured strength
    multiplier.  All of it runs on the model's device.  Returns the pruned network, its
    structure and the epochs trained."""
    settings = trial_config.pruning
    assert settings is not None, "run_trial prunes only with pruning settings"
    example = example.to(device_of(model))
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        raise ValueError("MorphNet pruning does not support LSTM / GRU / RNN layers (their hidden "
                         "units are shared by every gate and time step); set pruning = false")
    regularizer = ResourceRegularizer(model, example, settings.algorithm, settings.target,
                                      settings.threshold, device=trial_config.device)
    if all(entry is None for entry in regularizer.group_vectors()):
        raise ValueError(f"no channel carries a {settings.algorithm} regularizer (gamma needs "
                         "BatchNorm after convs, gates need LogisticSigmoidGate modules)")
    multiplier = float(job.params.get("morphnet_strength", settings.strength))
    strength = regularizer.strength(multiplier)
    log = StructureLog(settings.log_dir / job.arm, regularizer) if settings.log_dir else None
    on_epoch = None
    if reporter is not None:
        def on_epoch(epoch: int) -> bool:
            return reporter(model, epoch, shrink=lambda m: prune(m, regularizer, example))
    epochs = train(model, data.train, job.params, job.epochs, job.seed, data.collate_fn,
                   penalty=lambda: strength * regularizer.regularization_term(),
                   on_step=log.step if log else None, on_epoch=on_epoch, shift=trial_config.augment_shift)
    structure = regularizer.alive_counts()
    if log:
        log.close(structure)
    small = prune(model, regularizer, example)
    if settings.finetune_epochs and epochs == job.epochs:
        train(small, data.train, job.params, settings.finetune_epochs, job.seed + 1, data.collate_fn,
              shift=trial_config.augment_shift)
    return small, structure, epochs


def training_device(name: str) -> torch.device:
    """The torch device a trial trains on; a GPU that torch cannot see is the trial's failure."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"the trial was given a GPU, but torch {torch.__version__} sees no CUDA device "
                           f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
    return device


def on_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself when it is on the CPU, else a CPU copy of it (to quantize and measure)."""
    return model if device_of(model).type == "cpu" else copy.deepcopy(model).cpu()


def rebuild_parent(problem: Problem, data: DataBundle, parent: Inheritance,
                   example: torch.Tensor) -> tuple[nn.Module, dict[str, tuple[int, int]]]:
    """The trained parent, and its layer widths as its parameters build it (before pruning)."""
    model = problem.build(dict(parent.params), data.input_shape, data.num_classes).eval()
    widths = layer_widths(model)
    if parent.structure is not None:
        model = apply_structure(model, example, parent.structure)
    model.load_state_dict(parent.state_dict)
    return model.eval(), widths


def check_runs(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Dummy batch-1 forward pass before any training: returns the example input."""
    example = torch.zeros(1, *input_shape)
    model.eval()
    with torch.no_grad():
        try:
            model(example)
        except RuntimeError as error:
            raise RuntimeError(f"the network cannot run on input {tuple(input_shape)}: "
                               f"{one_line(error)}") from None
    return example


def check_quantizable(model: nn.Module, example: torch.Tensor, scheme: str) -> nn.Module:
    """Trace and quantize the untrained network once, so that a network torch.fx cannot
    trace (Python control flow on tensor values) fails before its training is paid for.
    Returns the conversion (calibrated on ``example`` only: its costs are exact)."""
    try:
        return quantize(model, scheme, [example], example)
    except Exception as error:  # fx raises TraceError, TypeError, ...: each names the cause
        raise RuntimeError(f"the network cannot be traced by torch.fx and quantized ({scheme}), "
                           "needed to deploy it; no Python control flow on tensor values: "
                           f"{type(error).__name__}: {one_line(error)}") from None


def check_budget(costs_now: dict[str, float], budget: tuple[Constraint, ...]) -> None:
    """The worker's guard: a network over a hard cost constraint is refused before it trains
    (the search never proposes one; a stale or hand-edited experiment could).  Pruning only
    removes channels, so the costs before training bound those after it."""
    from sparsemod.costs.oracle import cost_violations

    broken = cost_violations(costs_now, budget)
    if broken:
        raise ValueError(f"over budget before training ({'; '.join(broken)}); not trained")


def pre_training_costs(model: nn.Module, input_shape: tuple[int, ...], scheme: str,
                       device: costs.Device | costs.DeviceProfile) -> dict[str, float]:
    """The costs a trial measures, of the untrained network as it would deploy: the same
    shape check, conversion and cost functions as :func:`run_trial` (with pruning off, equal
    to the completed trial's)."""
    example = check_runs(model, input_shape)
    return cost_metrics(model, check_quantizable(model, example, scheme), example, device)[0]


def _calibration_batches(data: DataBundle, job: TrialJob, count: int) -> list[torch.Tensor]:
    batches = loader(data.train, int(job.params.get("batch_size", DEFAULT_BATCH_SIZE)),
                     shuffle=True, seed=job.seed, collate_fn=data.collate_fn)
    return [inputs for inputs, _ in itertools.islice(batches, count)]


def measure(float_model: nn.Module, deployed: nn.Module, example: torch.Tensor,
            data: DataBundle, trial_config: TrialConfig) -> tuple[dict[str, float], dict[str, float]]:
    """The four objectives of the deployed model, and what is reported beside them."""
    cost_values, trace, flops = cost_metrics(float_model, deployed, example, trial_config.device)
    metrics = {"error": 1.0 - accuracy(deployed, data.val, data.collate_fn), **cost_values}
    extras = {
        "float_error": 1.0 - accuracy(float_model, data.val, data.collate_fn),
        "test_accuracy": accuracy(deployed, data.test, data.collate_fn),
        "flops": float(sum(flops.values())),
        "parameters": float(sum(p.numel() for p in float_model.parameters())),
        "measured_latency": measured_latency(deployed, example),
        # the peak if the runtime may reorder independent branches (NaN: too many orders)
        "working_memory_best_order": float(best) if (best := trace.best_order_peak()) is not None
        else float("nan"),
    }
    return metrics, extras


def cost_metrics(float_model: nn.Module, deployed: nn.Module, example: torch.Tensor,
                 device: costs.Device | costs.DeviceProfile) -> tuple[dict[str, float], Any, dict[str, int]]:
    """Model size, working memory and latency of the deployed model (with its activation
    trace and the float model's FLOPs per layer, which the reported extras reuse)."""
    trace = costs.trace_activations(deployed, example)
    flops = costs.flops_per_layer(float_model, example)
    values = {
        "model_size": float(model_size(deployed)),
        "working_memory": float(trace.peak()),
        "latency": costs.modeled_latency(device, flops, deployed, trace),
    }
    return values, trace, flops


@torch.no_grad()
def measured_latency(model: nn.Module, example: torch.Tensor, runs: int = LATENCY_RUNS) -> float:
    """Median wall seconds of ``runs`` batch-1 inferences on one CPU thread, after warm-up."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(3):
            model(example)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(example)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times)
