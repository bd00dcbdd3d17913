"""Do the modeled costs track the deployed int8 model?

For N random architectures of the CNN space (examples/cnn.py) on digits, each trained one
epoch and quantized (post), prints:
- Spearman rank correlation between modeled latency (FLOPs / flops, and the roofline with a
  bandwidth) and the measured median CPU latency (batch 1, one thread);
- the largest relative difference between the computed model size and (a) the bytes of the
  tensors unpacked from the quantized layers, (b) the size of the saved state_dict file.

    python benchmarks/cost_fidelity.py [--archs 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparsemod import costs  # noqa: E402
from sparsemod.problem import load_problem  # noqa: E402
from sparsemod.space import Choice, Float, Int  # noqa: E402
from sparsemod.trial import TrialConfig, TrialJob, run_trial  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    problem = load_problem("cnn")
    data = problem.load_data("digits", None, args.seed)
    rng = np.random.default_rng(args.seed)
    compute_bound = TrialConfig("post", 4, costs.Device(1e9), 1, False)
    roofline = costs.Device(1e9, 4e9)
    rows = []
    while len(rows) < args.archs:
        params = sample(problem.space, rng)
        result = run_trial(TrialJob(len(rows), "", "bench", params, 1, args.seed), problem, data, compute_bound)
        if result.status != "completed":
            continue
        model = problem.build(params, data.input_shape, data.num_classes)
        model.load_state_dict(result.state_dict)
        example = torch.zeros(1, *data.input_shape)
        deployed = quantize(model, "post", [data.train.tensors[0][:64]], example)
        trace = costs.trace_activations(deployed, example)
        flops = costs.flops_per_layer(model, example)
        traffic = costs.layer_traffic(deployed, trace)
        buffer = io.BytesIO()
        torch.save(deployed.state_dict(), buffer)
        rows.append({
            "modeled": result.metrics["latency"],
            "roofline": costs.latency(flops, roofline, traffic),
            "measured": result.extras["measured_latency"],
            "size": costs.model_size(deployed),
            "unpacked": unpacked_weight_bytes(deployed),
            "file": buffer.getbuffer().nbytes,
        })
        print(f"arch {len(rows):2d}: flops {result.extras['flops']:>9.0f}  modeled {rows[-1]['modeled'] * 1e3:.4f} ms"
              f"  measured {rows[-1]['measured'] * 1e3:.4f} ms  size {rows[-1]['size']} B", flush=True)
    col = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    print(f"\n{len(rows)} architectures of examples/cnn.py, int8 (post), digits")
    print(f"Spearman(modeled FLOPs latency, measured)  = {spearmanr(col['modeled'], col['measured']).statistic:.3f}")
    print(f"Spearman(roofline latency, measured)       = {spearmanr(col['roofline'], col['measured']).statistic:.3f}")
    print(f"max |size - unpacked tensors| / unpacked    = {np.max(np.abs(col['size'] - col['unpacked']) / col['unpacked']):.4f}")
    file_gap = np.abs(col["size"] - col["file"]) / col["file"]
    print(f"|size - saved state_dict file| / file      = max {file_gap.max():.4f}, median {np.median(file_gap):.4f}")


if __name__ == "__main__":
    main()
