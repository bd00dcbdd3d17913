"""The network as it deploys (``quant_scheme``), which every cost and accuracy is measured on.

- ``post`` (default): static int8 by PT2E (:mod:`~sparsemod.quantize.pt2e`): exported with
  ``torch.export``, annotated for microcontroller kernels
  (:mod:`~sparsemod.quantize.annotate`: int8 activations per tensor, int8 weights per
  output channel, symmetric), calibrated, converted, and lowered to int8 modules
  (:mod:`~sparsemod.quantize.int8`) whose buffers and state are a device's.
- ``dynamic`` / ``both``: dynamic int8 for Linear / LSTM / GRU (``both``: static for the
  rest), on torch.ao's FX flow (:mod:`~sparsemod.quantize.dynamic`): PT2E has no dynamic
  recurrent layer.
- ``none``: float32, batch norm folded and ReLUs fused (:mod:`~sparsemod.quantize.fold`).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from sparsemod.config import QUANT_SCHEMES


def quantize(model: nn.Module, scheme: str, calibration: Iterable[torch.Tensor],
             example_input: torch.Tensor, costs_only: bool = False) -> nn.Module:
    """A deployable copy of ``model`` (eval mode); ``model`` itself is left untouched.

    ``calibration`` yields input batches for the static observers (``post`` / ``both``).
    ``costs_only``: the copy is wanted for its costs (an untrained network judged before it
    trains), not its accuracy: ``post`` observes activations by min / max instead of a
    histogram's scale search, which changes no byte of it and halves the conversion.
    """
    if scheme not in QUANT_SCHEMES:
        raise ValueError(f"quant_scheme: expected one of {'|'.join(QUANT_SCHEMES)}, got {scheme!r}")
    if scheme == "none":
        from sparsemod.quantize.fold import fold

        return fold(model)
    if scheme == "post":
        from sparsemod.quantize import int8, pt2e
        from sparsemod.quantize.annotate import ACTIVATION, RANGE_ONLY, MicroQuantizer

        quantizer = MicroQuantizer(RANGE_ONLY if costs_only else ACTIVATION)
        return int8.lower(pt2e.quantize(model, quantizer, calibration, example_input, batch=True))
    from sparsemod.quantize import dynamic

    return dynamic.quantize(model, scheme, calibration, example_input)
