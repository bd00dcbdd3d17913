"""One trial, end to end: build → shape and trace check → train → quantize → measure.

Training sends a :class:`~sparsemod.search.stopping.Report` after each epoch of
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
import time
import traceback
from typing import Callable

import torch
from torch import nn

from sparsemod import costs
from sparsemod.data import DataBundle
from sparsemod.errors import one_line
from sparsemod.morphisms import inherit, layer_widths
from sparsemod.morphnet import prune
from sparsemod.morphnet.prune import apply_structure
from sparsemod.morphnet.regularizer import ResourceRegularizer
from sparsemod.morphnet.tensorboard import StructureLog
from sparsemod.problem import Problem
from sparsemod.quantize import quantize
from sparsemod.trial.checks import check_budget, check_quantizable, check_runs
from sparsemod.trial.job import Inheritance, Report, TrialConfig, TrialJob, TrialResult
from sparsemod.trial.measure import cost_metrics, measure
from sparsemod.trial.train import DEFAULT_BATCH_SIZE, accuracy, device_of, loader, train


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
                    deployed = quantize(pruned, self.trial_config.quant_scheme, [self.example], self.example, costs_only=True)
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


def _calibration_batches(data: DataBundle, job: TrialJob, count: int) -> list[torch.Tensor]:
    batches = loader(data.train, int(job.params.get("batch_size", DEFAULT_BATCH_SIZE)),
                     shuffle=True, seed=job.seed, collate_fn=data.collate_fn)
    return [inputs for inputs, _ in itertools.islice(batches, count)]
