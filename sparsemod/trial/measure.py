"""A trained network measured as it would deploy: the four objectives (error of the int8
model, model size, working memory, modelled latency) and what is reported beside them."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from sparsemod import costs
from sparsemod.costs.size import model_size
from sparsemod.data import DataBundle
from sparsemod.trial.job import TrialConfig
from sparsemod.trial.train import accuracy

LATENCY_RUNS = 20


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
    """Model size, working memory, latency and TFLM arena of the deployed model (with its
    activation trace and the float model's FLOPs per layer, which the reported extras reuse)."""
    trace = costs.trace_activations(deployed, example)
    flops = costs.flops_per_layer(float_model, example)
    values = {
        "model_size": float(model_size(deployed)),
        "working_memory": float(trace.peak()),
        "latency": costs.modeled_latency(device, flops, deployed, trace),
        "arena": float(costs.tflm_arena(deployed, trace)["arena"]),
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
