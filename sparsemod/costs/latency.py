"""Latency on a device model: MorphNet's roofline (Gordon et al. 2018, Sec. 3.2).

    latency = Σ_ops max(FLOPs_op / flops, bytes_op / bandwidth)

with ``flops`` the device's peak operations per second and ``bandwidth`` its memory bytes
per second; ``bytes_op`` is what the op reads and writes (input and output activations plus
its weights).  Without a bandwidth the model is compute-bound: latency = Σ FLOPs_op / flops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from torch import nn

    from sparsemod.costs.memory import ActivationTrace


@dataclass(frozen=True)
class Device:
    flops: float  # peak operations per second
    bandwidth: float | None = None  # bytes per second


DEVICES: dict[str, Device] = {
    # MorphNet's hardware table (peak GFLOP/s, GB/s).
    "K80": Device(8740e9, 480e9),
    "P4": Device(5500e9, 192e9),
    "T4": Device(8100e9, 300e9),
    "P100": Device(9300e9, 732e9),
    "V100": Device(125000e9, 900e9),
    "TPUv2": Device(22500e9, 300e9),
    # Microcontroller classes: one MAC (2 FLOPs) per cycle with SIMD, one 32-bit word
    # moved per cycle from SRAM, at a typical clock (assumptions, not measurements).
    "cortex-m4": Device(2 * 80e6, 4 * 80e6),
    "cortex-m7": Device(2 * 216e6, 4 * 216e6),
}


def latency(flops_per_op: Mapping[str, int], device: Device,
            bytes_per_op: Mapping[str, int] | None = None) -> float:
    """Roofline seconds of one inference; ops missing from ``bytes_per_op`` are compute-bound."""
    bytes_per_op = bytes_per_op or {}
    total = 0.0
    for op, flops in flops_per_op.items():
        compute = flops / device.flops
        memory = bytes_per_op.get(op, 0) / device.bandwidth if device.bandwidth else 0.0
        total += max(compute, memory)
    return total


def layer_traffic(model: "nn.Module", trace: "ActivationTrace") -> dict[str, int]:
    """Bytes each layer moves in one inference: activations read and written (from a
    trace of ``model``) plus its own stored weights."""
    from sparsemod.costs.size import model_size

    modules = dict(model.named_modules())
    return {path: trace.input_bytes[node] + trace.output_bytes[node] + model_size(modules[path])
            for node, path in trace.module_of.items()}
