"""Costs of a deployed network, each measured on the (pruned, quantized) model itself.

- :mod:`~sparsemod.costs.size`: model size, bytes of the stored parameters.
- :mod:`~sparsemod.costs.memory`: working memory, peak bytes of live activations.
- :mod:`~sparsemod.costs.flops`: FLOPs per layer (MAC = 2 FLOPs).
- :mod:`~sparsemod.costs.latency`: roofline latency on a device model.
- :mod:`~sparsemod.costs.arena`: the tensor arena TensorFlow Lite Micro allocates.
- :mod:`~sparsemod.costs.ops`: the deployed network's ops (kind, MACs, bytes).
- :mod:`~sparsemod.costs.profile`: a calibrated per-op-kind latency model of a real device.
"""

from sparsemod.costs.arena import tflm_arena
from sparsemod.costs.flops import flops_per_layer
from sparsemod.costs.latency import DEVICES, Device, latency, layer_traffic, modeled_latency, resolve_device
from sparsemod.costs.memory import ActivationTrace, trace_activations, working_memory
from sparsemod.costs.ops import DeployedOp, deployed_ops
from sparsemod.costs.profile import DeviceProfile, KindModel, ProfileError
from sparsemod.costs.size import model_size

__all__ = [
    "ActivationTrace", "DEVICES", "DeployedOp", "Device", "DeviceProfile", "KindModel", "ProfileError",
    "deployed_ops", "flops_per_layer", "latency", "layer_traffic", "model_size", "modeled_latency",
    "resolve_device", "tflm_arena", "trace_activations", "working_memory",
]
