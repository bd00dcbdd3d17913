"""Static int8 by PyTorch 2 Export quantization (torchao's PT2E), the flow the runtimes take.

``torch.export`` traces the float model at batch 1 (the deployed shape), the runtime's own
quantizer annotates it (int8 weights per output channel, symmetric: CMSIS-NN's layout;
int8 activations per tensor), observers see the calibration images one at a time, and
``convert_pt2e`` leaves quantize / dequantize pairs around float ops that each converter
folds into int8 kernels.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import torch
from torch import nn


def quantize(model: nn.Module, quantizer: Any, calibration: Iterable[torch.Tensor],
             example: torch.Tensor, fold_quantize: bool = True) -> torch.fx.GraphModule:
    """A PT2E int8 copy of ``model``; ``calibration`` yields input batches of any size."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    exported = torch.export.export(copy.deepcopy(model).eval(), (example[:1],)).module()
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for batch in calibration:
            for sample in batch.split(1):  # the export is specialised to batch 1
                prepared(sample)
    quantized = move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=fold_quantize))
    # an exported module refuses .eval(); torchao's call switched its dropout / batch-norm
    # ops, and the flag tells the converters so
    quantized.training = False
    return quantized
