"""TensorFlow Lite for Microcontrollers: a PT2E int8 ``.tflite``, run under TFLM itself.

Conversion: litert-torch converts the float model quantized by PT2E with LiteRT's quantizer
(int8 weights per output channel, symmetric; int8 activations, input and output).  Image
inputs are NHWC at the boundary (``to_channel_last_io``): TFLM's kernels are channel-last,
and an NCHW input costs a layout op and a second copy of the image in the arena.

Check: tflite-micro's Python interpreter (TFLM's C++ runtime and reference kernels) runs
the file one input at a time; its recording allocator reports the arena it planned:

    arena = head (the activation buffers the memory planner packs: what sparsemod's
                  working memory counts, plus the converter's layout ops)
          + tail (persistent: tensor structs, quantization parameters, per-op state)
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from sparsemod.deploy.extras import require
from sparsemod.quantize import pt2e

EXPORT = "tflite"
SUFFIX = ".tflite"


@dataclass(frozen=True)
class Arena:
    """TFLM's tensor arena for one model, bytes."""

    total: int
    head: int  # non-persistent: activations (and scratch buffers) planned by the runtime
    tail: int  # persistent: the runtime's own structures


def nhwc(images: torch.Tensor) -> torch.Tensor:
    """An image batch in TFLM's layout (channels last); any other input as it is."""
    return images.permute(0, 2, 3, 1) if images.dim() == 4 else images


def _shared_pools(quantizer_module: Any) -> Any:
    """LiteRT's PT2E quantizer, with average pooling sharing its input's scale.

    TFLite's int8 AVERAGE_POOL_2D keeps its input's scale; LiteRT's quantizer leaves
    ``avg_pool2d`` unannotated, so the next op's observer sets another scale and the
    converter adds a QUANTIZE op (a copy of the pooled tensor in the arena).  Shared, as
    sparsemod's own int8 model shares them, the pool needs no requantization."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    utils = require(EXPORT, "litert_torch.quantize.pt2e_quantizer_utils")

    class SharedPools(quantizer_module.PT2EQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            for node in model.graph.nodes:
                source = node.args[0] if node.args else None
                if (node.target is torch.ops.aten.avg_pool2d.default and "quantization_annotation" not in node.meta
                        and "quantization_annotation" in getattr(source, "meta", {})):
                    shared = SharedQuantizationSpec(source)
                    node.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={source: shared}, output_qspec=shared, _annotated=True)
            utils.propagate_annotation(model)  # on to the flatten / views after a pool
            return model

    return SharedPools()


def convert(model: nn.Module, calibration: Iterable[torch.Tensor], example: torch.Tensor,
            path: Path) -> dict[str, int]:
    """Write ``path``: ``model`` quantized by PT2E and converted to a TFLite flatbuffer;
    return the arena TFLM plans for it (``arena`` = ``activations`` + ``runtime``)."""
    litert_torch = require(EXPORT, "litert_torch")
    quantizer_module = require(EXPORT, "litert_torch.quantize.pt2e_quantizer")
    config_module = require(EXPORT, "litert_torch.quantize.quant_config")
    quantizer = _shared_pools(quantizer_module).set_global(
        quantizer_module.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    if example.dim() == 4:
        model = litert_torch.to_channel_last_io(model.eval(), args=[0])
    # litert-torch folds the quantize / dequantize pairs itself
    quantized = pt2e.quantize(model, quantizer, (nhwc(x) for x in calibration),
                              nhwc(example), fold_quantize=False)
    edge = litert_torch.convert(quantized, (nhwc(example[:1]),),
                                quant_config=config_module.QuantConfig(pt2e_quantizer=quantizer))
    path.parent.mkdir(parents=True, exist_ok=True)
    edge.export(str(path))
    planned = arena(path)
    return {"arena": planned.total, "activations": planned.head, "runtime": planned.tail}


def weight_bytes(path: Path) -> int:
    """Bytes of the flatbuffer's constant tensors, counted as :mod:`sparsemod.costs.size`
    counts a model: the data, plus 4 B per scale and 4 B per zero point of the int8 tensors
    (the file stores zero points in 64 bit; TFLM keeps 32).  An int32 bias's scales are
    implied by its weight's and input's, which the kernels use.  The rest of the file is the
    graph's description."""
    schema = require(EXPORT, "tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    total = 0
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        for position in range(graph.TensorsLength()):
            tensor = graph.Tensors(position)
            data = model.Buffers(tensor.Buffer()).DataLength() if tensor.Buffer() else 0
            if data:
                quantization = tensor.Quantization()
                int8 = tensor.Type() == schema.TensorType.INT8 and quantization is not None
                total += data + (8 * quantization.ScaleLength() if int8 else 0)
    return total


def _c_stderr(call: Callable[[], None]) -> str:
    """What ``call`` writes to C's stderr (TFLM's MicroPrintf, where it reports allocations)."""
    libc = ctypes.CDLL(None)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            call()
        finally:
            libc.fflush(None)
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return captured.read().decode(errors="replace")


def _interpreter(path: Path, arena_size: int | None = None) -> Any:
    runtime = require(EXPORT, "tflite_micro.python.tflite_micro.runtime")
    return runtime.Interpreter.from_file(str(path), arena_size=arena_size)


def arena(path: Path) -> Arena:
    """The arena TFLM allocates for the model at ``path`` (its recording allocator's totals)."""
    interpreter = _interpreter(path)
    text = _c_stderr(interpreter.print_allocations)
    found = {key: int(value) for key, value in
             re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    return Arena(found["total"], found["head"], found["tail"])


def accuracy(path: Path, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy of the ``.tflite`` under TFLM, images fed one by one in int8."""
    interpreter = _interpreter(path)
    details = interpreter.get_input_details(0)
    scale = float(details["quantization_parameters"]["scales"][0])
    zero = int(details["quantization_parameters"]["zero_points"][0])
    correct = total = 0
    for inputs, labels in batches:
        quantized = np.clip(np.round(nhwc(inputs).numpy() / scale) + zero, -128, 127).astype(np.int8)
        for sample, label in zip(quantized, labels.tolist()):
            interpreter.set_input(sample[None], 0)
            interpreter.invoke()
            # the int8 logits' argmax is the float logits' (one scale, one zero point)
            correct += int(int(np.argmax(interpreter.get_output(0))) == label)
            total += 1
    return correct / max(total, 1)
