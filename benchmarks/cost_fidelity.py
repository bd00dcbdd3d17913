"""Do the modeled costs track the deployed int8 model?

For N random architectures of the CNN space (examples/cnn.py), each quantized (post) with
its initial weights (int8 kernel times do not depend on the weight values), prints:
- the measured median CPU latency (batch 1, one torch thread, ``--runs`` runs, the runs of
  all architectures interleaved) against three models: FLOPs (its single rate fitted on these
  very architectures, the most it can do), the roofline (1 GFLOP/s, 4 GB/s) and a calibrated
  device profile (``--profile``, from ``python -m sparsemod.calibrate``, which never sees
  these architectures): Spearman rank correlation and median relative error;
- the largest relative difference between the computed model size and (a) the bytes of the
  tensors unpacked from the quantized layers, (b) the size of the saved state_dict file.

    python -m sparsemod.calibrate --out cpu.json
    python benchmarks/cost_fidelity.py --profile cpu.json [--archs 30] [--seed 0] [--runs 20]
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparsemod import costs  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.space import Choice, Float, Int  # noqa: E402
from sparsemod.trial.checks import check_runs  # noqa: E402
from sparsemod.quantize import quantize  # noqa: E402


def sample(space, rng: np.random.Generator) -> dict:
    params = {}
    for p in space:
        if isinstance(p, Int):
            params[p.name] = int(round(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))) \
                if p.log else int(rng.integers(p.low, p.high + 1))
        elif isinstance(p, Float):
            params[p.name] = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high)))) \
                if p.log else float(rng.uniform(p.low, p.high))
        elif isinstance(p, Choice):
            params[p.name] = p.values[int(rng.integers(len(p.values)))]
    return params


def unpacked_weight_bytes(deployed: torch.nn.Module) -> int:
    """int8 weights + float32 biases + per-channel scale / zero point, read from each layer."""
    total = 0
    for name, tensor in deployed.state_dict().items():
        if isinstance(tensor, torch.Tensor) and not name.endswith(("weight", "bias")):
            total += 4 * tensor.numel()  # requantization scales and zero points
    for module in deployed.modules():
        weight = getattr(module, "weight", None)
        if callable(weight):
            w = weight()
            channels = w.q_per_channel_scales().numel() if w.qscheme() == torch.per_channel_affine else 1
            total += w.int_repr().nbytes + 8 * channels + (module.bias().nbytes if module.bias() is not None else 0)
    return total


@torch.no_grad()
def interleaved_latency(models: list, examples: list, runs: int, seed: int) -> list[float]:
    """Median seconds of one call per model; each run times every model once, shuffled."""
    for model, example in zip(models, examples):
        for _ in range(3):
            model(example)
    times: list[list[float]] = [[] for _ in models]
    order, rng = list(range(len(models))), random.Random(seed)
    for _ in range(runs):
        rng.shuffle(order)
        for i in order:
            start = time.perf_counter()
            models[i](examples[i])
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def median_relative_error(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(np.median(np.abs(predicted - measured) / measured))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="a device profile from python -m sparsemod.calibrate")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    problem = load_problem("cnn")
    data = problem.load_data(args.dataset, args.data_dir, args.seed)
    profile = costs.DeviceProfile.load(args.profile) if args.profile else None
    rng = np.random.default_rng(args.seed)
    calibration = [torch.stack([data.train[i][0] for i in range(64)])]
    roofline = costs.Device(1e9, 4e9)
    rows, deployed_models, examples = [], [], []
    while len(rows) < args.archs:
        params = sample(problem.space, rng)
        model = problem.build(params, data.input_shape, data.num_classes)
        try:
            example = check_runs(model, data.input_shape)
        except RuntimeError:
            continue  # too many downsamplings for the input: a failed trial in a search
        deployed = quantize(model.eval(), "post", calibration, example)
        trace = costs.trace_activations(deployed, example)
        flops = costs.flops_per_layer(model, example)
        buffer = io.BytesIO()
        torch.save(deployed.state_dict(), buffer)
        rows.append({
            "flops": float(sum(flops.values())),
            "roofline": costs.latency(flops, roofline, costs.layer_traffic(deployed, trace)),
            "profile": profile.predict(costs.deployed_ops(deployed, trace)) if profile else float("nan"),
            "size": costs.model_size(deployed),
            "unpacked": unpacked_weight_bytes(deployed),
            "file": buffer.getbuffer().nbytes,
        })
        deployed_models.append(deployed)
        examples.append(example)
    measured = interleaved_latency(deployed_models, examples, args.runs, args.seed)
    for i, (row, seconds) in enumerate(zip(rows, measured)):
        row["measured"] = seconds
        print(f"arch {i + 1:2d}: flops {row['flops']:>11.0f}  profile {row['profile'] * 1e6:8.1f} µs  "
              f"measured {seconds * 1e6:8.1f} µs  size {row['size']} B", flush=True)
    col = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    rate = float(np.median(col["flops"] / col["measured"]))  # FLOPs model's best single rate
    print(f"\n{len(rows)} architectures of examples/cnn.py on {args.dataset}, int8 (post), "
          f"median of {args.runs} interleaved runs, 1 thread")
    print(f"{'model':<44}{'Spearman':>10}{'median rel. error':>20}")
    for label, predicted in (("FLOPs / rate (rate fitted on these archs)", col["flops"] / rate),
                             ("roofline (1 GFLOP/s, 4 GB/s)", col["roofline"]),
                             (f"profile {args.profile}", col["profile"])):
        if np.isnan(predicted).any():
            continue
        print(f"{label:<44}{spearmanr(predicted, col['measured']).statistic:>10.3f}"
              f"{median_relative_error(predicted, col['measured']):>20.3f}")
    print(f"max |size - unpacked tensors| / unpacked    = {np.max(np.abs(col['size'] - col['unpacked']) / col['unpacked']):.4f}")
    file_gap = np.abs(col["size"] - col["file"]) / col["file"]
    print(f"|size - saved state_dict file| / file      = max {file_gap.max():.4f}, median {np.median(file_gap):.4f}")


if __name__ == "__main__":
    main()
