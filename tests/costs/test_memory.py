"""Working memory on hand-computed networks (expected bytes written out by hand)."""

import torch
from test_size import Recurrent
from torch import nn

from sparsemod.costs import working_memory
from sparsemod.quantize import quantize


def chain() -> nn.Module:
    # input 1x8x8 -> conv 4x8x8 -> relu (in place) -> pool 4x4x4 -> flatten -> linear 10
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10)).eval()


def test_float_chain_is_max_of_input_plus_output():
    # conv: input 64 x 4 B + output 256 x 4 B = 1280; in-place ReLU adds nothing;
    # pool: 1024 + 256 = 1280; linear: 256 + 40 = 296.
    assert working_memory(chain(), torch.zeros(1, 1, 8, 8)) == 1280


def test_in_place_relu_adds_no_buffer():
    model = chain()
    model[1] = nn.ReLU(inplace=False)  # now conv output and relu output coexist: 1024 + 1024
    assert working_memory(model, torch.zeros(1, 1, 8, 8)) == 2048


def test_int8_chain_counts_one_byte_per_element():
    model = chain()
    data = [torch.randn(8, 1, 8, 8) for _ in range(2)]
    deployed = quantize(model, "post", data, data[0][:1])
    # conv+relu fused: int8 input 64 B + output 256 B = 320 (the float input arrives as int8)
    assert working_memory(deployed, torch.zeros(1, 1, 8, 8)) == 320


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.relu = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()

    def forward(self, x):
        a = self.conv1(x)
        return a + self.conv2(self.relu(a))


def test_residual_keeps_the_skip_tensor_alive():
    # every tensor is 2x4x4 floats = 128 B.  conv1: x + a = 256; relu: a + r = 256;
    # conv2: a (needed by the add) + r + b = 384; add: a + b + sum = 384.
    assert working_memory(Residual().eval(), torch.zeros(1, 2, 4, 4)) == 384


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.left, self.right = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.left(x), self.right(x)], dim=1)


def test_concat_counts_every_branch_until_joined():
    # left: x + a = 256; right: x + a + b = 384; cat: a + b + c (256 B) = 512.
    assert working_memory(Concat().eval(), torch.zeros(1, 2, 4, 4)) == 512


class Reorderable(nn.Module):
    """Two independent branches: a big one and a small one that is consumed late."""

    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(1, 4, 1)
        self.big_up, self.big_down = nn.Conv2d(1, 8, 1), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        small = self.small(x)  # written first, so it is held while the big branch runs
        big = self.big_down(self.big_up(x))
        return big + small


def test_best_order_runs_the_big_branch_before_making_the_small_tensor():
    from sparsemod.costs.memory import trace_activations

    trace = trace_activations(Reorderable().eval(), torch.zeros(1, 1, 4, 4))
    # 4x4 float maps: x 64 B, small 256, up 512, down 256, sum 256.
    # Written: small (x + s = 320), big_up (x + s + up = 832), big_down (s + up + down = 1024),
    # add (s + down + sum = 768): 1024.
    assert trace.peak() == 1024
    # Best: big_up (x + up = 576), big_down (x + up + down = 832), small (x + down + s = 576),
    # add (768): 832.
    assert trace.best_order_peak() == 832


def test_recurrent_layer_holds_one_input_step_its_state_and_its_output():
    # LSTM(4 -> 8) over 5 steps, float: one input step 4 x 4 B = 16, output 5 x 8 x 4 = 160,
    # hidden and cell state 8 x 4 each = 64: 240.  The head then reads the last step (a view
    # of the output) while writing 3 x 4 B: 160 + 64 + 12 = 236.
    assert working_memory(Recurrent().eval(), torch.zeros(1, 5, 4)) == 240
    deployed = quantize(Recurrent().eval(), "dynamic", [], torch.zeros(1, 5, 4))
    assert working_memory(deployed, torch.zeros(1, 5, 4)) == 240  # dynamic int8: float activations
