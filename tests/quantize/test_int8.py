"""``quant_scheme = post``: PT2E int8 for microcontroller kernels, lowered to int8 modules that
compute what torchao's own converted graph computes."""

import warnings

import pytest
import torch
from torch import nn

from sparsemod.optimizer.encoding import Encoding, SobolStream
from sparsemod.problem import load_problem
from sparsemod.quantize import pt2e, quantize
from sparsemod.quantize.annotate import MicroQuantizer
from sparsemod.quantize.int8 import (
    Dequantize,
    Quantize,
    QuantizedAdd,
    QuantizedAvgPool,
    QuantizedCat,
    QuantizedConv,
    QuantizedLinear,
    QuantizedMaxPool,
)

INPUT = (1, 28, 28)


class Branches(nn.Module):
    """A residual add, a concatenation, both pools, a ReLU6 and a flatten."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.left, self.right = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.pool, self.average = nn.MaxPool2d(2), nn.AvgPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 7 * 7, 16), nn.ReLU6(), nn.Linear(16, 10))

    def forward(self, x):
        y = self.pool(self.stem(x))
        y = torch.relu(self.left(y) + y)
        return self.head(self.average(torch.cat([y, self.right(y)], 1)))


def mcu_networks(count: int) -> list[nn.Module]:
    problem = load_problem("mcu")
    networks = []
    for index, params in enumerate(SobolStream(Encoding(problem.space), 5).draw(count)):
        torch.manual_seed(index)
        networks.append(problem.build(params, INPUT, 10).eval())
    return networks


@pytest.mark.parametrize("network", [Branches().eval(), *mcu_networks(4)])
def test_lowered_int8_network_computes_what_torchaos_converted_graph_computes(network):
    calibration = [torch.rand(16, *INPUT) for _ in range(2)]
    example = torch.zeros(1, *INPUT)
    lowered = quantize(network, "post", calibration, example)
    reference = pt2e.quantize(network, MicroQuantizer(), calibration, example, batch=True)
    x = torch.rand(32, *INPUT)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(lowered(x), expected)  # bit for bit, at any batch size
        assert torch.equal(lowered(x[:1]), expected[:1])


def test_every_op_reads_and_writes_int8_with_weights_per_channel_and_symmetric():
    network = Branches().eval()
    lowered = quantize(network, "post", [torch.rand(16, *INPUT)], torch.zeros(1, *INPUT))
    kinds = [type(m) for m in lowered.modules() if m is not lowered]
    assert kinds.count(Quantize) == 1 and kinds.count(Dequantize) == 1  # the boundary only
    for kind in (QuantizedConv, QuantizedAdd, QuantizedCat, QuantizedMaxPool, QuantizedAvgPool, QuantizedLinear):
        assert kind in kinds
    assert kinds.count(QuantizedConv) == 3 and kinds.count(QuantizedLinear) == 2
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.ReLU, nn.ReLU6)) for m in lowered.modules())
    for layer in lowered.modules():
        if isinstance(layer, (QuantizedConv, QuantizedLinear)):
            assert layer.weight.dtype == torch.int8
            assert int(layer.weight.min()) >= -127 and int(layer.weight.max()) <= 127  # symmetric
            assert layer.weight_scale.shape == (layer.weight.shape[0],)  # one scale per output channel
            assert torch.count_nonzero(layer.weight_zero_point) == 0
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _, __, out: outputs.append(out))
             for m in lowered.modules() if m is not lowered and not isinstance(m, Dequantize)]
    with torch.no_grad():
        lowered(torch.rand(2, *INPUT))
    for hook in hooks:
        hook.remove()
    assert len(outputs) == len(kinds) - 1 and all(out.dtype == torch.int8 for out in outputs)


def test_fused_relu6_clamps_at_six():
    # ReLU6 is fused into the linear before it: the int8 output never exceeds 6 + one step
    network = nn.Sequential(nn.Linear(4, 8), nn.ReLU6()).eval()
    data = [torch.randn(64, 4) * 100]
    lowered = quantize(network, "post", data, data[0][:1])
    (layer,) = [m for m in lowered.modules() if isinstance(m, QuantizedLinear)]
    assert layer.clamp == (0.0, 6.0)
    with torch.no_grad():
        out = lowered(torch.randn(256, 4) * 100)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 6.0 + layer.output_scale


def test_quantizing_for_the_search_warns_of_no_deprecation():
    network = Branches().eval()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lowered = quantize(network, "post", [torch.rand(8, *INPUT)], torch.zeros(1, *INPUT))
        with torch.no_grad():
            lowered(torch.rand(4, *INPUT))
    notices = [str(w.message) for w in seen if issubclass(w.category, (DeprecationWarning, FutureWarning))
               or "deprecated" in str(w.message).lower()]
    assert notices == []


class Shapes(nn.Module):
    """A view whose shape reads the batch size, F.relu6 after a conv, a cat then a ReLU."""

    def __init__(self):
        super().__init__()
        self.conv, self.other = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(8 * 28 * 28, 10)

    def forward(self, x):
        y = torch.relu(torch.cat([nn.functional.relu6(self.conv(x)), self.other(x)], 1))
        return self.head(y.view(y.size(0), -1))


def test_batch_sized_views_relu6_and_a_cat_lower_to_int8_kernels():
    network = Shapes().eval()
    calibration = [torch.rand(16, *INPUT)]
    lowered = quantize(network, "post", calibration, torch.zeros(1, *INPUT))
    reference = pt2e.quantize(network, MicroQuantizer(), calibration, torch.zeros(1, *INPUT), batch=True)
    x = torch.rand(5, *INPUT)
    with torch.no_grad():
        assert torch.equal(lowered(x), reference(x))
    convs = {name: m for name, m in lowered.named_modules() if isinstance(m, QuantizedConv)}
    assert convs["conv"].clamp == (0.0, 6.0) and convs["other"].clamp is None
    kinds = [type(m) for m in lowered.modules()]
    assert QuantizedCat in kinds and kinds.count(Dequantize) == 1  # no op left float
    # int8, 1 B per element: the peak is the cat's, which holds both convs' outputs (4 maps of
    # 28 x 28 each) and writes its own 8; the ReLU after it as much; the view adds nothing
    from sparsemod.costs import trace_activations

    trace = trace_activations(lowered, x[:1])
    assert trace.peak() == 2 * 4 * 28 * 28 + 8 * 28 * 28
    assert trace.output_bytes["reshape"] == 0


def test_an_op_left_float_keeps_its_float_weights_in_the_model_size():
    # padding="same" around an even kernel pads one more zero on the right than on the left:
    # no symmetric conv computes it, so the quantizer leaves that conv float; its weights stay
    # float32 in the deployed model and count 4 B each
    from sparsemod.costs import model_size

    network = nn.Sequential(nn.Conv2d(1, 4, 2, padding="same"), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).eval()
    x = torch.rand(4, 1, 8, 8)
    lowered = quantize(network, "post", [x], x[:1])
    assert [type(m) for m in lowered.modules()].count(QuantizedConv) == 0
    float_conv = 4 * (16 + 4)
    int8_linear = 256 * 3 + 3 * 12 + 8
    assert model_size(lowered) == 8 + float_conv + int8_linear  # 8: the input's scale and zero point
    assert torch.allclose(lowered(x), network(x), atol=0.05)


@pytest.mark.parametrize("padding, kernel, dilation, explicit", [
    ("same", 3, 1, 1), ("same", 5, 2, 4), ("valid", 3, 1, 0), ("same", (3, 5), 1, (1, 2))])
def test_string_padding_is_the_int8_conv_of_its_explicit_padding(padding, kernel, dilation, explicit):
    """A conv with padding="same" / "valid" (the README's example builder uses "same") is
    int8 like the same conv with its zeros written out: dilation · (kernel − 1) / 2 a side."""
    torch.manual_seed(0)
    named = nn.Sequential(nn.Conv2d(1, 4, kernel, padding=padding, dilation=dilation), nn.ReLU(),
                          nn.Flatten(), nn.LazyLinear(3))
    calibration = [torch.rand(8, 1, 12, 12)]
    named(calibration[0])
    written = nn.Sequential(nn.Conv2d(1, 4, kernel, padding=explicit, dilation=dilation), nn.ReLU(),
                            nn.Flatten(), nn.Linear(named[3].in_features, 3))
    written.load_state_dict(named.state_dict())
    lowered, expected = (quantize(n.eval(), "post", calibration, calibration[0][:1]) for n in (named, written))
    assert [type(m) for m in lowered.modules()].count(QuantizedConv) == 1
    x = torch.rand(5, 1, 12, 12)
    assert torch.equal(lowered(x), expected(x))
