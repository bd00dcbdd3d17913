import torch
from torch import nn

from sparsemod.costs import model_size
from sparsemod.quantize import quantize


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)).eval()


def test_float_model_is_four_bytes_per_parameter():
    # conv 36 + 4, linear 1440 + 10 parameters, float32
    assert model_size(small_cnn()) == 4 * (36 + 4 + 1440 + 10)


def test_batchnorm_counter_is_not_deployed():
    bn = nn.BatchNorm2d(3)
    assert model_size(bn) == 4 * 4 * 3  # weight, bias, running mean, running var


def test_int8_model_by_hand():
    data = [torch.randn(8, 1, 8, 8)]
    deployed = quantize(small_cnn(), "post", data, data[0][:1])
    # input quantizer: scale + zero point = 8
    # conv: 36 int8 + 4 per-channel scales x 4 + 4 zero points x 4 + 4 bias x 4
    #       + output scale and zero point 8 = 92
    # linear: 1440 int8 + 10 x 4 + 10 x 4 + 10 bias x 4 + 8 = 1568
    assert model_size(deployed) == 8 + 92 + 1568


def test_depthwise_net_by_hand_with_batch_norm_folded():
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Flatten(), nn.Linear(6 * 16, 5)).eval()
    data = [torch.randn(4, 3, 4, 4)]
    deployed = quantize(model, "post", data, data[0][:1])
    # per output channel: float32 scale, int32 zero point, float32 bias (batch norm folded in)
    conv = 6 * 3 * 9 + 6 * 12 + 8
    depthwise = 6 * 9 + 6 * 12 + 8
    linear = 96 * 5 + 5 * 12 + 8
    assert model_size(deployed) == 8 + conv + depthwise + linear
    assert model_size(deployed) < model_size(model) / 2


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(4, 8, batch_first=True), nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_dynamic_lstm_by_hand_and_equal_to_unpacked_tensors():
    deployed = quantize(Recurrent().eval(), "dynamic", [], torch.zeros(1, 5, 4))
    # LSTM: w_ih 32x4 int8 + w_hh 32x8 int8, each with a per-tensor scale and zero point (8),
    #       biases 2 x 32 float32 (held by the packed weights too: stored once);
    # head: 3x8 int8 + 8, bias 3 x 4, module scale and zero point 8.
    by_hand = (128 + 8) + (256 + 8) + 2 * 32 * 4 + (24 + 8) + 12 + 8
    assert model_size(deployed) == by_hand
    unpacked = 0
    for layer in deployed.lstm._all_weight_values:
        for packed in layer.param.__getstate__()[0][4]:  # w_ih, w_hh packed with their bias
            weight, bias = torch.ops.quantized.linear_unpack(packed)
            unpacked += weight.int_repr().nbytes + 8 + bias.nbytes
    head_weight, head_bias = deployed.head._packed_params._weight_bias()
    unpacked += head_weight.int_repr().nbytes + 8 + head_bias.nbytes + 8
    assert model_size(deployed) == unpacked


def test_two_layer_dynamic_lstm_by_hand_every_call():
    """Unpacked weights are temporaries: a freed one's address, reused by the next, must not
    pass for a shared tensor (a 2-layer LSTM lost a 22x88 weight on some calls)."""
    model = Recurrent()
    model.lstm = nn.LSTM(8, 22, num_layers=2, batch_first=True)
    model.head = nn.Identity()
    deployed = quantize(model.eval(), "dynamic", [], torch.zeros(1, 5, 8))
    # per layer: w_ih (88 x in) and w_hh (88 x 22) int8 with a per-tensor scale and zero point
    # (8 B each), and both biases (2 x 88 float32, held by the packed weights too: stored once)
    by_hand = sum(88 * inputs + 8 + 88 * 22 + 8 + 2 * 88 * 4 for inputs in (8, 22))
    assert [model_size(deployed) for _ in range(5)] == [by_hand] * 5
