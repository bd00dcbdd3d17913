"""FLOPs of one inference, per layer, counted by ``torch.utils.flop_counter``.

One multiply-accumulate (MAC) is 2 FLOPs: a k_h x k_w convolution from C_in/groups to C_out
channels on an H_out x W_out output costs 2·C_out·H_out·W_out·(C_in/groups)·k_h·k_w; a dense
layer costs 2·in·out; a recurrent layer costs, per time step, 2·G·H·(I + H) per layer and
direction (G = 4 gates for LSTM, 3 for GRU, 1 for RNN), times the steps.  Element-wise ops (activations, pooling, bias adds) are not counted,
as in MorphNet's FLOP regularizer.  Counted on the float model (quantized kernels are not
instrumented); pruning and quantization keep the layer names, so the counts map onto the
deployed model's layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


def recurrent_flops(module: nn.RNNBase, steps: int) -> int:
    """2·G·H·(I + H) per step, layer and direction (the gate matrix products)."""
    gates = _GATES[type(module)]
    directions = 2 if module.bidirectional else 1
    total, inputs = 0, module.input_size
    for _ in range(module.num_layers):
        total += directions * 2 * gates * module.hidden_size * (inputs + module.hidden_size)
        inputs = module.hidden_size * directions
    return total * steps


def flops_per_layer(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """FLOPs of a batch-1 forward pass for each innermost module that does arithmetic."""
    was_training = model.training
    model.eval()
    # torch's fused CPU LSTM kernel is not instrumented: recurrent layers are counted by formula
    names = {module: name for name, module in model.named_modules()}
    recurrent: dict[str, int] = {}

    def count(module, inputs, output):
        x = inputs[0]
        steps = x.shape[0 if not module.batch_first else 1] if x.dim() == 3 else x.shape[0]
        recurrent[names[module]] = recurrent_flops(module, steps)

    hooks = [m.register_forward_hook(count) for m in model.modules() if type(m) in _GATES]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_input[:1])
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
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
    counted = {"" if name == root else name.removeprefix(root + "."): n for name, n in leaves.items()}
    return {**counted, **recurrent}
