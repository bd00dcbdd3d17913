"""FLOPs of one inference, per layer, counted by ``torch.utils.flop_counter``.

One multiply-accumulate (MAC) is 2 FLOPs: a k_h x k_w convolution from C_in/groups to C_out
channels on an H_out x W_out output costs 2·C_out·H_out·W_out·(C_in/groups)·k_h·k_w; a dense
layer costs 2·in·out.  Element-wise ops (activations, pooling, bias adds) are not counted,
as in MorphNet's FLOP regularizer.  Counted on the float model (quantized kernels are not
instrumented); pruning and quantization keep the layer names, so the counts map onto the
deployed model's layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def flops_per_layer(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """FLOPs of a batch-1 forward pass for each innermost module that does arithmetic."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_input[:1])
    finally:
        model.train(was_training)
    root = type(model).__name__
    counts = {
        name: sum(per_op.values())
        for name, per_op in counter.get_flop_counts().items()
        if name != "Global" and sum(per_op.values()) > 0
    }
    # A module's count includes its children's: keep the innermost ones, named by their
    # path in the model ("" for the model itself).
    leaves = {name: n for name, n in counts.items()
              if not any(other.startswith(name + ".") for other in counts)}
    return {"" if name == root else name.removeprefix(root + "."): n for name, n in leaves.items()}
