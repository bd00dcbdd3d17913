"""Model size: bytes of the parameters as the deployed model stores them.

Counted from the model's own ``state_dict`` (the int8 modules' buffers for ``post``, the
packed parameters of the dynamic kernels; not a formula on the float net), every tensor at
its deployed dtype:

- quantized tensor: 1 B per element (int8 / uint8), plus 4 B per scale (float32) and 4 B
  per zero point (int32), per channel or per tensor;
- any other tensor: its element size, with float64 stored as float32 and int64 as int32
  (scales / zero points kept by torch in 64 bit are 32 bit on a device);
- batch-norm's ``num_batches_tracked`` is a training counter and is not deployed;
- a tensor held twice (a dynamic LSTM's packed weights keep references to its biases) is
  stored once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_DEPLOYED_ITEMSIZE = {torch.float64: 4, torch.int64: 4}


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Deployed bytes of one tensor (see module docstring)."""
    if tensor.is_quantized:
        if tensor.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric,
                                torch.per_channel_affine_float_qparams):
            qparams = tensor.q_per_channel_scales().numel() * 2
        else:
            qparams = 2
        return tensor.numel() * tensor.element_size() + 4 * qparams
    return tensor.numel() * _DEPLOYED_ITEMSIZE.get(tensor.dtype, tensor.element_size())


def stored_tensors(value: Any) -> list[torch.Tensor]:
    """Tensors inside a state-dict value: tensors, tuples of them, packed ScriptObjects."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in stored_tensors(item)]
    if isinstance(value, torch.ScriptObject) and hasattr(value, "__getstate__"):
        return stored_tensors(value.__getstate__())
    return []


def model_size(model: nn.Module) -> int:
    """Bytes of ``model``'s stored parameters at deployed dtypes."""
    # Every tensor is held until all are counted: a packed weight's unpacked tensors are
    # temporaries, and a freed one's address reused by the next would pass for a shared tensor.
    tensors = [tensor for key, value in model.state_dict().items() if not key.endswith("num_batches_tracked")
               for tensor in stored_tensors(value)]
    seen: set[tuple] = set()
    total = 0
    for tensor in tensors:
        identity = (tensor.data_ptr(), tensor.numel(), tensor.dtype)
        if identity not in seen:
            seen.add(identity)
            total += tensor_bytes(tensor)
    return total
