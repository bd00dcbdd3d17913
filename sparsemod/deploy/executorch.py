"""ExecuTorch: a PT2E int8 ``.pte`` lowered to XNNPACK, run under ExecuTorch's own runtime.

Conversion: ``torch.export`` → PT2E with XNNPACK's quantizer (int8 weights per output
channel, symmetric; int8 activations) → ``to_edge_transform_and_lower`` with the XNNPACK
partitioner → ``to_executorch``: the program a host or Cortex-A device runs.

Check: ``executorch.runtime`` loads the file and runs it on the test split.  Its memory
plan (the execution plan's ``non_const_buffer_sizes``) holds the tensors *between*
delegate calls: XNNPACK allocates its own activations inside the delegate at load time, so
this figure is not comparable with working memory.  ExecuTorch's Cortex-M backend (CMSIS-NN
kernels, whose plan holds every activation) imports ``tosa_serializer``, which PyPI does
not offer; TFLite Micro (``export = tflite``) is the arena check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from sparsemod.deploy.extras import require
from sparsemod.quantize import pt2e

EXPORT = "executorch"
SUFFIX = ".pte"


def convert(model: nn.Module, calibration: Iterable[torch.Tensor], example: torch.Tensor,
            path: Path) -> dict[str, int]:
    """Write ``path``: ``model`` quantized by PT2E and lowered to XNNPACK; return its memory
    plan's bytes (``planned``: tensors between delegate calls, see the module's note)."""
    quantizer_module = require(EXPORT, "executorch.backends.xnnpack.quantizer.xnnpack_quantizer")
    partitioner_module = require(EXPORT, "executorch.backends.xnnpack.partition.xnnpack_partitioner")
    exir = require(EXPORT, "executorch.exir")
    quantizer = quantizer_module.XNNPACKQuantizer().set_global(
        quantizer_module.get_symmetric_quantization_config(is_per_channel=True))
    quantized = pt2e.quantize(model, quantizer, calibration, example)
    program = exir.to_edge_transform_and_lower(
        torch.export.export(quantized, (example[:1],)),
        partitioner=[partitioner_module.XnnpackPartitioner()]).to_executorch()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(program.buffer)
    return {"planned": sum(program.executorch_program.execution_plan[0].non_const_buffer_sizes)}


def weight_bytes(path: Path) -> None:
    """XNNPACK's delegate blob holds the weights repacked for its kernels, beside the graph:
    the file does not separate them (its size is reported)."""
    return None


def accuracy(path: Path, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy of the ``.pte`` under ExecuTorch's runtime, one input at a time."""
    runtime = require(EXPORT, "executorch.runtime")
    method = runtime.Runtime.get().load_program(str(path)).load_method("forward")
    correct = total = 0
    for inputs, labels in batches:
        for sample, label in zip(inputs.split(1), labels.tolist()):
            correct += int(int(method.execute([sample])[0].argmax()) == label)
            total += 1
    return correct / max(total, 1)
