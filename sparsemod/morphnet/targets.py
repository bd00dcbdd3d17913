"""Resource coefficients c per op (MorphNet, Gordon et al. 2018, Sec. 3).

With A_in, A_out the alive input / output channels of an op, its cost is c·A_in·A_out
(depthwise: c·A_out), and the regularizer replaces one count by the sum of the
regularization vector R: c·(A_in·R_out + A_out·R_in).  Per target:

- ``flops``: c = 2·H_out·W_out·k_h·k_w / groups (dense: 2) — 1 MAC = 2 FLOPs;
- ``size``: c = k_h·k_w / groups (dense: 1) — weights per (input, output) channel pair;
- ``latency``: roofline on a device: if the op at full width is compute-bound,
  c = c_flops / peak FLOP/s, else c = bytes per weight · c_size / bandwidth (its weight
  traffic), the bottleneck side as in MorphNet's latency regularizer.
- ``memory`` (working memory) is not bilinear: see :mod:`sparsemod.morphnet.regularizer`.
"""

from __future__ import annotations

from sparsemod.costs.latency import Device
from sparsemod.morphnet.groups import Op

TARGETS = ("flops", "size", "latency", "memory")
WEIGHT_BYTES = 1  # int8 deployment


def flops_coefficient(op: Op) -> float:
    return 2.0 * op.out_area * op.kernel_area / (1 if op.depthwise else op.groups)


def size_coefficient(op: Op) -> float:
    return float(op.kernel_area) / (1 if op.depthwise else op.groups)


def latency_coefficient(op: Op, device: Device) -> float:
    compute = flops_coefficient(op) / device.flops
    if device.bandwidth is None:
        return compute
    full = op.out_channels if op.depthwise else op.in_channels * op.out_channels
    weights = WEIGHT_BYTES * size_coefficient(op) * full
    activations = WEIGHT_BYTES * (op.in_area * op.in_channels + op.out_area * op.out_channels)
    if compute * full >= (weights + activations) / device.bandwidth:
        return compute
    return WEIGHT_BYTES * size_coefficient(op) / device.bandwidth


def coefficient(op: Op, target: str, device: Device | None = None) -> float:
    if target == "flops":
        return flops_coefficient(op)
    if target == "size":
        return size_coefficient(op)
    if target == "latency":
        if device is None:
            raise ValueError("the latency target needs a device (flops, bandwidth)")
        return latency_coefficient(op, device)
    raise ValueError(f"target: expected one of {'|'.join(TARGETS)}, got {target!r}")
