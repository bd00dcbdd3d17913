"""Calibrate a latency profile of the machine at hand (nn-Meter-style kernel predictors).

    python -m sparsemod.calibrate --out cpu.json [--networks 40] [--runs 20] [--seed 0]

Builds small random networks of every deployed op kind (conv, depthwise conv, linear,
pooling, residual add; each quantized by sparsemod's own int8 ``post`` flow, so the kernels
are those a search deploys, with the quantize / dequantize and flatten around them), times
every op of each on its real int8 input, one torch thread, batch 1, and fits per kind

    t = fixed + per_mac · MACs + per_byte · bytes

by non-negative least squares on relative errors (small ops count as much as large ones).
The graph's own cost per call, ``overhead``, is the median over the networks of the whole
network's time minus the sum of its ops' times.  Each time is the median of ``runs``
samples, the samples of all ops interleaved so that a load change on a shared machine
touches every op alike.  ``device = cpu.json`` in config.ini then makes the latency
objective this profile's prediction.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
import torch
from scipy.optimize import nnls
from torch import fx, nn

from sparsemod.costs.memory import trace_activations
from sparsemod.costs.ops import DeployedOp, deployed_ops
from sparsemod.costs.profile import CALIBRATED_KINDS, DeviceProfile, KindModel
from sparsemod.quantize import quantize

SIDES = (1, 2, 3, 4, 6, 7, 8, 12, 14, 16, 28, 32)
MAX_MACS = 2e7  # keeps one calibration under a few minutes on a small CPU


@dataclass
class Sample:
    """One op of one calibration network: its features and how to run it alone."""

    op: DeployedOp
    run: Callable[[], Any]
    seconds: float = 0.0


def _channels(rng: random.Random, high: int = 256) -> int:
    return max(1, round(math.exp(rng.uniform(0, math.log(high)))))


def _cell(kind: str, rng: random.Random) -> tuple[nn.Module, tuple[int, ...]]:
    """A small float network exercising ``kind``, and its input shape (C, H, W)."""
    net: nn.Module
    while True:
        side, c_in, c_out = rng.choice(SIDES), _channels(rng), _channels(rng)
        kernel, stride = rng.choice((1, 3, 5)), rng.choice((1, 2))
        act = [nn.ReLU()] if rng.random() < 0.7 else []
        if kind == "conv":
            net = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2), *act)
            macs = c_in * c_out * kernel ** 2 * (side // stride) ** 2
        elif kind == "depthwise":
            net = nn.Sequential(nn.Conv2d(c_in, c_in, kernel, stride, kernel // 2, groups=c_in), nn.ReLU())
            macs = c_in * kernel ** 2 * (side // stride) ** 2
        elif kind == "linear":
            net = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, c_out), *act)
            macs = c_in * side * side * c_out
        elif kind == "pool":
            pool = rng.choice((nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)))
            if side < 2 and not isinstance(pool, nn.AdaptiveAvgPool2d):
                continue
            net = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.ReLU(), pool)
            macs = c_in * c_out * side * side
        else:  # add: two branches summed (a residual join)
            net = _Join(c_in, c_out, bool(act))
            macs = 2 * c_in * c_out * side * side
        if macs <= MAX_MACS:
            return net, (c_in, side, side)


class _Join(nn.Module):
    def __init__(self, c_in: int, c_out: int, relu: bool):
        super().__init__()
        self.left, self.right, self.relu = nn.Conv2d(c_in, c_out, 1), nn.Conv2d(c_in, c_out, 1), relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.left(x) + self.right(x)
        return torch.relu(y) if self.relu else y


class _ArgumentRecorder(fx.Interpreter):
    """Runs a graph once, keeping each op node's evaluated arguments."""

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.calls: dict[str, Callable[[], Any]] = {}

    def run_node(self, node: fx.Node) -> Any:
        if node.op in ("call_module", "call_function", "call_method"):
            args, kwargs = self.fetch_args_kwargs_from_env(node)
            if node.op == "call_module":
                self.calls[node.name] = partial(self.fetch_attr(str(node.target)), *args, **kwargs)
            elif node.op == "call_function":
                self.calls[node.name] = partial(cast(Callable, node.target), *args, **kwargs)
            else:
                self.calls[node.name] = partial(getattr(args[0], str(node.target)), *args[1:], **kwargs)
        return super().run_node(node)


