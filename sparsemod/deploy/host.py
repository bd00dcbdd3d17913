"""Deployable files of a quantized model: TorchScript always, ONNX where its op set allows.

ONNX uses torch's TorchScript-based exporter (``dynamo=False``).  sparsemod's static int8
modules (:mod:`sparsemod.quantize.int8`) export as ONNX's QDQ form: int8 weight
initializers behind DequantizeLinear (per output channel), QuantizeLinear /
DequantizeLinear around each float op, which ONNX runtimes fuse into int8 kernels
(QLinearConv, QLinearMatMul).  Dynamic int8 kernels (``quantized::linear_dynamic``, dynamic
LSTM, torch.ao's FX flow) have no ONNX equivalent: the error names the op that blocks the export.

The ONNX graph has one input named ``input`` and one output named ``logits``, both with a
dynamic batch axis ``batch``, so that any runtime can feed it a batch of any size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass
class ExportResult:
    torchscript: Path
    torchscript_bytes: int
    onnx: Path | None
    onnx_bytes: int | None
    onnx_error: str  # why ONNX was not written ("" when it was)


def export(model: nn.Module, example_input: torch.Tensor, stem: Path) -> ExportResult:
    """Write ``{stem}.torchscript.pt`` and, if possible, ``{stem}.onnx``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    script_path = stem.with_name(stem.name + ".torchscript.pt")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is marked deprecated in 2.13
        torch.jit.trace(model, example_input[:1]).save(str(script_path))
    onnx_path, error = stem.with_name(stem.name + ".onnx"), ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example_input[:1],), str(onnx_path), dynamo=False, autograd_inlining=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    except Exception as exc:  # the exporter raises several types; each is a reason to report
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        onnx_path.unlink(missing_ok=True)
    written = onnx_path.exists()
    return ExportResult(script_path, script_path.stat().st_size, onnx_path if written else None,
                        onnx_path.stat().st_size if written else None, error)


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path))
