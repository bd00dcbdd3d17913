"""Costs of a deployed network, each measured on the (pruned, quantized) model itself.

- :mod:`~sparsemod.costs.size`: model size, bytes of the stored parameters.
- :mod:`~sparsemod.costs.memory`: working memory, peak bytes of live activations.
- :mod:`~sparsemod.costs.flops`: FLOPs per layer (MAC = 2 FLOPs).
- :mod:`~sparsemod.costs.latency`: roofline latency on a device model.
"""

from sparsemod.costs.flops import flops_per_layer
from sparsemod.costs.latency import DEVICES, Device, latency, layer_traffic
from sparsemod.costs.memory import ActivationTrace, trace_activations, working_memory
from sparsemod.costs.size import model_size

__all__ = [
    "ActivationTrace", "DEVICES", "Device", "flops_per_layer", "latency", "layer_traffic", "model_size",
    "trace_activations", "working_memory",
]