def network_samples(deployed: fx.GraphModule, example: torch.Tensor) -> list[Sample]:
    """Every op of a deployed network, with a closure that runs it alone on its input."""
    trace = trace_activations(deployed, example)
    recorder = _ArgumentRecorder(deployed)
    with torch.no_grad():
        recorder.run(example)
    node_of = {path: node for node, path in trace.module_of.items()}
    return [Sample(op, recorder.calls[node_of.get(op.name, op.name)]) for op in deployed_ops(deployed, trace)]


def _timed(run: Callable[[], Any], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - start) / repeats


def time_interleaved(runs: list[Callable[[], Any]], samples: int, rng: random.Random,
                     target: float = 50e-6) -> list[float]:
    """Median seconds per call of each function: ``samples`` rounds, every function once per
    round in a shuffled order, each sample repeating the call to last about ``target`` s."""
    with torch.no_grad():
        repeats = [max(1, min(200, round(target / max(_timed(run, 3), 1e-7)))) for run in runs]
        times: list[list[float]] = [[] for _ in runs]
        order = list(range(len(runs)))
        for _ in range(samples):
            rng.shuffle(order)
            for i in order:
                times[i].append(_timed(runs[i], repeats[i]))
    return [statistics.median(t) for t in times]


def fit(ops: list[DeployedOp], seconds: list[float]) -> KindModel:
    """fixed, per_mac, per_byte ≥ 0 minimising Σ ((prediction − t) / t)²."""
    features = np.array([[1.0, op.macs, op.bytes] for op in ops])
    target = np.array(seconds)
    scale = features.max(0)
    scale[scale == 0] = 1.0
    coefficients, _ = nnls(features / scale / target[:, None], np.ones(len(ops)))
    fixed, per_mac, per_byte = coefficients / scale
    return KindModel(float(fixed), float(per_mac), float(per_byte))


def calibrate(networks: int = 40, runs: int = 20, seed: int = 0, log: Callable[[str], None] = print) -> DeviceProfile:
    """Measure this machine (one torch thread) and fit its profile."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        built = []
        for kind in ("conv", "depthwise", "linear", "pool", "add"):
            for _ in range(networks):
                net, shape = _cell(kind, rng)
                example = torch.randn(1, *shape)
                deployed = quantize(net.eval(), "post", [torch.randn(8, *shape)], example)
                # the int8 lowering of the PT2E graph is a GraphModule
                built.append((deployed, example, network_samples(cast(fx.GraphModule, deployed), example)))
        log(f"{len(built)} networks quantized; timing their ops ({runs} interleaved runs)")
        samples = [s for _, _, per_net in built for s in per_net]
        wholes: list[Callable[[], Any]] = [partial(d, x) for d, x, _ in built]
        measured = time_interleaved([s.run for s in samples] + wholes, runs, rng)
        for sample, seconds in zip(samples, measured):
            sample.seconds = seconds
        kinds = {}
        for kind in CALIBRATED_KINDS:
            chosen = [s for s in samples if s.op.kind == kind]
            kinds[kind] = fit([s.op for s in chosen], [s.seconds for s in chosen])
            log(f"{kind:>10}: {len(chosen):4d} ops  fixed {kinds[kind].fixed * 1e6:7.2f} µs  "
                f"per MAC {kinds[kind].per_mac * 1e12:8.3f} ps  per byte {kinds[kind].per_byte * 1e12:8.3f} ps")
        whole_times = measured[len(samples):]
        overhead = statistics.median(
            max(0.0, whole - sum(s.seconds for s in per_net))
            for whole, (_, _, per_net) in zip(whole_times, built))
        log(f"  overhead: {overhead * 1e6:.2f} µs per call of the graph")
    finally:
        torch.set_num_threads(threads)
    conditions = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                  "python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                  "batch": 1, "runs": runs, "networks_per_kind": networks, "seed": seed,
                  "quant_scheme": "post", "quantization": "PT2E int8, lowered (sparsemod.quantize.int8)",
                  "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return DeviceProfile(platform.node() or "cpu", overhead, kinds, conditions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsemod.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the device profile to write (.json)")
    parser.add_argument("--networks", type=int, default=40, help="calibration networks per op kind")
    parser.add_argument("--runs", type=int, default=20, help="timing samples per op (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out.suffix != ".json":
        print(f"--out: expected a .json file name, got {str(args.out)!r}", file=sys.stderr)
        return 2
    if args.networks < 2 or args.runs < 1:
        print(f"--networks: expected an integer >= 2 and --runs >= 1, got {args.networks} and {args.runs}",
              file=sys.stderr)
        return 2
    profile = calibrate(args.networks, args.runs, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    profile.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
