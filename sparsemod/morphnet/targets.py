"""Per-op resource costs and regularization terms (MorphNet, Gordon et al. 2018, Sec. 3;
morph-net's ``resource_function``).

With A_in, A_out the alive input / output channels of a conv / linear op and R_in, R_out
the sums of their regularization vectors, a *bilinear* quantity with coefficient c is

    cost  = c·A_in·A_out                      (depthwise: c·A_out)
    term  = c·(A_in·R_out + A_out·R_in)       (depthwise: c·(R_in + R_out))

(morph-net's depthwise rule: R_in = R_out = R for a regularized group, so 2c·R, the same
ratio of term to cost as a dense op; R_in = 0 when the input, e.g. the image, has no
regularizer).  Per target:

- ``flops``: c = 2·H_out·W_out·k_h·k_w (1 MAC = 2 FLOPs; dense layer: 2);
- ``size``: c = k_h·k_w (weights per input-output channel pair; dense layer: 1);
- ``latency``: morph-net's roofline per op, at the deployed 1 B per element,

      compute = flops cost / peak FLOP/s
      memory  = (H_in·W_in·A_in + weights + H_out·W_out·A_out) B / bandwidth
      cost    = max(compute, memory)
      term    = the memory term (H_in·W_in·R_in + size term + H_out·W_out·R_out) / bandwidth
                when memory > compute at the current alive counts, else flops term / peak;

  without a bandwidth the op is compute-bound.  On a calibrated
  :class:`~sparsemod.costs.profile.DeviceProfile` the op's kind model is used instead:
  cost = fixed + per_mac·MACs + per_byte·bytes, term = per_mac·(flops term / 2) +
  per_byte·(memory term), with the bytes above;
- ``memory`` (working memory) is a max over ops, not a sum: see
  :mod:`sparsemod.morphnet.regularizer`.
"""

from __future__ import annotations

import torch

from sparsemod.costs.latency import Device
from sparsemod.costs.profile import DeviceProfile
from sparsemod.morphnet.groups import Op

TARGETS = ("flops", "size", "latency", "memory")
BYTES_PER_ELEMENT = 1  # int8 deployment: activations and weights


def flops_coefficient(op: Op) -> float:
    return 2.0 * op.out_area * op.kernel_area / (1 if op.depthwise else op.groups)


def size_coefficient(op: Op) -> float:
    return float(op.kernel_area) / (1 if op.depthwise else op.groups)


def bilinear_cost(op: Op, c: float, a_in: float, a_out: float) -> float:
    return c * a_out if op.depthwise else c * a_in * a_out


def bilinear_term(op: Op, c: float, a_in: float, r_in: torch.Tensor, a_out: float,
                  r_out: torch.Tensor) -> torch.Tensor:
    return c * (r_in + r_out) if op.depthwise else c * (a_in * r_out + a_out * r_in)


def _memory_cost(op: Op, a_in: float, a_out: float) -> float:
    """Bytes the op reads and writes: input, weights, output."""
    weights = bilinear_cost(op, size_coefficient(op), a_in, a_out)
    return BYTES_PER_ELEMENT * (op.in_area * a_in + weights + op.out_area * a_out)


def _memory_term(op: Op, a_in: float, r_in: torch.Tensor, a_out: float, r_out: torch.Tensor) -> torch.Tensor:
    weights = bilinear_term(op, size_coefficient(op), a_in, r_in, a_out, r_out)
    return BYTES_PER_ELEMENT * (op.in_area * r_in + weights + op.out_area * r_out)


def _kind(op: Op) -> str:
    return "depthwise" if op.depthwise else "linear" if op.linear else "conv"


def op_cost(op: Op, target: str, a_in: float, a_out: float,
            device: Device | DeviceProfile | None = None) -> float:
    """The op's cost at the given alive counts (``flops``, ``size`` or ``latency``)."""
    if target == "flops":
        return bilinear_cost(op, flops_coefficient(op), a_in, a_out)
    if target == "size":
        return bilinear_cost(op, size_coefficient(op), a_in, a_out)
    assert device is not None, "ResourceRegularizer refuses the latency target without a device"
    if isinstance(device, DeviceProfile):
        model = device.model(_kind(op))
        macs = bilinear_cost(op, flops_coefficient(op), a_in, a_out) / 2
        return model.predict(macs, _memory_cost(op, a_in, a_out))
    compute = bilinear_cost(op, flops_coefficient(op), a_in, a_out) / device.flops
    if device.bandwidth is None:
        return compute
    return max(compute, _memory_cost(op, a_in, a_out) / device.bandwidth)


def op_term(op: Op, target: str, a_in: float, r_in: torch.Tensor, a_out: float, r_out: torch.Tensor,
            device: Device | DeviceProfile | None = None) -> torch.Tensor:
    """The op's regularization term (see the module docstring)."""
    if target == "flops":
        return bilinear_term(op, flops_coefficient(op), a_in, r_in, a_out, r_out)
    if target == "size":
        return bilinear_term(op, size_coefficient(op), a_in, r_in, a_out, r_out)
    assert device is not None, "ResourceRegularizer refuses the latency target without a device"
    if isinstance(device, DeviceProfile):
        model = device.model(_kind(op))
        return (model.per_mac * bilinear_term(op, flops_coefficient(op), a_in, r_in, a_out, r_out) / 2
                + model.per_byte * _memory_term(op, a_in, r_in, a_out, r_out))
    compute = bilinear_cost(op, flops_coefficient(op), a_in, a_out) / device.flops
    if device.bandwidth is not None and _memory_cost(op, a_in, a_out) / device.bandwidth > compute:
        return _memory_term(op, a_in, r_in, a_out, r_out) / device.bandwidth
    return bilinear_term(op, flops_coefficient(op), a_in, r_in, a_out, r_out) / device.flops
