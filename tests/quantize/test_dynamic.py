"""``quant_scheme = dynamic``: why it stays on torch.ao's FX flow (PT2E leaves an LSTM float;
the FX flow's int8 LSTM is counted in tests/costs/test_size.py)."""

import torch
from torch import nn


class Tagger(nn.Module):
    """Logits per time step of an LSTM (a sequence tagger)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6)
        self.tag = nn.Linear(6, 2)

    def forward(self, x):
        return self.tag(self.lstm(x)[0])


def test_pt2e_dynamic_quantization_leaves_the_lstm_float():
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    model, x = Tagger().eval(), torch.randn(5, 2, 3)
    exported = torch.export.export(model, (x,)).module()
    quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config(is_dynamic=True))
    converted = convert_pt2e(prepare_pt2e(exported, quantizer))
    (lstm,) = [n for n in converted.graph.nodes if n.target is torch.ops.aten.lstm.input]
    (linear,) = [n for n in converted.graph.nodes if n.target is torch.ops.aten.linear.default]
    quantized = {n for n in converted.graph.nodes if "quantize" in str(n.target)}
    assert set(linear.all_input_nodes) & quantized  # the tagger: int8 weight, dynamic activations
    assert not set(lstm.all_input_nodes) & quantized  # the LSTM: float weights, float in and out
