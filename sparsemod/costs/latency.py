"""Latency on a device model: MorphNet's roofline (Gordon et al. 2018, Sec. 3.2).

    latency = Σ_ops max(FLOPs_op / flops, bytes_op / bandwidth)

with ``flops`` the device's peak operations per second and ``bandwidth`` its memory bytes
per second; ``bytes_op`` is what the op reads and writes (input and output activations plus
its weights).  The ops are the conv / linear layers and the ops without FLOPs that move
data: pooling, adds and concatenations (memory-bound: bytes / bandwidth).  Views and the
model's boundary quantize / dequantize are not counted (on a device the input arrives and
the logits leave in int8).  Without a bandwidth the model is compute-bound: latency =
Σ FLOPs_op / flops.  A calibrated profile of a real device is in
:mod:`sparsemod.costs.profile`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from torch import nn

    from sparsemod.costs.memory import ActivationTrace
    from sparsemod.costs.profile import DeviceProfile


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
    """Roofline seconds of one inference over the ops of either mapping; ops missing from
    ``bytes_per_op`` are compute-bound, ops missing from ``flops_per_op`` memory-bound."""
    bytes_per_op = bytes_per_op or {}
    total = 0.0
    for op in {**flops_per_op, **bytes_per_op}:
        compute = flops_per_op.get(op, 0) / device.flops
        memory = bytes_per_op.get(op, 0) / device.bandwidth if device.bandwidth else 0.0
        total += max(compute, memory)
    return total


def layer_traffic(model: "nn.Module", trace: "ActivationTrace") -> dict[str, int]:
    """Bytes each op moves in one inference: activations read and written (from a trace of
    ``model``) plus its own stored weights; views and quantize / dequantize left out."""
    from sparsemod.costs.ops import deployed_ops

    return {op.name: op.bytes for op in deployed_ops(model, trace)
            if op.kind not in ("view", "quantize", "dequantize")}


def resolve_device(device: str, flops: float, bandwidth: float | None) -> "Device | DeviceProfile":
    """[TRAIN] ``device``: empty → a roofline of ``flops`` / ``bandwidth``; a preset name; or
    the path of a calibrated profile (``.json``)."""
    from sparsemod.costs.profile import DeviceProfile

    if not device:
        return Device(flops, bandwidth)
    if device in DEVICES:
        return DEVICES[device]
    return DeviceProfile.load(device)


def modeled_latency(device: "Device | DeviceProfile", flops_per_op: Mapping[str, int],
                    deployed: "nn.Module", trace: "ActivationTrace") -> float:
    """The latency objective: the roofline of a :class:`Device` (FLOPs counted on the float
    model, bytes on the deployed one), or the prediction of a calibrated profile."""
    from sparsemod.costs.ops import deployed_ops
    from sparsemod.costs.profile import DeviceProfile

    if isinstance(device, DeviceProfile):
        return device.predict(deployed_ops(deployed, trace))
    return latency(flops_per_op, device, layer_traffic(deployed, trace))
