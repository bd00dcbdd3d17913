"""``quant_scheme = none``: the float network as it deploys, batch norm folded, ReLUs fused."""

import torch
from torch import nn

from sparsemod.costs import model_size, trace_activations
from sparsemod.quantize import quantize


def test_batch_norm_is_folded_and_relus_fused_without_changing_the_function():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 36, 8), nn.ReLU(), nn.Linear(8, 3))
    model(torch.randn(16, 1, 8, 8))  # running statistics away from their initial values
    model.eval()
    deployed = quantize(model, "none", [], torch.zeros(1, 1, 8, 8))
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(deployed(x), model(x), atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    # float32: conv 36 + 4 bias (the folded batch norm's shift), linears 1152 + 8 and 24 + 3
    assert model_size(deployed) == 4 * (36 + 4 + 1152 + 8 + 24 + 3)
    # conv+ReLU one buffer (4 x 6 x 6 float32), then the linears' outputs: no ReLU buffers
    trace = trace_activations(deployed, x[:1])
    assert sorted(trace.bytes_of_buffer.values()) == sorted([64 * 4, 144 * 4, 8 * 4, 3 * 4])
